"""Clinical-trial eligibility screening on the generative families: (trial criteria, patient
record) in, the decision written out (data.positive_label / data.negative_label).

The same rows and splits as EligibilityTask; the criteria fill the prompt whole and the record is
the part cut to fit model.max_length. Each model (base: adapter disabled; tuned) is read twice:

- its generated decision, parsed from the output's first word (src/tasks/eligibility/parsing.py): accuracy,
  precision, recall and f1. An output naming neither label counts as the wrong decision and,
  apart, in unparseable_rate.
- a score per pair for ranking: log P(positive completion | prompt) - log P(negative completion |
  prompt), both completions scored teacher-forced. As in EligibilityTask, the operating threshold
  reaches task.target_recall on the validation slice; recall_at_threshold, wss_at_target (the
  main metric) and the ranking metrics auroc and wss95 come from this score.

So, unlike EligibilityTask, recall (the generated decisions') and recall_at_threshold (the
score's) are different numbers.
"""

from __future__ import annotations

import numpy as np

from src.errors import MedtuneError
from src.generation import completion_log_likelihoods
from src.model_card import CardText
from src.tasks.eligibility.card import ELIGIBILITY_CARD
from src.tasks.eligibility.data import PACKAGE, EligibilityRows, eligibility_lineage, load_eligibility_rows
from src.tasks.eligibility.parsing import parse_decision
from src.tasks.eligibility.reference import eligibility_reference
from src.tasks.eligibility.screening import (
    decision_metrics,
    paired_intervals,
    screening_at_target,
    screening_metrics,
    threshold_for_recall,
)
from src.tasks.generative import GenerativeData, GenerativeTask


class GenerativeEligibilityTask(GenerativeTask):
    package = PACKAGE

    def __init__(self, cfg):
        super().__init__(cfg)
        self.scores: dict[str, dict[str, np.ndarray]] = {}  # base / tuned -> val / eval pair scores
        self.thresholds: dict[str, float] = {}  # base / tuned operating thresholds

    def read_rows(self) -> EligibilityRows:
        return load_eligibility_rows(self.cfg.data, self.cfg.paths.cache_dir)

    def note_text(self, row: dict) -> str:
        return row["patient"]

    def prompt_fields(self, row: dict) -> dict[str, str]:
        data = self.cfg.data
        return {"criteria": row["criteria"], "positive": data.positive_label, "negative": data.negative_label}

    def completion(self, row: dict) -> str:
        return self.cfg.data.positive_label if row["label"] else self.cfg.data.negative_label

    # -- label scores ----------------------------------------------------------------------------
    def _pair_scores(
        self, model, prompts: list, desc: str, batch_size: int | None = None, device=None, progress=True
    ) -> np.ndarray:
        """log P(positive completion) - log P(negative completion) per prompt, teacher-forced, in
        batches of batch_size (prompt, completion) rows (None: loop.eval_batch_size), on device
        (None: self.device)."""
        completions = [self.encoder.target_ids(self.completion({"label": y}))[0] for y in (True, False)]
        rows = [{"prompt_ids": prompt, "target_ids": target} for prompt in prompts for target in completions]
        batch_size = batch_size or self.cfg.loop.eval_batch_size
        log_p = completion_log_likelihoods(
            model, rows, self.cfg.model.family, batch_size, device or self.device, desc, progress
        ).reshape(-1, 2)
        return log_p[:, 0] - log_p[:, 1]

    def _score_pairs(self, model, data: GenerativeData, name: str) -> None:
        """Pair scores of the val and eval splits, and the operating threshold from val."""
        self.scores[name] = {
            split: self._pair_scores(
                model, getattr(data, split)["prompt_ids"], f"{name.capitalize()} model: {split} label scores"
            )
            for split in ("val", "eval")
        }
        val_labels = [row["label"] for row in data.rows.val]
        self.thresholds[name] = threshold_for_recall(
            self.scores[name]["val"], val_labels, self.cfg.task.target_recall
        )

    def _with_ranking(self, decided: dict[str, float], name: str, rows: list[dict], split: str) -> dict:
        """The score's screening metrics, with the generated decisions' in place of its own."""
        labels = [row["label"] for row in rows]
        ranked = screening_metrics(
            self.scores[name][split], labels, self.thresholds[name], self.cfg.task.target_recall
        )
        return {**ranked, **decided}

    def epoch_metrics(self, model, outputs: list[dict]) -> dict[str, float]:
        """The generated decisions' metrics and the score's (wss_at_target, the main metric) on the
        same validation examples, the threshold chosen on them as evaluate_tuned chooses it."""
        decided = super().epoch_metrics(model, outputs)
        rows, prompts = self._val
        n = min(self.cfg.loop.val_generations, len(rows))
        labels = [row["label"] for row in rows[:n]]
        if not any(labels):  # no eligible pair among them: no threshold reaches a recall
            return {"wss_at_target": float("nan"), **decided}
        scores = self._pair_scores(model, prompts.select(range(n))["prompt_ids"], "Validation label scores")
        return {**screening_at_target(scores, labels, self.cfg.task.target_recall), **decided}

    # -- evaluation ------------------------------------------------------------------------------
    def evaluate_base(self, data: GenerativeData) -> dict[str, float]:
        model = self._peft_model()
        with model.disable_adapter():
            self._score_pairs(model, data, "base")
        return self._with_ranking(super().evaluate_base(data), "base", data.rows.eval, "eval")

    def evaluate_tuned(self, model, data: GenerativeData) -> dict[str, float]:
        with self.merged(model):  # the scores src.predict's merged model computes, to the last bit
            self._score_pairs(model, data, "tuned")
        metrics = super().evaluate_tuned(model, data)
        self.validation = self._with_ranking(self.validation, "tuned", data.rows.val, "val")
        return self._with_ranking(metrics, "tuned", data.rows.eval, "eval")

    def base_state(self) -> dict:
        return {
            **super().base_state(),
            "scores": {split: scores.tolist() for split, scores in self.scores["base"].items()},
            "threshold": self.thresholds["base"],
        }

    def restore_base(self, state: dict) -> None:
        super().restore_base(state)
        self.scores["base"] = {split: np.asarray(s) for split, s in state["scores"].items()}
        self.thresholds["base"] = state["threshold"]

    def prediction_output(self, record: dict | None, where: str) -> str:
        """Refused: the tuned metrics join the generated decisions with the teacher-forced label
        score at the run's threshold (kept in self.scores by training only), and an answer made
        elsewhere has no such score."""
        raise MedtuneError(
            f"task={self.cfg.task.name} on a generative model: src.evaluate does not score generative "
            "eligibility runs (their main metric, wss_at_target, thresholds the model's own label "
            "likelihoods, which another system's answers lack); give --run an eligibility classifier run "
            "(model=minilm, any task.reader), whose metrics take each line's decision and score"
        )

    def score(self, rows: list[dict], outputs: list[str]) -> dict[str, float]:
        """The generated decisions' metrics (evaluate_base / evaluate_tuned add the score's)."""
        labels = np.array([row["label"] for row in rows], dtype=bool)
        return _decided(labels, *self._decisions(outputs, labels))

    def _decisions(self, outputs: list[str], labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(flagged as eligible, unparseable) per output; an unparseable one is flagged wrongly."""
        data = self.cfg.data
        parsed = [parse_decision(output, data.positive_label, data.negative_label) for output in outputs]
        unparseable = np.array([decision is None for decision in parsed])
        flagged = np.where(unparseable, ~labels, np.array([bool(decision) for decision in parsed]))
        return flagged, unparseable

    def _sides(self, labels: np.ndarray, outputs: dict[str, list[str]]) -> list[tuple]:
        """(evaluation scores, threshold, flagged, unparseable) of each named model's outputs."""
        return [
            (self.scores[name]["eval"], self.thresholds[name], *self._decisions(texts, labels))
            for name, texts in outputs.items()
        ]

    def _side_metrics(self, labels: np.ndarray):
        """metrics(side, picked pairs) for paired_intervals; a side without decisions (a naive
        reference: flagged None) has the score's metrics only."""
        target_recall = self.cfg.task.target_recall

        def metrics(side: tuple, pick: np.ndarray) -> dict[str, float]:
            scores, threshold, flagged, unparseable = side
            ranked = screening_metrics(scores[pick], labels[pick], threshold, target_recall)
            if flagged is None:
                return ranked
            return {**ranked, **_decided(labels[pick], flagged[pick], unparseable[pick])}

        return metrics

    def score_intervals(self, rows: list[dict], base: list[str], tuned: list[str]) -> dict:
        labels = np.array([row["label"] for row in rows], dtype=bool)
        # rows are the evaluation split: the one whose pair scores are kept
        sides = self._sides(labels, {"base": base, "tuned": tuned})
        return paired_intervals(labels, *sides, self._side_metrics(labels), seed=self.cfg.seed)

    def evaluate_reference(self, data: GenerativeData) -> dict:
        rows, task = data.rows.eval, self.cfg.task
        labels = np.array([row["label"] for row in rows], dtype=bool)
        (tuned_side,) = self._sides(labels, {"tuned": self.outputs["tuned"]})
        tuned = self._with_ranking(self.score(rows, self.outputs["tuned"]), "tuned", rows, "eval")
        metrics = self._side_metrics(labels)

        def paired(side: tuple) -> dict:
            reference = (np.asarray(side[0]), side[1], None, None)
            return paired_intervals(labels, reference, tuned_side, metrics, seed=self.cfg.seed)

        return eligibility_reference(data.rows, task.main_metric, task.target_recall, tuned, paired)

    # -- prediction on new inputs ----------------------------------------------------------------
    def input_columns(self) -> dict[str, str]:
        return {"patient": self.cfg.data.patient_column, "criteria": self.cfg.data.criteria_column}

    def predictions(
        self, model, prompts: list[list[int]], generated: list[str], batch_size: int, device, progress: bool
    ) -> list[dict]:
        """The decision of the threshold tuned at training on the pair's score (eligible when
        score >= threshold), the score, and the generated output (its first word is the
        model's own decision, parse_decision)."""
        data = self.cfg.data
        scores = self._pair_scores(model, prompts, "Label scores", batch_size, device, progress)
        threshold = self.thresholds["tuned"]
        return [
            {
                "decision": data.positive_label if score >= threshold else data.negative_label,
                "score": float(score),
                "generated": text,
            }
            for score, text in zip(scores, generated, strict=True)
        ]

    def restore_tuned(self, meta: dict) -> None:
        self.thresholds["tuned"] = meta["threshold"]

    # -- reporting -------------------------------------------------------------------------------
    def adapter_meta(self) -> dict:
        data = self.cfg.data
        return {
            "labels": [data.negative_label, data.positive_label],
            "score": "log P(positive label | prompt) - log P(negative label | prompt), each with eos",
            "threshold": self.thresholds["tuned"],  # flag score >= threshold as positive
            "target_recall": self.cfg.task.target_recall,
        }

    def card(self, manifest: dict) -> CardText:
        return ELIGIBILITY_CARD

    def lineage(self, data: GenerativeData) -> dict:
        return eligibility_lineage(data.rows, self.cfg.data.positive_label, self.cfg.data.negative_label)


def _decided(labels: np.ndarray, flagged: np.ndarray, unparseable: np.ndarray) -> dict[str, float]:
    return {**decision_metrics(flagged, labels), "unparseable_rate": float(unparseable.mean())}
