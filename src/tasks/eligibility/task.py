"""Clinical-trial eligibility screening: (trial criteria, patient record) in, eligible / excluded out.

A screening tool ranks pairs by a score and flags those at or above an operating threshold for a
reviewer. The operating threshold is the one that reaches `task.target_recall` (0.95) of the
eligible pairs of the validation slice (training data), then applied unchanged to the evaluation
split; metrics in screening.py (recall at that threshold, work saved over sampling, AUROC, ...).

Base model (zero-shot): the pretrained encoder embeds the patient record, the trial's inclusion
criteria and its exclusion criteria separately (mean pooling; the criteria text is split at its
"Exclusion Criteria" heading). The score is cos(patient, inclusion) - cos(patient, exclusion): a
record that reads like the inclusion list and unlike the exclusion list scores high. Without an
exclusion heading the score is cos(patient, criteria).

Tuned model, task.reader=criteria (default): the same encoder with a LoRA adapter and a
one-output head scores each criterion of the trial as met or not, reading it with the record lines
closest to it (src/tasks/eligibility/evidence.py); the pair's score is P(eligible) under the eligibility rule
(src/tasks/eligibility/rule.py). Criteria are trained on their own labels where the data has them
(data.criteria_labels_column), otherwise through the rule from the pair label.

task.reader=pair: the encoder reads the pair as one sequence ([CLS] criteria [SEP] patient [SEP],
cut to task.max_length by task.truncation, counted) and the head scores it, trained with binary
cross-entropy on the pair label.

python -m src.predict and src.export serve both readers (predictor.py): new pairs are encoded
(evidence.py, pairs.py) and scored (scoring.py) by the code that scored the evaluation split.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from src.console import console
from src.data.chunking import tokenizer_versions
from src.data.records import rows_fingerprint
from src.errors import MedtuneError
from src.model_card import CardText
from src.models import build, prefix_cache
from src.models.classifier import embed_texts
from src.tasks.base import Task
from src.tasks.eligibility import numeric, predictor
from src.tasks.eligibility.card import CLASSIFIER_CARD
from src.tasks.eligibility.criteria import split_criteria
from src.tasks.eligibility.data import PACKAGE, EligibilityRows, eligibility_lineage, load_eligibility_rows
from src.tasks.eligibility.evidence import encode_splits, ruled_with_labels
from src.tasks.eligibility.numeric import model_read
from src.tasks.eligibility.pairs import tokenize_pairs
from src.tasks.eligibility.reference import screened_reference
from src.tasks.eligibility.rule import eligibility_loss
from src.tasks.eligibility.scoring import collate_inputs, criteria_scores, pair_scores
from src.tasks.eligibility.screened import NO_ANSWER, Screened, resolve, screened_output
from src.tasks.eligibility.screening import (
    paired_intervals,
    screening_at_target,
    screening_intervals,
    screening_metrics,
    screening_metrics_flagged,
    threshold_for_recall,
)

log = logging.getLogger(__name__)
PAIR_COLUMNS = ("criteria", "patient")  # the criteria first: only_second truncation keeps them whole


class EligibilityData:
    def __init__(self, rows: EligibilityRows, tokenized: dict[str, Dataset], tokenizer, tokenization: dict):
        self.rows, self.tokenizer, self.tokenization = rows, tokenizer, tokenization
        self.train, self.val, self.eval = tokenized["train"], tokenized["val"], tokenized["eval"]


class EligibilityTask(Task):
    package = PACKAGE

    def __init__(self, cfg):
        super().__init__(cfg)
        self.scores: dict[str, dict[str, np.ndarray]] = {}  # base / tuned -> val / eval scores
        self.thresholds: dict[str, float] = {}  # base / tuned operating thresholds
        self.rule_confidence: float | None = None  # criteria reader with task.numeric_rule (load_data)

    def check_data(self) -> None:
        self.rows = load_eligibility_rows(self.cfg.data, self.cfg.paths.cache_dir)

    def load_data(self) -> EligibilityData:
        cfg = self.cfg
        rows = self.rows or load_eligibility_rows(cfg.data, cfg.paths.cache_dir)
        tokenizer = build.load_tokenizer(cfg.model)
        positions = getattr(build.encoder_config(cfg.model, tokenizer), "max_position_embeddings", None)
        if positions and cfg.task.max_length > positions:
            raise MedtuneError(
                f"task.max_length={cfg.task.max_length} but {cfg.model.name_or_path} reads at most "
                f"{positions} tokens; set task.max_length={positions} or less"
            )
        self.pad_token_id = tokenizer.pad_token_id
        if cfg.task.reader == "criteria":
            tokenized, reused = self._criterion_sequences(rows, tokenizer)
            return EligibilityData(rows, tokenized, tokenizer, {"reused_cache": reused})
        tokenized, truncated, both, reused = {}, 0, 0, True
        for split in ("train", "val", "eval"):
            split_rows = getattr(rows, split)
            tokenized[split], stats = tokenize_pairs(
                Dataset.from_list(split_rows),
                tokenizer,
                PAIR_COLUMNS,
                cfg.task.max_length,
                cfg.task.truncation,
                cfg.paths.cache_dir,
                rows_fingerprint(split_rows),
                rows.files,
            )
            truncated += stats["pairs_truncated"]
            both += stats["pairs_cut_both_sides"]
            reused &= stats["reused_cache"]
        if truncated:
            log.warning(
                "%d (criteria, patient) pairs are longer than task.max_length=%d tokens; cut by "
                "task.truncation=%s (%d of them on both sides: the other side alone was too long)",
                truncated,
                cfg.task.max_length,
                cfg.task.truncation,
                both,
            )
        rows.stats.update(pairs_truncated=truncated, pairs_cut_both_sides=both)
        return EligibilityData(
            rows, tokenized, tokenizer, {"reused_cache": reused, "pairs_truncated": truncated}
        )

    def _criterion_sequences(self, rows: EligibilityRows, tokenizer) -> tuple[dict[str, Dataset], bool]:
        """Every split as (criterion, evidence lines) sequences (evidence.encode_splits), and how far
        the numeric rule's decisions are trusted."""
        cfg = self.cfg
        tokenized, reused, counts = encode_splits(rows, cfg, tokenizer, self.device)
        agreement = None
        if cfg.task.numeric_rule:
            decided = ruled_with_labels(tokenized["train"])
            self.rule_confidence, agreement = numeric.confidence(decided, cfg.task.numeric_confidence)
            console.print(
                f"numeric rule: {counts['criteria_ruled']} of {counts['criteria']} criteria decided by a "
                f"value of the record (the model reads the rest), trusted at {self.rule_confidence:.4f}"
            )
        rows.stats.update(
            counts, numeric_rule_agreement=agreement, numeric_rule_confidence=self.rule_confidence
        )
        return tokenized, reused

    def training_sets(self, model: torch.nn.Module, data: EligibilityData) -> tuple[Dataset, Dataset]:
        return prefix_cache.training_sets(model, self.cfg, data.train, data.val, self.collate, self.device)

    def collate(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        batch = collate_inputs(rows, self.pad_token_id, self.rule_confidence)
        batch["labels"] = torch.tensor([float(row["label"]) for row in rows])
        if "exclusion" in batch:  # criteria reader: labels of the criteria the model reads, -1 unknown
            batch["criteria_met"] = torch.tensor(
                [float(m) for row in rows for m in model_read(row["met"], row["ruled"])]
            )
        return batch

    # -- base model ------------------------------------------------------------------------
    def evaluate_base(self, data: EligibilityData) -> dict[str, float]:
        encoder = build.load_encoder(self.cfg.model, self.cfg.seed).eval().to(self.device)
        max_length = self.cfg.task.max_length  # checked against the model's positions in load_data

        def embed(texts: list[str], desc: str) -> torch.Tensor:
            # Records of similar length batched together: little padding at up to 512 tokens.
            return embed_texts(
                encoder, data.tokenizer, texts, max_length, self.cfg.loop.eval_batch_size, desc=desc
            )

        # Trials repeat across pairs: embed each distinct criteria text once.
        criteria = sorted({row["criteria"] for split in ("val", "eval") for row in getattr(data.rows, split)})
        parts = [split_criteria(text) for text in criteria]
        inclusion = embed([inc for inc, _ in parts], "Base model: criteria")
        exclusion = embed([exc or inc for inc, exc in parts], "Base model: criteria")
        has_exclusion = torch.tensor([bool(exc) for _, exc in parts], dtype=torch.float)
        index = {text: i for i, text in enumerate(criteria)}

        def scores(split: str) -> np.ndarray:
            rows = getattr(data.rows, split)
            patients = embed([row["patient"] for row in rows], f"Base model: {split} records")
            trial = torch.tensor([index[row["criteria"]] for row in rows])
            toward = (patients * inclusion[trial]).sum(-1)
            away = (patients * exclusion[trial]).sum(-1) * has_exclusion[trial]
            return (toward - away).numpy()

        self.scores["base"] = {"val": scores("val"), "eval": scores("eval")}
        return self._screen("base", data)

    def base_state(self) -> dict:
        return {
            "scores": {split: scores.tolist() for split, scores in self.scores["base"].items()},
            "threshold": float(self.thresholds["base"]),
        }

    def restore_base(self, state: dict) -> None:
        self.scores["base"] = {split: np.asarray(s, dtype=np.float32) for split, s in state["scores"].items()}
        self.thresholds["base"] = state["threshold"]

    def _screen(self, name: str, data: EligibilityData) -> dict[str, float]:
        """Operating threshold from the val slice, then the screening metrics on the eval split."""
        val_labels = [row["label"] for row in data.rows.val]
        self.thresholds[name] = threshold_for_recall(
            self.scores[name]["val"], val_labels, self.cfg.task.target_recall
        )
        if name == "tuned":
            self.validation = screening_metrics(
                self.scores[name]["val"], val_labels, self.thresholds[name], self.cfg.task.target_recall
            )
        eval_labels = [row["label"] for row in data.rows.eval]
        return screening_metrics(
            self.scores[name]["eval"], eval_labels, self.thresholds[name], self.cfg.task.target_recall
        )

    # -- tuned model -----------------------------------------------------------------------
    def build_model(self, data: EligibilityData) -> torch.nn.Module:
        encoder = build.load_encoder(self.cfg.model, self.cfg.seed)
        base = build.classifier_base(encoder, 1, self.cfg.model)
        # Start the bias at the training log-odds of the target, as the coding head does per code:
        # "met" over the labelled criteria (criteria reader), "eligible" over the pairs (pair reader).
        if self.cfg.task.reader == "criteria":  # the criteria the model reads
            targets = [m for row in data.train for m in model_read(row["met"], row["ruled"]) if m >= 0]
        else:
            targets = [row["label"] for row in data.rows.train]
        share = (sum(targets) + 0.5) / (len(targets) + 1)
        with torch.no_grad():
            base.classifier.bias.fill_(float(np.log(share / (1 - share))))
        return build.wrap_with_lora(base, self.cfg.lora)

    def step(self, model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
        if "exclusion" in batch:
            met, log_p = criteria_scores(model, batch, len(batch["labels"]))
            loss = eligibility_loss(met, batch["criteria_met"], log_p, batch["labels"], batch["note_index"])
            return loss, {"scores": log_p.detach().exp(), "labels": batch["labels"]}
        logits = model(**batch)[:, 0]
        loss = F.binary_cross_entropy_with_logits(logits, batch["labels"])
        return loss, {"scores": torch.sigmoid(logits).detach(), "labels": batch["labels"]}

    def epoch_metrics(self, model: torch.nn.Module, outputs: list[dict]) -> dict[str, float]:
        """Work saved at the target recall on the validation slice, its threshold chosen on the
        slice as _screen chooses it, and the AUROC."""
        scores = torch.cat([o["scores"] for o in outputs]).double().cpu().numpy()
        labels = torch.cat([o["labels"] for o in outputs]).cpu().numpy().astype(bool)
        screened = screening_at_target(scores, labels, self.cfg.task.target_recall)
        return {"wss_at_target": screened["wss_at_target"], "auroc": screened["auroc"]}

    def evaluate_tuned(self, model: torch.nn.Module, data: EligibilityData) -> dict[str, float]:
        model.eval().to(self.device)
        model.merge_adapter()  # scores at the base model's speed; unmerged so the adapter saves as trained
        try:
            self.scores["tuned"] = {
                split: self._probabilities(model, getattr(data, split), split) for split in ("val", "eval")
            }
        finally:
            model.unmerge_adapter()
        return self._screen("tuned", data)

    def _probabilities(self, model: torch.nn.Module, dataset: Dataset, split: str) -> np.ndarray:
        loader = DataLoader(dataset, batch_size=self.cfg.loop.eval_batch_size, collate_fn=self.collate)
        parts = []
        with torch.inference_mode():
            for batch in tqdm(loader, desc=f"Tuned model: {split} pairs", leave=False):
                batch = {k: v.to(self.device) for k, v in batch.items()}
                parts.append(pair_scores(model, batch, len(batch["labels"]))[0].cpu())
        return torch.cat(parts).numpy()

    # -- reporting -------------------------------------------------------------------------
    def intervals(self, data: EligibilityData) -> dict:
        labels = [row["label"] for row in data.rows.eval]
        return screening_intervals(
            labels,
            (self.scores["base"]["eval"], self.thresholds["base"]),
            (self.scores["tuned"]["eval"], self.thresholds["tuned"]),
            self.cfg.task.target_recall,
            seed=self.cfg.seed,
        )

    def evaluate_reference(self, data: EligibilityData) -> dict:
        tuned = (self.scores["tuned"]["eval"], self.thresholds["tuned"])
        return screened_reference(data.rows, self.cfg.task, tuned, self.cfg.seed)

    def _decision(self, name: str, i: int) -> str:
        flagged = self.scores[name]["eval"][i] >= self.thresholds[name]
        return self.cfg.data.positive_label if flagged else self.cfg.data.negative_label

    def examples(self, data: EligibilityData, n: int) -> list[dict]:
        return [
            {
                "id": row["id"],
                "text": f"{row['criteria']}\n\n{row['patient']}",
                "gold": self.cfg.data.positive_label if row["label"] else self.cfg.data.negative_label,
                "base": self._decision("base", i),
                "tuned": self._decision("tuned", i),
            }
            for i, row in enumerate(data.rows.eval[:n])
        ]

    def lineage(self, data: EligibilityData) -> dict:
        return eligibility_lineage(data.rows, self.cfg.data.positive_label, self.cfg.data.negative_label)

    def _reader_meta(self) -> dict:
        """How the saved model reads a pair: what a user of the adapter must reproduce."""
        task = self.cfg.task
        if task.reader == "criteria":
            return {
                "name": "criteria",
                "evidence_lines": task.evidence_lines,
                "max_length": task.criterion_max_length,
                "rule": "P(eligible) = prod over inclusion of P(met) * prod over exclusion of (1 - P(met))",
                # P(met) of a criterion numeric.py decides: this if it decided met, 1 - this if not
                "numeric_rule": {"confidence": self.rule_confidence} if task.numeric_rule else None,
            }
        return {
            "name": "pair",
            "order": list(PAIR_COLUMNS),
            "max_length": task.max_length,
            "truncation": task.truncation,
        }

    def card(self, manifest: dict) -> CardText:
        return CLASSIFIER_CARD

    # -- src.evaluate: predictions made elsewhere (screened.py) ----------------------------
    no_answer = NO_ANSWER

    def prediction_output(self, record: dict | None, where: str) -> Screened | None:
        data = self.cfg.data
        return screened_output(record, where, data.positive_label, data.negative_label)

    def score(self, rows: list[dict], outputs: list[Screened | None]) -> dict[str, float]:
        """evaluate_tuned's metrics of the outputs' own decisions: the run's src.predict output of
        its evaluation split scores to its tuned metrics exactly (its decisions are score >= the
        run's threshold)."""
        labels = np.array([row["label"] for row in rows], dtype=bool)
        scores, flagged = resolve(outputs, labels)
        return screening_metrics_flagged(scores, labels, flagged, self.cfg.task.target_recall)

    def score_intervals(
        self, rows: list[dict], base: list[Screened | None], tuned: list[Screened | None]
    ) -> dict:
        labels = np.array([row["label"] for row in rows], dtype=bool)
        target_recall = self.cfg.task.target_recall

        def metrics(side: tuple[np.ndarray, np.ndarray], pick: np.ndarray) -> dict[str, float]:
            scores, flagged = side
            return screening_metrics_flagged(scores[pick], labels[pick], flagged[pick], target_recall)

        sides = resolve(base, labels), resolve(tuned, labels)
        return paired_intervals(labels, *sides, metrics, seed=self.cfg.seed)  # as `intervals` resamples

    @classmethod
    def read_meta(cls, path: Path) -> dict:
        return predictor.read_meta(path)

    @classmethod
    def load_predictor(cls, path: Path, device: torch.device) -> predictor.Predictor:
        return predictor.load_predictor(path, device)

    def save_adapter(self, model: torch.nn.Module, data: EligibilityData, out_dir: Path) -> None:
        model.save_pretrained(out_dir)
        meta = {
            "task": self.cfg.task.name,
            "task_class": self.class_path(),  # src.inference finds the predictor by it
            "base_model": self.cfg.model.name_or_path,
            "labels": data.rows.labels,
            "threshold": self.thresholds["tuned"],  # flag score >= threshold as positive
            "target_recall": self.cfg.task.target_recall,
            "model": {k: self.cfg.model[k] for k in ("head", "chunk_pooling", "classifier_dropout")},
            "reader": self._reader_meta(),
            "versions": tokenizer_versions(),
        }
        (out_dir / "medtune.json").write_text(json.dumps(meta, indent=2) + "\n")
