"""Quality guards: the real default model, trained by src.train (in this process) on small
deterministic data (tests/guard_data.py), must beat both the base model and the task's naive
reference on the main metric by a set margin. A change that breaks learning (a frozen head, a wrong loss, an
adapter that is never applied) fails here even when every run still finishes.

Margins: about half the smallest lead seen over seeds 0, 1 and 2 on 2 CPU cores (measured
2026-12-04; tuned vs the better of base and reference):
  coding          micro-F1 0.968-1.000 vs reference 0.602, base 0.543   lead >= 0.366, margin 0.20
  eligibility     work saved 0.579-0.630 vs reference 0.000, base 0.000 lead >= 0.579, margin 0.30
  radiology       ROUGE-L 0.723-0.767 vs reference 0.563, base 0.000    lead >= 0.160, margin 0.08
  generative      micro-F1 0.825-0.926 vs reference 0.602, base 0.000   lead >= 0.223, margin 0.10
  coding (MiniLM warm-started as an encoder-decoder, emitting codes)
With loop.lr=0 all four fail (tuned 0.554, -0.074, 0.000, 0.000): run
`GUARD_EXTRA=loop.lr=0 pytest tests/test_quality_guard.py` to see it.
"""

from __future__ import annotations

import os
from pathlib import Path

import guard_data
import pytest
from conftest import train_here

COMMON = ("data.train_size=null", "model.max_length=64", "trainer.max_epochs=3", "logger=none", "seed=0")


def generated(tokens: int) -> tuple[str, ...]:
    """Generative guards: target tokens learnt and generated, and validation outputs per epoch."""
    return f"task.max_target_length={tokens}", f"task.max_new_tokens={tokens}", "loop.val_generations=8"


GUARDS = {
    "coding": (
        guard_data.coding_files,
        ("task=coding", "data.val_size=40", "data.max_chunks=1"),
        0.20,
    ),
    "eligibility": (
        guard_data.eligibility_files,
        ("task=eligibility", "data.val_size=40", "task.criterion_max_length=48", "task.evidence_lines=1"),
        0.30,
    ),
    "summarize_radiology": (
        guard_data.radiology_files,
        ("task=summarize_radiology", "data.val_size=30", *generated(24)),
        0.08,
    ),
    "generative_coding": (
        guard_data.coding_files,
        ("task=coding", "model=minilm_seq2seq", "data.val_size=40", *generated(16)),
        0.10,
    ),
}


@pytest.mark.parametrize("guard", sorted(GUARDS))
def test_the_tuned_model_beats_base_and_reference_by_a_margin(guard: str, tmp_path: Path):
    write_files, overrides, margin = GUARDS[guard]
    train, evaluation = write_files(tmp_path / "data")
    extra = os.environ.get("GUARD_EXTRA", "").split()  # e.g. loop.lr=0: the guard must then fail
    metrics = train_here(
        tmp_path,
        tmp_path / "run",
        *COMMON,
        *overrides,
        f"data.path={train}",
        f"data.eval_path={evaluation}",
        *extra,
    )
    main = metrics["main_metric"]
    tuned, base = metrics["tuned"][main], metrics["base"][main]
    reference = metrics["reference"]["metrics"][main]
    name = metrics["reference"]["name"]
    assert tuned >= max(base, reference) + margin, (
        f"{guard}: tuned {main} {tuned:.3f}, base {base:.3f}, {name} {reference:.3f}; "
        f"the tuned model must lead both by {margin}"
    )
