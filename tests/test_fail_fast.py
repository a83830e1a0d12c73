"""Runs stop with a clear message on bad numbers, and repeat exactly with the same seed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT


def train(tmp_path: Path, run_dir: Path, model: Path, files, *overrides: str) -> subprocess.CompletedProcess:
    train_file, eval_file = files
    return subprocess.run(
        [
            *(sys.executable, "-m", "src.train", f"hydra.run.dir={run_dir}", f"model.name_or_path={model}"),
            *(f"data.path={train_file}", f"data.eval_path={eval_file}", "data.train_size=null"),
            *("trainer.max_epochs=2", "model.max_length=32", "logger=none", *overrides),
        ],
        cwd=ROOT,
        env={**os.environ, "MEDTUNE_CACHE_DIR": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_non_finite_loss_stops_the_run_with_a_clear_message(tmp_path, tiny_bert, coding_files):
    run_dir = tmp_path / "run"
    result = train(tmp_path, run_dir, tiny_bert, coding_files, "loop.lr=1e30")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "training loss became nan" in result.stderr and "lower loop.lr" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (run_dir / "metrics.json").exists() and not (run_dir / "adapter").exists()


def test_same_seed_same_data_same_config_gives_the_same_metrics(tmp_path, tiny_bert, coding_files):
    metrics, weights = [], []
    for name in ("first", "second", "seed1"):
        result = train(
            tmp_path, tmp_path / name, tiny_bert, coding_files, *(["seed=1"] if name == "seed1" else [])
        )
        assert result.returncode == 0, result.stderr[-2000:]
        metrics.append(json.loads((tmp_path / name / "metrics.json").read_text()))
        weights.append((tmp_path / name / "adapter" / "adapter_model.safetensors").read_bytes())
    for part in ("base", "tuned", "delta"):
        assert metrics[0][part] == metrics[1][part]
    assert weights[0] == weights[1]  # bit for bit, on this machine
    assert weights[2] != weights[0]  # and the seed does matter


def test_preflight_reports_every_problem_together(tmp_path, tiny_bert, coding_files):
    run_dir = tmp_path / "run"
    result = train(tmp_path, run_dir, tmp_path / "no-model", (tmp_path / "missing.jsonl", coding_files[1]))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "2 problem(s) found before training started" in result.stderr
    assert "data: data file not found" in result.stderr and "model: model.name_or_path" in result.stderr
    assert not (run_dir / "metrics.json").exists()


def test_preflight_refuses_a_nearly_full_disk(tmp_path, monkeypatch):
    import shutil

    from src.errors import MedtuneError
    from src.preflight import check_run_dir

    check_run_dir(tmp_path)  # a normal disk passes
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage._replace(free=10_000_000))
    with pytest.raises(MedtuneError, match=r"only 10 MB free at .*; a run needs about 500 MB"):
        check_run_dir(tmp_path)
