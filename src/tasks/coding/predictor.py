"""A trained coding model ready to score notes, loaded from a run dir or from an export.

A run dir (python -m src.train) holds adapter/ (the LoRA adapter and trained head, plus
medtune.json) and .hydra/resolved.yaml; an export (python -m src.export) holds the merged
encoder, its tokenizer, classifier.safetensors and medtune.json. Both load into the same
ChunkedNoteClassifier with the adapter merged, so both score a note alike (to ~1e-6). A run whose
validation slice chose an unseen-code scorer (data.label_space, unseen_scorer.py) saved it beside
the adapter; both add its codes to the head's as the run's tuned evaluation did.
Weights are read from safetensors only: a pickle from a user's path could run any code.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from peft import PeftModel
from safetensors.torch import load_file
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from src.data.chunking import chunk_texts, collate_chunks
from src.errors import MedtuneError
from src.inference import META_FILE, read_json, read_run, save_encoder_export, warn_other_versions
from src.models import build
from src.models.adapters import AdapterSet
from src.tasks.coding.calibration import Calibrator
from src.tasks.coding.decision import Decision
from src.tasks.coding.evidence import NoteTokens, note_evidence, token_offsets
from src.tasks.coding.review import note_confidence
from src.tasks.coding.unseen_scorer import BASE_ENCODER_DIR, UnseenScorer, load_scorer

log = logging.getLogger(__name__)

HEAD_FILE = "classifier.safetensors"  # the trained head of an export
CHUNKING_MAY_DIFFER = "long notes may be cut into chunks differently and score slightly differently"


@dataclass
class Predictor:
    model: torch.nn.Module  # ChunkedNoteClassifier, adapter merged (SharedPredictor: a PeftModel)
    tokenizer: PreTrainedTokenizerBase
    meta: dict  # medtune.json, completed with model.dtype/trust_remote_code and data columns
    device: torch.device
    unseen: UnseenScorer | None = None  # codes outside the head's, scored from their descriptions

    @property
    def labels(self) -> list[str]:
        return self.meta["labels"]

    @property
    def decision(self) -> Decision:
        return Decision(**self.meta["decision"])

    def predict(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Probability of every code (columns in `labels` order), one row per text.

        Notes are chunked exactly as in training: the same tokenizer, chunk length, overlap
        and max_chunks.
        """
        return self._run(texts, batch_size, progress, None)[0]

    def explain(
        self,
        texts: list[str],
        batch_size: int = 32,
        progress: bool = False,
        with_text: bool = False,
        annotate: bool = False,
    ) -> tuple[np.ndarray, list[dict[str, list[dict]]]]:
        """predict's scores, from the same forward pass, and per text {code: evidence spans} for
        the codes `decide` picks (src/tasks/coding/evidence.py); with_text adds each span's text,
        annotate keeps the negated / family clauses, marked (evidence_eval measures them)."""
        head = self.meta["model"].get("head")
        if head != "label_attention":
            raise MedtuneError(
                f"evidence needs a label-attention head; this model's head is {head!r} "
                "(retrain with model.head=label_attention, or leave evidence off)"
            )
        if not self.tokenizer.is_fast:
            raise MedtuneError(
                f"evidence needs a fast tokenizer (character offsets); {self.tokenizer.name_or_path}'s is "
                "not one; leave evidence off"
            )
        return self._run(texts, batch_size, progress, {"with_text": with_text, "annotate": annotate})

    def _run(
        self, texts: list[str], batch_size: int, progress: bool, explain: dict | None
    ) -> tuple[np.ndarray, list[dict[str, list[dict]]]]:
        """Scores, and evidence when `explain` holds note_evidence's options."""
        max_length = self.meta["model"]["max_length"]
        overlap, max_chunks = self.meta["chunking"]["overlap"], self.meta["chunking"]["max_chunks"]
        parts = [torch.zeros((0, len(self.labels)))]  # so no texts gives an empty (0, labels) array
        found: list[dict[str, list[dict]]] = []
        columns = {code: j for j, code in enumerate(self.labels)}
        cut = 0
        bar = tqdm(total=len(texts), desc="Coding notes", unit="note", disable=not progress)
        with bar, torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch_texts = texts[start : start + batch_size]
                chunks, totals = chunk_texts(batch_texts, self.tokenizer, max_length, overlap, max_chunks)
                cut += sum(total > max_chunks for total in totals)
                batch = collate_chunks([{"chunks": c} for c in chunks], self.tokenizer.pad_token_id)
                inputs = {key: value.to(self.device) for key, value in batch.items()}
                if explain is None:
                    parts.append(torch.sigmoid(self.model(**inputs)).float().cpu())
                else:
                    logits, attention = self.model(**inputs, return_attention=True)
                    parts.append(torch.sigmoid(logits).float().cpu())
                    offsets = token_offsets(batch_texts, self.tokenizer, max_length, overlap, max_chunks)
                    decided = self.decide(parts[-1].numpy())
                    attention = attention.float().cpu().numpy()
                    note_index = batch["note_index"].numpy()
                    for i, (text, codes) in enumerate(zip(batch_texts, decided, strict=True)):
                        summary = NoteTokens.build(text, offsets[i]).summarize(attention[note_index == i])
                        found.append(note_evidence(summary, codes, columns, **explain))
                bar.update(len(batch_texts))
        if cut:
            log.warning(
                "%d of %d notes are longer than the model reads (max_chunks=%d chunks of %d tokens, "
                "fixed at training); their tails were not read",
                cut,
                len(texts),
                max_chunks,
                max_length,
            )
        return torch.cat(parts).numpy(), found

    def decide(self, scores: np.ndarray) -> list[list[str]]:
        """Code sets from scores, by the decision rule tuned on the run's validation slice."""
        return self.decision.apply(scores, self.labels)

    def predictions(
        self,
        inputs: list[dict[str, str]],
        batch_size: int = 32,
        progress: bool = False,
        evidence: bool = False,
        evidence_text: bool = False,
    ) -> list[dict]:
        """{"codes": [...], "scores": {code: probability}} per note (src.inference.Predictor); a run
        that calibrated its scores adds the note's "confidence" (review.note_confidence for the run's
        task.review.risk) and "route": "auto" (at or above the run's review threshold)
        or "review". Runs made before calibration existed lack both. evidence (or evidence_text)
        adds "evidence": {code: [{"start", "end", "score"}, ...]} for every predicted code, and
        evidence_text each span's "text" (src/tasks/coding/evidence.py).

        A run that saved an unseen-code scorer (data.label_space) also puts in "codes" the codes
        outside the head's it adds, each in "unseen": {code: {"source": "description",
        "similarity": cosine}}; "unseen" is {} for a note it adds none to. A similarity is not a
        probability: such codes have no "scores" entry, evidence, or part in "confidence" and
        "route", which read the head's codes only."""
        texts = [row["text"] for row in inputs]
        found = None
        if evidence or evidence_text:
            scores, found = self.explain(texts, batch_size, progress, evidence_text)
        else:
            scores = self.predict(texts, batch_size, progress)
        index = {code: j for j, code in enumerate(self.labels)}
        decided = self.decide(scores)
        out = [
            {"codes": codes, "scores": {code: round(float(row[index[code]]), 6) for code in codes}}
            for codes, row in zip(decided, scores, strict=True)
        ]
        if self.unseen is not None:
            merged, added = self.add_unseen(texts, decided)
            for row, codes, described in zip(out, merged, added, strict=True):
                row["codes"], row["unseen"] = codes, described
        if "calibration" in self.meta and "review" in self.meta:
            picked = np.zeros(scores.shape, dtype=bool)
            for i, codes in enumerate(decided):
                picked[i, [index[code] for code in codes]] = True
            probs = Calibrator(**self.meta["calibration"]).apply(scores)
            threshold, risk = self.meta["review"]["threshold"], self.meta["review"].get("risk", "note")
            for row, confidence in zip(out, note_confidence(probs, picked, risk), strict=True):
                row["confidence"] = round(float(confidence), 6)
                row["route"] = "auto" if confidence >= threshold else "review"
        if found is not None:
            for row, spans in zip(out, found, strict=True):
                row["evidence"] = spans
        return out

    def add_unseen(self, texts: list[str], head: list[list[str]]) -> tuple[list[list[str]], list[dict]]:
        """The head's code sets with the unseen codes the run's scorer adds (UnseenScorer.add); the
        tuned encoder is this model's own, adapter merged."""
        return self.unseen.add(self.model.encoder, self.tokenizer, texts, head)

    def save(self, out: Path, exported_from: Path) -> None:
        """A standalone model without peft (python -m src.export): the merged encoder (loadable
        with transformers.AutoModel), its tokenizer, the trained head and medtune.json; with an
        unseen-code scorer, its files too (and the base encoder, when that one scores)."""
        save_encoder_export(self.model, self.tokenizer, self.meta, out, exported_from, HEAD_FILE)
        if self.unseen is not None:
            self.unseen.save(out)


def read_meta(path: Path) -> dict:
    """The settings of a run dir or an export (see Predictor.meta); cheap, loads no weights."""
    if (path / HEAD_FILE).is_file():
        return read_json(path / META_FILE)
    return _run_meta(path)


@dataclass(kw_only=True)
class SharedPredictor(Predictor):
    """One run's adapter in an AdapterSet: it scores with its adapter switched on, under the
    set's lock; `model` is the set's PeftModel."""

    adapters: AdapterSet
    name: str  # the adapter's name in `adapters`
    path: Path  # the run dir, which export merges on its own

    def _run(
        self, texts: list[str], batch_size: int, progress: bool, explain: dict | None
    ) -> tuple[np.ndarray, list[dict[str, list[dict]]]]:
        with self.adapters.use(self.name):
            return super()._run(texts, batch_size, progress, explain)

    def add_unseen(self, texts: list[str], head: list[list[str]]) -> tuple[list[list[str]], list[dict]]:
        with self.adapters.use(self.name):  # the tuned encoder: the set's model, this adapter on
            return super().add_unseen(texts, head)

    def save(self, out: Path, exported_from: Path) -> None:
        load_predictor(self.path, torch.device("cpu")).save(out, exported_from)


def load_predictor(path: Path, target: torch.device) -> Predictor:
    """The model of a run dir or an export, on `target`."""
    meta = read_meta(path)
    if (path / HEAD_FILE).is_file():
        model_cfg = _model_cfg(meta, str(path))
        model = build.classifier_base(build.load_encoder(model_cfg), len(meta["labels"]), model_cfg)
        model.classifier.load_state_dict(load_file(path / HEAD_FILE))
    else:
        model_cfg = _model_cfg(meta, meta["base_model"])
        base = build.classifier_base(build.load_encoder(model_cfg), len(meta["labels"]), model_cfg)
        # Merged once here: scoring then runs at the base model's speed (see evaluate_tuned).
        model = PeftModel.from_pretrained(base, path / "adapter").merge_and_unload()
    warn_other_versions(path, meta, CHUNKING_MAY_DIFFER)
    tokenizer = build.load_tokenizer(model_cfg)
    return Predictor(model.eval().to(target), tokenizer, meta, target, _unseen(path, meta, target))


def load_predictors(paths: dict[str, Path], target: torch.device) -> dict[str, Predictor]:
    """Predictors by name; run dirs whose adapters fit one base model (same checkpoint, head and
    label count) share one copy of it, their adapters switched per call (AdapterSet). A run alone
    on its base, and an export, load as load_predictor does (merged: faster)."""
    metas = {name: read_meta(path) for name, path in paths.items()}  # a bad dir fails before loading
    groups: dict[str, list[str]] = {}
    for name, path in paths.items():
        key = name if (path / HEAD_FILE).is_file() else json.dumps(_base_key(metas[name]), sort_keys=True)
        groups.setdefault(key, []).append(name)
    loaded = {}
    for names in groups.values():
        if len(names) == 1:
            loaded[names[0]] = load_predictor(paths[names[0]], target)
            continue
        meta = metas[names[0]]
        model_cfg = _model_cfg(meta, meta["base_model"])
        base = build.classifier_base(build.load_encoder(model_cfg), len(meta["labels"]), model_cfg)
        adapters = AdapterSet(base, {name: paths[name] / "adapter" for name in names})
        adapters.model.to(target)
        tokenizer = build.load_tokenizer(model_cfg)
        for name in names:
            warn_other_versions(paths[name], metas[name], CHUNKING_MAY_DIFFER)
            unseen = _unseen(paths[name], metas[name], target)
            loaded[name] = SharedPredictor(
                adapters.model,
                tokenizer,
                metas[name],
                target,
                unseen,
                adapters=adapters,
                name=name,
                path=paths[name],
            )
    return {name: loaded[name] for name in paths}


def _unseen(path: Path, meta: dict, target: torch.device) -> UnseenScorer | None:
    """The unseen-code scorer a run dir's adapter/ or an export holds (None: the run chose none).
    Its base encoder, when that one scores: the run's base model, or the export's own copy."""
    export = (path / HEAD_FILE).is_file()

    def base_encoder() -> torch.nn.Module:
        name_or_path = str(path / BASE_ENCODER_DIR) if export else meta["base_model"]
        return build.load_encoder(_model_cfg(meta, name_or_path)).eval().to(target)

    return load_scorer(path if export else path / "adapter", meta, base_encoder)


def _base_key(meta: dict) -> dict:
    """What must match for two runs' adapters to sit on one base model."""
    model = {k: meta["model"].get(k) for k in ("dtype", "trust_remote_code", "head", "chunk_pooling")}
    return {"base_model": meta["base_model"], "labels": len(meta["labels"]), **model}


def _run_meta(run_dir: Path) -> dict:
    """adapter/medtune.json plus what inference needs from the run's resolved config."""
    cfg, meta = read_run(run_dir, head="classifier")
    meta["model"] = {
        **meta["model"],
        "dtype": OmegaConf.select(cfg, "model.dtype", default="float32"),
        "trust_remote_code": OmegaConf.select(cfg, "model.trust_remote_code", default=False),
    }
    meta["data"] = {
        "columns": {"text": OmegaConf.select(cfg, "data.text_column", default="text")},
        "id_column": OmegaConf.select(cfg, "data.id_column", default="id"),
    }
    return meta


def _model_cfg(meta: dict, name_or_path: str) -> DictConfig:
    """The model config build.* expects; encoder dropout is moot, the model runs in eval mode."""
    return OmegaConf.create({**meta["model"], "name_or_path": name_or_path, "encoder_dropout": None})
