"""Medical coding: a clinical note in, its set of ICD-10-CM / CPT codes out.

Base model (zero-shot): the pretrained encoder embeds every chunk of a note and every code's
description (ICD-10-CM text from the CMS table); a code's score is its best cosine similarity
over the note's chunks, and a threshold or top-k chosen on the validation slice of the
training data turns scores into a code set.

Tuned model: the same encoder with a LoRA adapter and a linear multi-label head, trained with
binary cross-entropy; its decision threshold is tuned on the same validation slice.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from src.data.chunking import collate_chunks, tokenize_chunks, tokenizer_versions
from src.data.records import rows_fingerprint
from src.model_card import CardText
from src.models import build, prefix_cache
from src.models.classifier import embed_texts, mean_pool, pool_notes
from src.models.frozen_prefix import prefix_features, top_layers
from src.models.prefix_cache import WithPrefix
from src.tasks.base import Task
from src.tasks.coding import confidence, predictor, unseen, unseen_scorer
from src.tasks.coding.card import coding_card
from src.tasks.coding.data import PACKAGE, CodingRows, coding_lineage, load_coding_rows
from src.tasks.coding.decision import Decision, tune_global, tune_per_code
from src.tasks.coding.errors import write_run_report
from src.tasks.coding.evidence import EvidenceCollector, with_text
from src.tasks.coding.evidence_scores import synthetic_evidence_scores
from src.tasks.coding.keyword_baseline import keyword_reference
from src.tasks.coding.metrics import bootstrap_intervals, coding_delta, coding_metrics
from src.tasks.coding.parsing import predicted_codes
from src.tasks.coding.unseen import DESCRIPTION_TOKENS, TEXTS_PER_PASS

log = logging.getLogger(__name__)
RELIABILITY_PNG = "reliability.png"


@dataclass
class CodingData:
    rows: CodingRows
    train: Dataset  # tokenized: id, codes, chunks (no text: rows has it)
    val: Dataset
    eval: Dataset
    tokenizer: object
    tokenization: dict  # cache stats


class CodingTask(Task):
    package = PACKAGE

    def __init__(self, cfg):
        super().__init__(cfg)
        self.predictions: dict[str, list[list[str]]] = {}  # eval-split code sets: base, tuned
        # Lower-layer features of the val and eval notes from the base evaluation, and how many
        # layers they cover (0: none kept); see prefix_cache.
        self.features: dict = {"layers": 0}
        self.review: confidence.ReviewSetup | None = None  # calibration and routing, set by evaluate_tuned
        # Per eval note {tuned code: evidence spans}, set by evaluate_tuned (evidence.py).
        self.evidence: list[dict[str, list[dict]]] | None = None
        # The unseen-code scorer's description embeddings (None: none chosen), saved with the adapter.
        self.unseen_vectors: torch.Tensor | None = None

    def check_data(self) -> None:
        confidence.check_review_target(self.cfg.task.review.target)
        self.rows = load_coding_rows(self.cfg.data, self.cfg.paths.cache_dir)

    def load_data(self) -> CodingData:
        cfg = self.cfg
        rows = self.rows or load_coding_rows(cfg.data, cfg.paths.cache_dir)  # read by check_data
        tokenizer = build.load_tokenizer(cfg.model)
        tokenized, token_stats = {}, {}
        for split in ("train", "val", "eval"):
            split_rows = getattr(rows, split)
            dataset = Dataset.from_list(split_rows)
            tokenized[split], token_stats[split] = tokenize_chunks(
                dataset,
                tokenizer,
                cfg.model.max_length,
                cfg.data.chunk_overlap,
                cfg.data.max_chunks,
                cfg.paths.cache_dir,
                rows_fingerprint(split_rows),
                rows.files,
            )
        cut = sum(s["notes_cut_at_max_chunks"] for s in token_stats.values())
        if cut:
            log.warning(
                "%d notes are longer than data.max_chunks=%d chunks of %d tokens; their tails are not read "
                "(raise data.max_chunks to read them, at proportional cost)",
                cut,
                cfg.data.max_chunks,
                cfg.model.max_length,
            )
        self.label_index = {code: i for i, code in enumerate(rows.labels)}
        self.pad_token_id = tokenizer.pad_token_id
        return CodingData(
            rows,
            tokenized["train"],
            tokenized["val"],
            tokenized["eval"],
            tokenizer,
            {
                "reused_cache": all(s["reused_cache"] for s in token_stats.values()),
                "notes_cut_at_max_chunks": cut,
            },
        )

    def training_sets(self, model: torch.nn.Module, data: CodingData) -> tuple[Dataset, Dataset]:
        """Train and val rows, with cached frozen-layer features when they apply (prefix_cache);
        val reuses the ones the base evaluation kept."""

        def kept_val(n_frozen: int) -> WithPrefix | None:
            val = self._with_base_features(data.val, "val", n_frozen)
            return val if isinstance(val, WithPrefix) else None

        return prefix_cache.training_sets(
            model, self.cfg, data.train, data.val, self.collate, self.device, kept_val
        )

    def _with_base_features(self, rows: Dataset, split: str, n_frozen: int) -> Dataset | WithPrefix:
        """rows with the lower-layer features the base evaluation kept, when they cover exactly
        the n_frozen layers the model was trained above; else rows as they are."""
        if n_frozen and self.features["layers"] == n_frozen:
            return WithPrefix(rows, self.features[split])
        return rows

    # -- batches ---------------------------------------------------------------------------
    def collate(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        batch = collate_chunks(rows, self.pad_token_id)
        labels = torch.zeros((len(rows), len(self.label_index)))
        for i, row in enumerate(rows):
            for code in row["codes"]:
                if code in self.label_index:  # codes outside the label space: nothing to learn
                    labels[i, self.label_index[code]] = 1.0
        batch["labels"] = labels
        return batch

    def _loader(self, dataset: Dataset) -> DataLoader:
        return DataLoader(
            dataset, batch_size=self.cfg.loop.eval_batch_size, shuffle=False, collate_fn=self.collate
        )

    # -- base model ------------------------------------------------------------------------
    def evaluate_base(self, data: CodingData) -> dict[str, float]:
        encoder = build.load_encoder(self.cfg.model, self.cfg.seed).eval().to(self.device)
        labels = data.rows.base_labels or data.rows.labels
        codes = self._code_vectors(encoder, data, labels)

        # The layers below LoRA are the same in the base and the tuned model: when training will
        # cache them, keep what this pass computes for the val and eval notes (prefix_cache).
        n_tokens = sum(prefix_cache.count_tokens(rows) for rows in (data.train, data.val, data.eval))
        n_frozen, _ = prefix_cache.plan(self.cfg, encoder, n_tokens)
        self.features = {"layers": n_frozen, "val": [], "eval": []}

        def similarity(batch: dict, split: str) -> torch.Tensor:
            mask = batch["attention_mask"]
            if n_frozen:
                lower = prefix_features(encoder, batch["input_ids"], mask, n_frozen)
                self.features[split].extend(prefix_cache.per_note(lower, mask, batch["note_index"]))
                hidden = top_layers(encoder, lower, mask, n_frozen)
            else:
                hidden = encoder(input_ids=batch["input_ids"], attention_mask=mask).last_hidden_state
            chunks = F.normalize(mean_pool(hidden, mask), dim=-1)
            per_chunk = chunks @ codes.T.to(chunks.dtype)  # a code mentioned in any chunk should score high
            return pool_notes(per_chunk, batch["note_index"], "max")

        val_scores = self._scores(partial(similarity, split="val"), data.val, "Base model: validation slice")
        decision = tune_global(
            val_scores,
            labels,
            _gold(data.val),
            grid=np.quantile(val_scores, np.linspace(0.5, 0.999, 40)),
            top_k=range(1, 7),
        )
        self.base_decision = decision
        eval_scores = self._scores(
            partial(similarity, split="eval"), data.eval, "Base model: evaluation split"
        )
        self.predictions["base"] = decision.apply(eval_scores, labels)
        return coding_metrics(_gold(data.eval), self.predictions["base"])

    def _code_vectors(self, encoder: torch.nn.Module, data: CodingData, labels: list[str]) -> torch.Tensor:
        """Unit embeddings of the codes' descriptions, one row per code (float32, on the encoder's device)."""
        texts = [data.rows.descriptions[code] for code in labels]
        return embed_texts(encoder, data.tokenizer, texts, DESCRIPTION_TOKENS, TEXTS_PER_PASS).to(
            encoder.device
        )

    def base_state(self) -> dict:
        return {"predictions": self.predictions["base"]}

    def restore_base(self, state: dict) -> None:
        self.predictions["base"] = state["predictions"]
        self.features = {"layers": 0}  # no lower-layer features kept: the tuned model computes its own

    # -- tuned model -----------------------------------------------------------------------
    def build_model(self, data: CodingData) -> torch.nn.Module:
        encoder = build.load_encoder(self.cfg.model, self.cfg.seed)
        base = build.classifier_base(encoder, len(data.rows.labels), self.cfg.model)
        # Start each code's bias at its training log-odds: the head then begins from the code
        # frequencies instead of predicting every code with p=0.5, and learns much faster.
        counts = torch.from_numpy(self._train_counts(data)).float()
        prior = ((counts + 0.5) / (len(data.train) + 1)).clamp(max=0.99)
        with torch.no_grad():
            base.classifier.bias.copy_(torch.logit(prior))
        if self.cfg.model.head == "label_attention" and self.cfg.model.head_init == "descriptions":
            # clone: a tensor made in inference mode cannot seed trainable weights
            codes = self._code_vectors(encoder, data, data.rows.labels).clone()
            base.classifier.init_from_descriptions(codes)
        return build.wrap_with_lora(base, self.cfg.lora)

    def _train_counts(self, data: CodingData) -> np.ndarray:
        """Training notes carrying each code of the label space, in its order."""
        counts = np.zeros(len(self.label_index), dtype=np.int64)
        for codes in data.train["codes"]:
            for code in codes:
                if code in self.label_index:
                    counts[self.label_index[code]] += 1
        return counts

    def step(self, model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
        logits = model(**batch)
        loss = F.binary_cross_entropy_with_logits(logits, batch["labels"])
        return loss, {"scores": torch.sigmoid(logits).detach(), "labels": batch["labels"]}

    def epoch_metrics(self, model: torch.nn.Module, outputs: list[dict]) -> dict[str, float]:
        """micro-F1 of the validation slice at the decision tuned on it, as evaluate_tuned tunes it
        (its gold: the slice's codes within the label space)."""
        scores = torch.cat([o["scores"] for o in outputs]).cpu().numpy()
        labels = torch.cat([o["labels"] for o in outputs]).cpu().numpy().astype(bool)
        codes = list(self.label_index)
        gold = [[codes[j] for j in np.flatnonzero(row)] for row in labels]
        decision = self._tune(scores, codes, gold)
        return {"micro_f1": coding_metrics(gold, decision.apply(scores, codes))["micro_f1"]}

    def _tune(self, scores: np.ndarray, codes: list[str], gold: list[list[str]]) -> Decision:
        """The decision rule task.threshold asks for, tuned on validation scores."""
        if self.cfg.task.threshold == "per_code":
            return tune_per_code(scores, codes, gold, self.cfg.task.min_val_positives)
        return tune_global(scores, codes, gold)

    def evaluate_tuned(self, model: torch.nn.Module, data: CodingData) -> dict[str, float]:
        model.eval().to(self.device)
        labels = data.rows.labels

        def probabilities(batch: dict) -> torch.Tensor:
            return torch.sigmoid(model(**batch))

        # The eval pass also keeps what the evidence of the codes decided below needs (evidence.py).
        explained = self.cfg.model.head == "label_attention" and data.tokenizer.is_fast  # offsets
        chunking = (self.cfg.model.max_length, self.cfg.data.chunk_overlap, self.cfg.data.max_chunks)
        collector = EvidenceCollector(model, data.rows.eval, data.tokenizer, *chunking) if explained else None

        # Trained from cached lower layers: score from the ones the base evaluation kept.
        n_frozen = model.get_base_model().frozen_layers
        val_set = self._with_base_features(data.val, "val", n_frozen)
        eval_set = self._with_base_features(data.eval, "eval", n_frozen)
        # Scoring with the adapter merged into the base weights runs at the base model's speed
        # (scores differ by ~1e-7); unmerged again so the saved adapter is the trained one.
        model.merge_adapter()
        try:
            val_scores = self._scores(probabilities, val_set, "Tuned model: validation slice")
            scorer = collector.probabilities if collector else probabilities
            eval_scores = self._scores(scorer, eval_set, "Tuned model: evaluation split")
        finally:
            model.unmerge_adapter()
        val_gold = _gold(data.val)
        self.tuned_decision = decision = self._tune(val_scores, labels, val_gold)
        head = {"val": decision.apply(val_scores, labels), "eval": decision.apply(eval_scores, labels)}
        pred, self.unseen_decision, self.unseen_vectors = unseen.add_unseen(
            model, data.rows, data.tokenizer, self.cfg, head
        )
        self.validation = coding_metrics(val_gold, pred["val"])
        self.predictions.update(tuned=pred["eval"], head=head["eval"])
        if collector:
            self.evidence = collector.evidence(head["eval"], labels)
        # Confidence and routing from the head's scores; the decisions above stay as they are.
        self.review = confidence.fit_review(
            confidence.split_arrays(val_scores, labels, val_gold, head["val"]),
            confidence.split_arrays(eval_scores, labels, _gold(data.eval), head["eval"]),
            self._train_counts(data),
            self.cfg.task.calibration,
            self.cfg.task.review.target,
            self.cfg.seed,
            self.cfg.task.review.risk,
        )
        return coding_metrics(_gold(data.eval), self.predictions["tuned"])

    def evaluate_reference(self, data: CodingData) -> dict:
        return keyword_reference(data.rows, self.predictions["tuned"], self.cfg.seed)

    def delta(self, base: dict[str, float], tuned: dict[str, float]) -> dict[str, float]:
        return coding_delta(base, tuned)

    def write_reports(self, data: CodingData, run_dir: Path) -> dict:
        confidence.draw_reliability(self.review.reliability, run_dir / RELIABILITY_PNG)
        calibration = {**self.review.metrics["calibration"], "reliability_diagram": RELIABILITY_PNG}
        reports = {
            "errors": write_run_report(run_dir, data.rows, self.predictions["tuned"], self.evidence),
            "calibration": calibration,
            "review": self.review.metrics["review"],
            **unseen.report(_gold(data.eval), self.predictions, data.rows, self.cfg, self.unseen_decision),
        }
        if self.evidence is not None and self.cfg.data.path is None:  # the embedded notes: measurable
            reports["evidence"] = synthetic_evidence_scores(
                data.rows.eval, self.predictions["head"], self.evidence, self.cfg.data.synthetic
            )
        return reports

    def intervals(self, data: CodingData) -> dict:
        gold = _gold(data.eval)
        return bootstrap_intervals(
            gold, self.predictions["base"], self.predictions["tuned"], seed=self.cfg.seed
        )

    def examples(self, data: CodingData, n: int) -> list[dict]:
        rows = data.rows.eval[:n]
        base, tuned = self.predictions["base"][:n], self.predictions["tuned"][:n]
        out = [
            {"id": row["id"], "text": row["text"], "gold": row["codes"], "base": b, "tuned": t}
            for row, b, t in zip(rows, base, tuned, strict=True)
        ]
        for row, found in zip(out, self.evidence or [], strict=False):  # examples hold text already
            row["evidence"] = with_text(found, row["text"])
        return out

    def prediction_output(self, record: dict | None, where: str) -> list[str]:
        return predicted_codes(record, where)

    def score(self, rows: list[dict], outputs: list[list[str]]) -> dict[str, float]:
        return coding_metrics([row["codes"] for row in rows], outputs)

    def score_intervals(self, rows: list[dict], base: list[list[str]], tuned: list[list[str]]) -> dict:
        return bootstrap_intervals([row["codes"] for row in rows], base, tuned, seed=self.cfg.seed)

    @classmethod
    def read_meta(cls, path: Path) -> dict:
        return predictor.read_meta(path)

    @classmethod
    def load_predictor(cls, path: Path, device: torch.device) -> predictor.Predictor:
        return predictor.load_predictor(path, device)

    @classmethod
    def load_predictors(cls, paths: dict[str, Path], device: torch.device) -> dict[str, predictor.Predictor]:
        return predictor.load_predictors(paths, device)

    def card(self, manifest: dict) -> CardText:
        return coding_card(manifest, classifier=True)

    def lineage(self, data: CodingData) -> dict:
        return coding_lineage(data.rows)

    def _scores(self, score_fn, dataset: Dataset, desc: str) -> np.ndarray:
        parts = []
        with torch.inference_mode():
            for batch in tqdm(self._loader(dataset), desc=desc, leave=False):
                batch = {k: v.to(self.device) for k, v in batch.items()}
                parts.append(score_fn(batch).float().cpu())
        return torch.cat(parts).numpy()

    # -- artefact --------------------------------------------------------------------------
    def save_adapter(self, model: torch.nn.Module, data: CodingData, out_dir: Path) -> None:
        model.save_pretrained(out_dir)  # adapter_config.json + adapter_model.safetensors
        meta = {
            "task": self.cfg.task.name,
            "task_class": self.class_path(),  # src.inference finds the predictor by it
            "base_model": self.cfg.model.name_or_path,
            "labels": data.rows.labels,
            "decision": self.tuned_decision.to_dict(),
            # Confidence and routing only (src.predict's "confidence" and "route"), never the codes.
            "calibration": self.review.calibrator.to_dict(),
            "review": {"threshold": self.review.threshold, **dict(self.cfg.task.review)},  # target, risk
            "model": {
                k: self.cfg.model[k] for k in ("head", "max_length", "chunk_pooling", "classifier_dropout")
            },
            "chunking": {"overlap": self.cfg.data.chunk_overlap, "max_chunks": self.cfg.data.max_chunks},
            "versions": tokenizer_versions(),  # chunking of long notes depends on them
        }
        unseen = (self.unseen_decision, data.rows.unseen_candidates, self.unseen_vectors)
        meta.update(unseen_scorer.save_chosen(out_dir, *unseen, self.cfg.data.label_space))
        (out_dir / "medtune.json").write_text(json.dumps(meta, indent=2) + "\n")


def _gold(dataset: Dataset) -> list[list[str]]:
    return list(dataset["codes"])
