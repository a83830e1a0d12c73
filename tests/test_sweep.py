"""Sweeps: jobs that fail are recorded and skipped past, finished jobs are skipped on a re-run,
W&B runs carry the keys sweeps are compared by, and src.report writes the tables and plots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT
from wandb_offline import find_offline_runs, read_offline_run

from src.report import PLOTS


def sweep(folder: Path, sweep_dir: Path, model: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            *(
                sys.executable,
                "-m",
                "src.train",
                "-m",
                f"hydra.sweep.dir={sweep_dir}",
                f"model.name_or_path={model}",
            ),
            *(f"data.path={folder / 'train.jsonl'}", f"data.eval_path={folder / 'eval.jsonl'}"),
            *("trainer.max_epochs=1", "model.max_length=32", *overrides),
        ],
        cwd=ROOT,
        env={**os.environ, "MEDTUNE_CACHE_DIR": str(folder / "cache"), "WANDB_SILENT": "true"},
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_a_failing_job_is_recorded_and_a_rerun_skips_finished_jobs(sweep_data, tiny_bert):
    sweep_dir = sweep_data / "grid"
    # data.train_size=9999 cannot be met by 80 notes: those two jobs fail, the others run.
    first = sweep(sweep_data, sweep_dir, tiny_bert, "data.train_size=40,9999", "lora.r=4,8")
    assert first.returncode == 0, first.stderr[-3000:]
    statuses = {p.parent.name: json.loads(p.read_text()) for p in sweep_dir.glob("*/status.json")}
    assert sorted(s["status"] for s in statuses.values()) == ["complete", "complete", "failed", "failed"]
    failed = [s for s in statuses.values() if s["status"] == "failed"]
    assert all("data.train_size=9999" in s["error"] for s in failed)
    assert "failed: 1 problem(s) found before training started" in first.stderr

    assert_base_evaluated_once(sweep_dir)

    finished = sorted(sweep_dir.glob("*/metrics.json"))
    stamps = [p.stat().st_mtime_ns for p in finished]
    again = sweep(sweep_data, sweep_dir, tiny_bert, "data.train_size=40,9999", "lora.r=4,8")
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("skipping") == 2 and again.stderr.count("failed:") == 2
    assert [p.stat().st_mtime_ns for p in finished] == stamps  # not retrained

    # W&B: one group per sweep; the keys sweeps are compared by are top-level config keys.
    runs = [read_offline_run(r) for r in find_offline_runs(sweep_dir)]
    assert len(runs) == 2 and len({r.group for r in runs}) == 1 and runs[0].group.endswith("-grid")
    for run in runs:
        assert {"task", "model", "train_size", "lora_r", "seed"} <= set(run.config)
        assert {"base/micro_f1", "tuned/micro_f1", "delta/micro_f1"} <= set(run.summary)
    assert sorted(r.config["lora_r"] for r in runs) == [4, 8]

    report = subprocess.run(
        [sys.executable, "-m", "src.report", str(sweep_dir)], cwd=ROOT, capture_output=True, text=True
    )
    assert report.returncode == 0, report.stderr[-3000:]
    results = pd.read_csv(sweep_dir / "results.csv")
    assert len(results) == 4 and sorted(results.status) == ["complete", "complete", "failed", "failed"]
    assert {"overrides", "base_micro_f1", "tuned_micro_f1", "delta_micro_f1", "wall_s", "error"} <= set(
        results
    )
    table = (sweep_dir / "results.md").read_text()
    assert "| **40** |" in table and "data.train_size=9999" in table
    for name in PLOTS:
        assert (sweep_dir / "plots" / name).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "launcher, banner",
    [
        (["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], "Joblib.Parallel"),
        (["hydra/launcher=submitit_local"], "Submitit 'local' sweep"),  # the SLURM launcher's code path
    ],
)
def test_jobs_run_in_separate_processes_with_other_launchers(sweep_data, tiny_bert, launcher, banner):
    sweep_dir = sweep_data / launcher[0].split("=")[1]
    result = sweep(sweep_data, sweep_dir, tiny_bert, *launcher, "data.train_size=30,40", "logger=none")
    assert result.returncode == 0, result.stderr[-3000:]
    assert banner in result.stdout + result.stderr
    assert (
        sorted(json.loads(p.read_text())["status"] for p in sweep_dir.glob("*/status.json"))
        == ["complete"] * 2
    )
    assert_base_evaluated_once(sweep_dir)  # jobs running side by side: one evaluates, one waits


def assert_base_evaluated_once(sweep_dir: Path) -> None:
    """The first job evaluates the base model, every other job reads its result back."""
    metrics = [json.loads(p.read_text()) for p in sorted(sweep_dir.glob("*/metrics.json"))]
    assert len(metrics) >= 2
    assert sum(m["base_reused_from"] is None for m in metrics) == 1
    assert all(m["base"] == metrics[0]["base"] for m in metrics)
    assert len(list((sweep_dir / "base").glob("*.json"))) == 1
