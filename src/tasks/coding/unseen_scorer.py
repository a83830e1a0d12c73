"""The unseen-code scorer a run chose (unseen.py), saved with its adapter and applied by the coding
predictor, so src.predict, src.serve and exports add the codes the run's tuned evaluation added.

Saved only when the validation slice chose a setting (a threshold): the candidate codes
(CODES_FILE, one a line, in the rows' order of VECTORS_FILE), their description embeddings by the
chosen encoder (VECTORS_FILE: what the run scored with, so nothing is recomputed, ~115 MB for all
of icd10cm with a 384-wide encoder), and medtune.json's "unseen" block (the setting). The notes are
embedded at prediction time by that encoder: the tuned one is the predictor's own model; the base
one is loaded from the run's base model, or from an export's BASE_ENCODER_DIR.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from src.errors import MedtuneError
from src.tasks.coding.unseen import NOTES_PER_PASS, UnseenDecision, allowed, merge, note_scores

CODES_FILE = "unseen_codes.txt"
VECTORS_FILE = "unseen_codes.safetensors"
BASE_ENCODER_DIR = "unseen_encoder"  # an export's copy of the base encoder, when that one scores
SOURCE = "description"  # how an added code was found: its description's similarity, not the head


@dataclass
class UnseenScorer:
    decision: UnseenDecision
    codes: list[str]  # the candidates: label-space codes the training notes never carry
    vectors: torch.Tensor  # (codes, hidden) unit description embeddings
    train_labels: list[str]  # the head's codes (the category_seen rule reads them)
    max_length: int  # tokens per sentence, as at training (model.max_length)
    encoder: torch.nn.Module | None  # the base encoder; None: the tuned one (the caller's)

    def add(
        self, tuned_encoder: torch.nn.Module, tokenizer, texts: list[str], head: list[list[str]]
    ) -> tuple[list[list[str]], list[dict[str, dict]]]:
        """Each note's head codes plus the unseen codes the run's setting adds (unseen.merge, sorted),
        and per note {added code: {"source": "description", "similarity": cosine}}. Notes go
        NOTES_PER_PASS at a time: a (notes, codes) score array of all of icd10cm is 300 KB a note."""
        encoder = self.encoder or tuned_encoder
        column = {code: j for j, code in enumerate(self.codes)}
        merged, added = [], []
        for start in range(0, len(texts), NOTES_PER_PASS):
            part, own = texts[start : start + NOTES_PER_PASS], head[start : start + NOTES_PER_PASS]
            scores = note_scores(encoder, tokenizer, part, self.vectors, self.max_length)
            mask = allowed(self.decision.rule, self.codes, self.train_labels, own)
            codes = merge(own, scores, self.codes, mask, self.decision.top_m, self.decision.threshold)
            merged += codes
            added += [
                {
                    code: {"source": SOURCE, "similarity": round(float(row[column[code]]), 6)}
                    for code in note_codes
                    if code not in set(note_head)
                }
                for note_codes, note_head, row in zip(codes, own, scores, strict=True)
            ]
        return merged, added

    def save(self, folder: Path) -> None:
        """The files medtune.json's "unseen" block names, and an export's base encoder (BASE_ENCODER_DIR)."""
        write_files(folder, self.codes, self.vectors)
        if self.encoder is not None:
            self.encoder.save_pretrained(folder / BASE_ENCODER_DIR)


def save_chosen(
    folder: Path, decision: dict | None, codes: list[str], vectors: torch.Tensor | None, label_space: str
) -> dict:
    """Writes the chosen scorer's files into an adapter folder; returns medtune.json's "unseen" entry
    ({} when the validation slice chose none: the adapter is as with label_space=train)."""
    if vectors is None:
        return {}
    write_files(folder, codes, vectors)
    return {"unseen": saved_block(decision, codes, label_space)}


def write_files(folder: Path, codes: list[str], vectors: torch.Tensor) -> None:
    (folder / CODES_FILE).write_text("".join(f"{code}\n" for code in codes), encoding="utf-8")
    save_file({"descriptions": vectors.float().contiguous()}, folder / VECTORS_FILE)


def saved_block(decision: dict, codes: list[str], label_space: str) -> dict:
    """medtune.json's "unseen" block: the setting chosen on the validation slice and its files."""
    return {
        **{key: decision[key] for key in ("encoder", "rule", "top_m", "threshold")},
        "label_space": label_space,
        "n_codes": len(codes),
        "codes_file": CODES_FILE,
        "vectors_file": VECTORS_FILE,
        "source": SOURCE,
    }


def load_scorer(folder: Path, meta: dict, base_encoder: Callable[[], torch.nn.Module]) -> UnseenScorer | None:
    """The scorer saved in folder (a run's adapter/ or an export), None when the run chose none;
    base_encoder() loads the base encoder when the setting scores with it."""
    saved = meta.get("unseen")
    if not saved:
        return None
    for name in (CODES_FILE, VECTORS_FILE):
        if not (folder / name).is_file():
            raise MedtuneError(
                f"{folder / name} not found: medtune.json's unseen block needs it (the dir is incomplete); "
                "copy the whole run dir or export"
            )
    codes = (folder / CODES_FILE).read_text(encoding="utf-8").split()
    vectors = load_file(folder / VECTORS_FILE)["descriptions"]
    if len(codes) != len(vectors) or len(codes) != saved["n_codes"]:
        raise MedtuneError(
            f"{folder}: {CODES_FILE} holds {len(codes)} codes, {VECTORS_FILE} {len(vectors)} rows and "
            f"medtune.json says {saved['n_codes']}: the files were damaged; copy them from the run again"
        )
    decision = UnseenDecision(**{key: saved[key] for key in ("encoder", "rule", "top_m", "threshold")})
    encoder = base_encoder() if decision.encoder == "base" else None
    return UnseenScorer(decision, codes, vectors, meta["labels"], meta["model"]["max_length"], encoder)
