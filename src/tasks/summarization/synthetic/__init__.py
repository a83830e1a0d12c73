"""Deterministic synthetic notes with reference summaries: radiology, discharge, operative.

Each note is assembled from a sampled *case* (modality and findings, admission and hospital
course, or operation), and the reference summary is written from the same case, so every fact
in the summary is stated in the note. Each row also lists the summary's key facts
({"kind", "text"}, see src/tasks/summarization/facts.py), recorded while the summary is written rather than
extracted afterwards; tests check that the extractor reads the same facts back.

Rows: {"id", "text", "summary", "specialty", "facts"}. A row depends only on (specialty, seed,
split, index), never on how many rows precede it.
"""

from __future__ import annotations

import json
import random
from functools import partial
from pathlib import Path

from src.data.synthetic import SyntheticSource
from src.tasks.summarization.synthetic.discharge import build_discharge_summary
from src.tasks.summarization.synthetic.operative import build_operative_note
from src.tasks.summarization.synthetic.radiology import build_radiology_report

GENERATOR_VERSION = "1.0.1"  # 1.0.1: no empty radiology section or impression
BUILDERS = {
    "radiology": build_radiology_report,
    "discharge": build_discharge_summary,
    "operative": build_operative_note,
}
SPECIALTIES = tuple(BUILDERS)


def generate_summary_rows(specialty: str, n: int, seed: int, split: str, seen: set[str]) -> list[dict]:
    """n rows of one specialty; a note text already in `seen` is redrawn (keeps splits disjoint)."""
    build = BUILDERS[specialty]
    rows = []
    for i in range(n):
        attempt = 0
        while True:
            rng = random.Random(f"medtune-summaries:{specialty}:{seed}:{split}:{i}:{attempt}")
            note = build(rng)
            if note.text not in seen:
                break
            attempt += 1
        seen.add(note.text)
        rows.append(
            {
                "id": f"syn-{specialty}-{split}-{i:06d}",
                "text": note.text,
                "summary": note.summary,
                "specialty": specialty,
                "facts": note.facts,
            }
        )
    return rows


def generate_summary_dataset(specialty: str, folder: Path, seed: int, n_train: int, n_eval: int) -> dict:
    """Writes folder/train.jsonl and folder/eval.jsonl; returns counts."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    counts = {}
    for split, n in (("train", n_train), ("eval", n_eval)):
        rows = generate_summary_rows(specialty, n, seed, split, seen)
        with open(folder / f"{split}.jsonl", "w", encoding="utf-8", newline="\n") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        counts[f"n_{split}"] = len(rows)
    return {"generator_version": GENERATOR_VERSION, "specialty": specialty, "seed": seed, **counts}


def synthetic_source(specialty: str) -> SyntheticSource:
    """The embedded notes of one specialty (cached as summarize_<specialty>-v...)."""
    return SyntheticSource(
        f"summarize_{specialty}", GENERATOR_VERSION, partial(generate_summary_dataset, specialty)
    )
