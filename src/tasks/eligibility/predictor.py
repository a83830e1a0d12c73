"""A trained eligibility classifier ready to screen new (patient, criteria) pairs, loaded from a
run dir or from an export.

Both readers load into the ChunkedNoteClassifier they trained, adapter merged. A pair is encoded
by the function training encoded it with (criteria reader: evidence.encode_criteria; pair reader:
pairs.encode_pairs) and scored by scoring.pair_scores, as evaluation scored it, so P(eligible)
is the score the run's operating threshold was tuned on and applies to unchanged. A run dir
holds adapter/ and .hydra/resolved.yaml; an export (python -m src.export) the merged encoder, its
tokenizer, classifier.safetensors and medtune.json. Weights are read from safetensors only: a
pickle from a user's path could run any code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from peft import PeftModel
from safetensors import safe_open
from safetensors.torch import load_file
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from src.errors import MedtuneError
from src.inference import (
    ADAPTER_WEIGHTS,
    META_FILE,
    read_json,
    read_run,
    save_encoder_export,
    warn_other_versions,
)
from src.models import build
from src.models.classifier import ChunkedNoteClassifier, embed_texts
from src.tasks.eligibility.criteria import criteria_list
from src.tasks.eligibility.evidence import encode_criteria
from src.tasks.eligibility.numeric import MODEL_READS
from src.tasks.eligibility.pairs import encode_pairs
from src.tasks.eligibility.scoring import collate_inputs, pair_scores

log = logging.getLogger(__name__)

HEAD_FILE = "classifier.safetensors"  # the trained head of an export
FIELDS = ("patient", "criteria")  # what a pair is read from: the canonical row's keys


@dataclass
class Predictor:
    model: ChunkedNoteClassifier  # adapter merged, eval mode, on `device`
    tokenizer: PreTrainedTokenizerBase
    meta: dict  # medtune.json, completed with model.dtype/tokenizer/trust_remote_code and data columns
    device: torch.device

    @property
    def reader(self) -> dict:
        return self.meta["reader"]

    def predictions(
        self, inputs: list[dict[str, str]], batch_size: int = 32, progress: bool = False
    ) -> list[dict]:
        """{"decision": positive or negative label, "score": P(eligible)} per pair, flagged when
        score >= the run's threshold; the criteria reader adds "criteria": [{"index", "exclusion",
        "p_met", "decided_by"}] in the order the criteria text lists them, decided_by "model" or
        "numeric rule" (numeric.py; its p_met is the run's trust in the rule) (src.inference.Predictor).

        The run's evaluation split, in its order and at batch_size = its loop.eval_batch_size (32
        by default), gets the very scores evaluation computed; other batches pad sequences
        differently, which moves scores by float rounding (~1e-7)."""
        _check_inputs(inputs)
        out, cut = [], 0
        bar = tqdm(total=len(inputs), desc="Screening pairs", unit="pair", disable=not progress)
        with bar, torch.inference_mode():
            for start in range(0, len(inputs), batch_size):
                rows, n_cut = self._encode(inputs[start : start + batch_size], batch_size)
                out += self._decide(rows)
                cut += n_cut
                bar.update(len(rows))
        if cut:
            log.warning(
                "%d of %d pairs hold a sequence longer than the %s reader's %d tokens (fixed at "
                "training); cut as training cut them",
                cut,
                len(inputs),
                self.reader["name"],
                self.reader["max_length"],
            )
        return out

    @property
    def rule_confidence(self) -> float | None:
        """P(a numeric-rule decision is right), None when the run read every criterion itself."""
        return (self.reader.get("numeric_rule") or {}).get("confidence")

    def _decide(self, rows: list[dict]) -> list[dict]:
        """Scores a batch of encoded pairs and applies the run's operating threshold."""
        batch = collate_inputs(rows, self.tokenizer.pad_token_id, self.rule_confidence)
        scores, met = pair_scores(self.model, {k: v.to(self.device) for k, v in batch.items()}, len(rows))
        negative, positive = self.meta["labels"]
        # Unrounded: P(eligible) of a clearly excluded pair is tiny, and ranks still matter there.
        out = [
            {"decision": positive if score >= self.meta["threshold"] else negative, "score": score}
            for score in scores.cpu().tolist()
        ]
        if met is not None:
            read = iter(met.float().cpu().tolist())  # the model's criteria, pair after pair, in order
            confidence = self.rule_confidence
            for prediction, row in zip(out, rows, strict=True):
                prediction["criteria"] = [
                    {"index": i, "exclusion": excluding, "p_met": next(read), "decided_by": "model"}
                    if ruled == MODEL_READS
                    else {
                        "index": i,
                        "exclusion": excluding,
                        "p_met": confidence if ruled else 1 - confidence,
                        "decided_by": "numeric rule",
                    }
                    for i, (excluding, ruled) in enumerate(zip(row["exclusion"], row["ruled"], strict=True))
                ]
        return out

    def _encode(self, inputs: list[dict[str, str]], batch_size: int) -> tuple[list[dict], int]:
        """(encoded pairs as collate_inputs reads them, pairs or criteria longer than max_length)."""
        reader = self.reader
        if reader["name"] == "pair":
            first, second = ([row[name] for row in inputs] for name in reader["order"])
            encoded = encode_pairs(first, second, self.tokenizer, reader["max_length"], reader["truncation"])
            cut = sum(n > reader["max_length"] for n in encoded["n_tokens_total"])
            return [{"chunks": chunks} for chunks in encoded["chunks"]], cut

        def embed(texts: list[str]) -> torch.Tensor:
            return embed_texts(
                self.model.encoder,  # its embedding layer: LoRA never reaches it (_run_meta checks)
                self.tokenizer,
                texts,
                reader["max_length"],
                batch_size,
                by_length=False,  # in input order, as the run's evaluation batched them
                contextual=False,
            )

        encoded = encode_criteria(
            [row["criteria"] for row in inputs],
            [row["patient"] for row in inputs],
            self.tokenizer,
            embed,
            reader["evidence_lines"],
            reader["max_length"],
            numeric_rule=self.rule_confidence is not None,  # runs before the rule read every criterion
        )
        rows = [
            {"chunks": chunks, "exclusion": exclusion, "ruled": ruled}
            for chunks, exclusion, ruled in zip(
                encoded["chunks"], encoded["exclusion"], encoded["ruled"], strict=True
            )
        ]
        return rows, sum(n > 0 for n in encoded["n_cut"])

    def save(self, out: Path, exported_from: Path) -> None:
        """A standalone model without peft (python -m src.export): the merged encoder (loadable
        with transformers.AutoModel), its tokenizer, the trained head and medtune.json."""
        save_encoder_export(self.model, self.tokenizer, self.meta, out, exported_from, HEAD_FILE)


def _check_inputs(inputs: list[dict[str, str]]) -> None:
    """Every pair has both texts and its criteria list at least one criterion, as training
    required of its rows; the message names the row (1-based) and the field, never the text."""
    for number, row in enumerate(inputs, 1):
        for name in FIELDS:
            if not str(row.get(name) or "").strip():
                raise MedtuneError(
                    f"input row {number}: no {name} text (an eligibility pair reads {' and '.join(FIELDS)})"
                )
        if not criteria_list(row["criteria"]):
            raise MedtuneError(
                f"input row {number}: the criteria text holds headings but no criterion; list the "
                "criteria one per line under them"
            )


def read_meta(path: Path) -> dict:
    """The settings of a run dir or an export (see Predictor.meta); cheap, loads no weights."""
    if (path / HEAD_FILE).is_file():
        return read_json(path / META_FILE)
    return _run_meta(path)


def load_predictor(path: Path, target: torch.device) -> Predictor:
    """The model of a run dir or an export, on `target`."""
    meta = read_meta(path)
    if (path / HEAD_FILE).is_file():
        model_cfg = _model_cfg(meta, str(path), tokenizer=None)  # the export's own tokenizer
        model = build.classifier_base(build.load_encoder(model_cfg), 1, model_cfg)
        model.classifier.load_state_dict(load_file(path / HEAD_FILE))
    else:
        model_cfg = _model_cfg(meta, meta["base_model"], meta["model"]["tokenizer"])
        base = build.classifier_base(build.load_encoder(model_cfg), 1, model_cfg)
        # Merged once here, as evaluation merged it (merge_adapter): the same weights score.
        model = PeftModel.from_pretrained(base, path / "adapter").merge_and_unload()
    warn_other_versions(path, meta, "pairs may be tokenized differently and score slightly differently")
    return Predictor(model.eval().to(target), build.load_tokenizer(model_cfg), meta, target)


def _run_meta(run_dir: Path) -> dict:
    """adapter/medtune.json plus what inference needs from the run's resolved config."""
    cfg, meta = read_run(run_dir, head="classifier")
    weights = run_dir / "adapter" / ADAPTER_WEIGHTS
    if meta["reader"]["name"] == "criteria":
        # Training picked evidence lines with the base model's embedding layer; prediction uses
        # the merged model's, the same while LoRA stays out of it.
        with safe_open(weights, "pt") as tensors:
            adapted = [name for name in tensors.keys() if ".embeddings." in name]
        if adapted:
            raise MedtuneError(
                f"{weights} changes the encoder's embedding layer ({adapted[0]}), which picks the "
                "criteria reader's evidence lines; retrain with lora.target_modules outside it"
            )
    meta["model"] = {
        **meta["model"],
        "dtype": OmegaConf.select(cfg, "model.dtype", default="float32"),
        "tokenizer": OmegaConf.select(cfg, "model.tokenizer", default=None),
        "trust_remote_code": OmegaConf.select(cfg, "model.trust_remote_code", default=False),
    }
    meta["data"] = {
        "columns": {name: OmegaConf.select(cfg, f"data.{name}_column", default=name) for name in FIELDS},
        "id_column": OmegaConf.select(cfg, "data.id_column", default="id"),
    }
    return meta


def _model_cfg(meta: dict, name_or_path: str, tokenizer: str | None) -> DictConfig:
    """The model config build.* expects; encoder dropout is moot, the model runs in eval mode."""
    return OmegaConf.create(
        {**meta["model"], "name_or_path": name_or_path, "tokenizer": tokenizer, "encoder_dropout": None}
    )
