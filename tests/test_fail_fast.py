"""Runs stop with a clear message on bad numbers, and repeat exactly with the same seed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
    result = train(tmp_path, run_dir, tiny_bert, coding_files, "trainer.lr=1e30")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "training loss became nan" in result.stderr and "lower trainer.lr" in result.stderr
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
