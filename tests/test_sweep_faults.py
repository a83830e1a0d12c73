"""A parallel sweep whose worker is killed mid-job, rerun into the same folder, ends where an
uninterrupted sweep does: the same metrics, one W&B run per job, one valid base file.

Adapters agree to float noise, not bit for bit: a job that evaluated the base model itself
trains on slightly different numbers than one that read it back (see the issue 18 note)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT
from wandb_offline import find_offline_runs, read_offline_run


def joblib_sweep(data: Path, sweep_dir: Path, model: Path, marker: Path) -> subprocess.CompletedProcess:
    kill = "+callbacks.kill={_target_:kill_once.KillOnce,at_step:3}"
    return subprocess.run(
        [
            *(sys.executable, "-m", "src.train", "-m", f"hydra.sweep.dir={sweep_dir}"),
            *("hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"model.name_or_path={model}"),
            *(f"data.path={data / 'train.jsonl'}", f"data.eval_path={data / 'eval.jsonl'}"),
            *("data.train_size=40,60", "trainer.max_epochs=1", "model.max_length=32"),
            *("callbacks.checkpoint.every_n_steps=2", kill),
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "MEDTUNE_CACHE_DIR": str(data / "cache"),
            "WANDB_SILENT": "true",
            "KILL_ONCE_MARKER": str(marker),
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
        },
        capture_output=True,
        text=True,
        timeout=900,
    )


def results(sweep_dir: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep_dir.glob("*/metrics.json")}


def test_a_killed_worker_and_a_rerun_end_as_an_uninterrupted_sweep(sweep_data, tiny_bert, tmp_path):
    marker = tmp_path / "killed"
    marker.touch()  # taken: the reference sweep runs through
    reference = joblib_sweep(sweep_data, tmp_path / "reference", tiny_bert, marker)
    assert reference.returncode == 0, reference.stderr[-3000:]
    marker.unlink()

    sweep_dir = tmp_path / "faulted"
    killed = joblib_sweep(sweep_data, sweep_dir, tiny_bert, marker)
    assert killed.returncode != 0 and marker.exists()  # a worker died at step 3 of its job (of 5 or 8)
    assert len(results(sweep_dir)) < 2  # that job did not finish

    rerun = joblib_sweep(sweep_data, sweep_dir, tiny_bert, marker)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "resuming" in rerun.stdout + rerun.stderr
    expected, found = results(tmp_path / "reference"), results(sweep_dir)
    statuses = {p.parent.name: p.read_text() for p in sweep_dir.glob("*/status.json")}
    assert sorted(found) == sorted(expected) and len(found) == 2, (statuses, rerun.stderr[-3000:])
    for job, metrics in found.items():
        assert {k: metrics[k] for k in ("base", "tuned", "delta")} == {
            k: expected[job][k] for k in ("base", "tuned", "delta")
        }, job
        sessions = find_offline_runs(sweep_dir / job)  # offline-run-<time>-<run id>, one per session
        assert len({session.name.rsplit("-", 1)[1] for session in sessions}) == 1, sessions
        assert read_offline_run(sessions[-1]).summary  # the run's last session finished it
    base_files = list((sweep_dir / "base").glob("*.json"))
    assert len(base_files) == 1 and "metrics" in json.loads(base_files[0].read_text())
