"""bench.compare end to end on tiny models, one section (task) at a time: every implementation
trains in its own process and the last line is the JSON record tracked over time. Its speed
figures are not asserted (shared machines)."""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys

import pytest
from conftest import ROOT

TINY = [
    "data.synthetic.n_train=60",
    "data.synthetic.n_eval=20",
    "data.synthetic.val_size=8",
    "model.max_length=64",
    "loop.batch_size=4",
]


def run_compare(tmp_path, *args: str) -> tuple[dict, str]:
    """(the last line's JSON record, the whole output) of python -m bench.compare args."""
    env = {**os.environ, "MEDTUNE_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-m", "bench.compare", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stdout


def positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def test_compare_trains_all_three_and_ends_with_a_json_record(tmp_path, tiny_bert):
    args = ("--tasks", "coding", "--train-size", "16", "--epochs", "1", f"model.name_or_path={tiny_bert}")
    record, stdout = run_compare(tmp_path, *args, *TINY)
    assert set(record["speedup_vs_trainer"]) == {"coding"}
    assert positive(record["speedup_vs_trainer"]["coding"])
    coding = record["coding"]
    for key in ("speedup_vs_trainer", "speedup_vs_plain", "padding_efficiency", "peak_rss_ratio_vs_plain"):
        assert positive(coding[key]), key
    for kind in ("medtune", "plain", "hf_trainer"):
        assert coding[f"{kind}_examples_per_s"] > 0
        assert 0.0 <= coding[f"{kind}_micro_f1"] <= 1.0
        assert coding[f"{kind}_peak_rss_mb"] > 100  # a Python process with torch loaded
    assert "decoding_speedup_vs_generate" not in record  # no summaries section run
    assert "medtune" in stdout and "hf_trainer" in stdout  # the readable table


def test_eligibility_section_trains_medtune_and_trainer_on_criterion_sequences(tmp_path, tiny_bert):
    args = ("--tasks", "eligibility", "--train-size", "16", "--epochs", "1")
    args += (f"model.name_or_path={tiny_bert}",)
    # eligibility: its base model reads whole pairs, at most the tiny model's 128 positions
    record, stdout = run_compare(tmp_path, *args, *TINY, "eligibility:task.max_length=128")
    assert set(record["speedup_vs_trainer"]) == {"eligibility"}
    section = record["eligibility"]
    assert section["metric"] == "wss_at_target" and "task=eligibility" in section["settings"]
    assert positive(section["speedup_vs_trainer"]) and "speedup_vs_plain" not in section
    for kind in ("medtune", "hf_trainer"):
        assert section[f"{kind}_examples_per_s"] > 0 and section[f"{kind}_peak_rss_mb"] > 100
        assert 0 < section[f"{kind}_padding_efficiency"] <= 1
        assert -1.0 <= section[f"{kind}_wss_at_target"] <= 1.0
    assert "hf_trainer" in stdout and "plain" not in stdout


def test_summaries_section_trains_against_seq2seq_trainer_and_decodes_both_ways(tmp_path):
    small = ("model=tiny_t5", "model.max_length=64", "task.max_new_tokens=6", "loop.eval_batch_size=4")
    data = ("data.synthetic.n_train=40", "data.synthetic.n_eval=12", "data.synthetic.eval_size=4")
    record, stdout = run_compare(
        tmp_path, "--tasks", "summaries", "--train-size", "8", "--epochs", "1", *small, *data,
        "data.synthetic.val_size=4", "loop.batch_size=4",
    )  # fmt: skip
    assert set(record["speedup_vs_trainer"]) == {"summaries"}
    section = record["summaries"]
    assert section["metric"] == "rougeL" and "task=summarize_radiology" in section["settings"]
    for kind in ("medtune", "seq2seq_trainer"):
        assert section[f"{kind}_examples_per_s"] > 0 and 0.0 <= section[f"{kind}_rougeL"] <= 1.0
    assert positive(record["decoding_speedup_vs_generate"])
    assert record["decoding_speedup_vs_generate"] == section["decoding_speedup_vs_generate"]
    # the same trained model decoding the same prompts greedily: the same outputs
    assert record["greedy_identical_share"] == 1.0
    for kind in ("medtune", "generate"):
        assert section["decoding"][kind]["tokens_per_s"] > 0
    assert "seq2seq_trainer" in stdout and "decoding" in stdout


def test_overrides_prefixed_with_a_section_apply_to_it_alone():
    from bench.compare import section_overrides

    args = argparse.Namespace(
        train_size=None,
        epochs=2,
        overrides=["loop.batch_size=4", "summaries:model=tiny_t5", "data.path=s3://x"],
    )
    summaries = section_overrides("summaries", args)
    assert summaries[:3] == ["task=summarize_radiology", "data.train_size=200", "trainer.max_epochs=2"]
    assert summaries[3:5] == ["data.synthetic.val_size=48", "data.synthetic.eval_size=48"]  # its defaults
    assert summaries[5:] == ["loop.batch_size=4", "data.path=s3://x", "model=tiny_t5"]
    assert "model=tiny_t5" not in section_overrides("coding", args)
    args.overrides = ["sumaries:model=tiny_t5"]
    with pytest.raises(SystemExit, match="names no section"):
        section_overrides("coding", args)
