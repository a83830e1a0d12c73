"""A trained extractive summariser ready for new notes, loaded from a run dir or an export.

A run dir holds adapter/ (LoRA weights, the unit head and medtune.json with the run's k) and
.hydra/resolved.yaml (the checkpoint, or a random_init encoder rebuilt from the run's seed); an
export (python -m src.export) holds the merged encoder (build.encoder_class loads it: AutoModel,
or AutoModelForTextEncoding for a T5 encoder), its tokenizer, head.safetensors and medtune.json.
Both load into the same pooled classifier with the adapter merged, and a note is split, encoded
and scored by the code that scored the evaluation split (sentences.py, unit_scoring.py,
selection.py). Weights are read from safetensors only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from peft import PeftModel
from safetensors.torch import load_file
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from src.data.chunking import collate_chunks
from src.inference import META_FILE, read_json, read_run, save_encoder_export, warn_other_versions
from src.models import build
from src.models.classifier import ChunkedNoteClassifier
from src.tasks.summarization.selection import summary
from src.tasks.summarization.sentences import Unit, split_units
from src.tasks.summarization.unit_scoring import encode_units, per_note, unit_logits

HEAD_FILE = "head.safetensors"  # the trained unit head of an export


def note_units(text: str) -> list[Unit]:
    """The note's units; a note without one (no letter) is one unit, read and copied whole."""
    return split_units(text) or [Unit("", text, 0, len(text))]


@dataclass
class ExtractivePredictor:
    model: ChunkedNoteClassifier  # adapter merged
    tokenizer: PreTrainedTokenizerBase
    meta: dict
    device: torch.device

    def predictions(
        self, inputs: list[dict[str, str]], batch_size: int = 32, progress: bool = False
    ) -> list[dict]:
        """{"summary": the k best-scored units of the note, in note order} per input; batch_size
        notes are scored together."""
        out = []
        with tqdm(total=len(inputs), desc="Summarising notes", unit="note", disable=not progress) as bar:
            for start in range(0, len(inputs), batch_size):
                texts = [row["text"] for row in inputs[start : start + batch_size]]
                out += [{"summary": summary(*scored, self.meta["k"])} for scored in self.scored_notes(texts)]
                bar.update(len(texts))
        return out

    def scored_notes(self, texts: list[str]) -> list[tuple[list[Unit], np.ndarray]]:
        """Each note's units and the tuned model's score of each (higher: more summary-worthy). The
        notes' units are read together, as the evaluation split's are: a pass fills UNITS_PER_PASS
        units of similar length from all of them, not one note's few."""
        notes = [note_units(text) for text in texts]
        max_length = self.meta["model"]["max_length"]
        rows = [{"chunks": encode_units(units, self.tokenizer, max_length)[0]} for units in notes]
        batch = collate_chunks(rows, self.tokenizer.pad_token_id)
        batch = {key: value.to(self.device) for key, value in batch.items()}
        with torch.inference_mode():
            scores = per_note(unit_logits(self.model, batch), batch["note_index"])
        return [(units, scores[i]) for i, units in enumerate(notes)]

    def scored_units(self, text: str) -> tuple[list[Unit], np.ndarray]:
        return self.scored_notes([text])[0]

    def save(self, out: Path, exported_from: Path) -> None:
        """A standalone model without peft: the merged encoder (transformers.AutoModel), its
        tokenizer, the unit head and medtune.json."""
        save_encoder_export(self.model, self.tokenizer, self.meta, out, exported_from, HEAD_FILE)


def read_meta(path: Path) -> dict:
    """medtune.json of an export, or a run's completed with what prediction needs; loads no weights."""
    if (path / HEAD_FILE).is_file():
        return read_json(path / META_FILE)
    cfg, meta = read_run(path, head="classifier")
    random_init = OmegaConf.select(cfg, "model.random_init", default=None)
    meta["model"] = {
        "tokenizer": OmegaConf.select(cfg, "model.tokenizer", default=None),
        "random_init": None if random_init is None else OmegaConf.to_container(random_init),
        "seed": OmegaConf.select(cfg, "seed"),  # draws a random_init encoder's weights
        "max_length": OmegaConf.select(cfg, "model.max_length"),
        "dtype": OmegaConf.select(cfg, "model.dtype", default="float32"),
        "trust_remote_code": OmegaConf.select(cfg, "model.trust_remote_code", default=False),
        "classifier_dropout": OmegaConf.select(cfg, "model.classifier_dropout", default=0.1),
    }
    meta["data"] = {
        "columns": {"text": OmegaConf.select(cfg, "data.text_column", default="text")},
        "id_column": OmegaConf.select(cfg, "data.id_column", default="id"),
    }
    return meta


def _model_cfg(meta: dict, name_or_path: str, export: bool) -> DictConfig:
    model = {**meta["model"], "name_or_path": name_or_path, "encoder_dropout": None}
    if export:  # the export holds the weights and the tokenizer
        model |= {"tokenizer": None, "random_init": None}
    return OmegaConf.create(model)


def unit_classifier(model_cfg: DictConfig, seed: int | None) -> ChunkedNoteClassifier:
    """The encoder with a one-output head on its mean-pooled units: what a run trains."""
    return ChunkedNoteClassifier(
        build.load_encoder(model_cfg, seed), 1, head="pooled", dropout=model_cfg.classifier_dropout
    )


def load_predictor(path: Path, target: torch.device) -> ExtractivePredictor:
    meta = read_meta(path)
    if (path / HEAD_FILE).is_file():
        model_cfg = _model_cfg(meta, str(path), export=True)
        model = unit_classifier(model_cfg, None)
        model.classifier.load_state_dict(load_file(path / HEAD_FILE))
    else:
        model_cfg = _model_cfg(meta, meta["base_model"], export=False)
        base = unit_classifier(model_cfg, model_cfg.get("seed"))
        model = PeftModel.from_pretrained(base, path / "adapter").merge_and_unload()
    warn_other_versions(
        path, meta, "sentences may be cut into tokens differently and score slightly differently"
    )
    return ExtractivePredictor(model.eval().to(target), build.load_tokenizer(model_cfg), meta, target)
