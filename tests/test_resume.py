"""Killed runs resume from their last checkpoint and end exactly where an uninterrupted run does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from conftest import ROOT, coding_rows, compose_config, write_jsonl
from lightning.pytorch.strategies import SingleDeviceStrategy
from omegaconf import OmegaConf

from src.errors import MedtuneError
from src.training.checkpoints import CHECKPOINT, MARK, Checkpointer, check_checkpoint, resolve_resume

# 180 training notes / batch 8 = 23 steps per epoch; checkpoints every 4 steps and at epoch ends.
STEPS_PER_EPOCH = 23


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_bert) -> SimpleNamespace:
    folder = tmp_path_factory.mktemp("resume")
    train_file = write_jsonl(folder / "train.jsonl", coding_rows(200, "t"))
    eval_file = write_jsonl(folder / "eval.jsonl", coding_rows(16, "e"))
    args = [
        *(f"model.name_or_path={tiny_bert}", f"data.path={train_file}", f"data.eval_path={eval_file}"),
        *("data.train_size=null", "trainer.max_epochs=2", "model.max_length=32", "logger=csv"),
        "callbacks.checkpoint.every_n_steps=4",
    ]
    return SimpleNamespace(folder=folder, args=args, model=tiny_bert)


def launch(setup, run_dir: Path, *extra: str, interrupt: tuple[str, int] | None = None):
    """`python -m src.train`, or with interrupt=(signal, step) the same run signalling itself
    in the middle of training step step + 1 (tests/interrupt_run.py)."""
    entry = ["tests/interrupt_run.py", *map(str, interrupt)] if interrupt else ["-m", "src.train"]
    return subprocess.run(
        [sys.executable, *entry, f"hydra.run.dir={run_dir}", *setup.args, *extra],
        cwd=ROOT,
        env={**os.environ, "MEDTUNE_CACHE_DIR": str(setup.folder / "cache"), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def uninterrupted(setup) -> Path:
    run_dir = setup.folder / "uninterrupted"
    result = launch(setup, run_dir, "callbacks.checkpoint.keep=true")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def same_result(run_dir: Path, reference: Path) -> None:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    expected = json.loads((reference / "metrics.json").read_text())
    assert metrics["tuned"] == expected["tuned"]
    weights = "adapter/adapter_model.safetensors"
    assert (run_dir / weights).read_bytes() == (reference / weights).read_bytes()  # bit for bit on CPU


@pytest.mark.parametrize(
    "signal_name, step, checkpoint_step",
    [
        ("KILL", 10, 8),  # mid-epoch: steps 9-10 are lost and redone from the step-8 checkpoint
        ("KILL", STEPS_PER_EPOCH, STEPS_PER_EPOCH),  # just after the epoch-end checkpoint
        ("TERM", 13, 14),  # SIGTERM: the step in progress finishes and is checkpointed
    ],
)
def test_interrupted_run_resumes_to_the_uninterrupted_result(
    setup, uninterrupted, tmp_path, signal_name, step, checkpoint_step
):
    run_dir = tmp_path / "run"
    killed = launch(setup, run_dir, interrupt=(signal_name, step))
    if signal_name == "KILL":
        assert killed.returncode == -9
    else:
        assert killed.returncode == 143, killed.stderr[-3000:]
        assert f"stopped by SIGTERM at step {checkpoint_step}" in killed.stderr
        assert f"resume={run_dir}" in killed.stderr and "Traceback" not in killed.stderr
    assert not (run_dir / "metrics.json").exists()
    checkpoint = torch.load(run_dir / CHECKPOINT, weights_only=True)
    assert checkpoint["global_step"] == checkpoint_step

    resumed = launch(setup, run_dir, "resume=auto")  # the same command, plus resume
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming {run_dir}" in resumed.stdout
    same_result(run_dir, uninterrupted)
    assert json.loads((run_dir / "metrics.json").read_text())["resumed_at_step"] == checkpoint_step
    assert not (run_dir / "checkpoints").exists()  # removed once the adapter is written


def test_checkpoints_hold_the_trainable_weights_only(setup, uninterrupted):
    checkpoint_file = uninterrupted / CHECKPOINT
    checkpoint = torch.load(checkpoint_file, weights_only=True)
    assert checkpoint["global_step"] == 2 * STEPS_PER_EPOCH
    assert all(".lora_" in key or ".classifier." in key for key in checkpoint["state_dict"])
    base_weights = (setup.model / "model.safetensors").stat().st_size
    assert checkpoint_file.stat().st_size < base_weights / 10  # adapter-sized, not model-sized


def test_checkpointer_never_replaces_a_good_checkpoint_with_diverged_weights(tmp_path):
    checkpointer = Checkpointer(tmp_path, every_n_steps=1)
    diverged = torch.nn.Linear(2, 2)
    with torch.no_grad():
        diverged.weight[0, 0] = float("nan")
    one_process = SingleDeviceStrategy("cpu")  # its reduce_boolean_decision: the rank's own
    checkpointer.save(SimpleNamespace(global_step=5, lightning_module=diverged, strategy=one_process))
    assert not checkpointer.path.exists() and checkpointer.saved_step == -1


def fake_run(root: Path, name: str, cfg, finished: bool = False) -> Path:
    run_dir = root / "2026-11-27" / name
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "resolved.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    (run_dir / CHECKPOINT).parent.mkdir()
    (run_dir / CHECKPOINT).write_bytes(b"checkpoint")
    if finished:
        (run_dir / "metrics.json").write_text("{}")
    return run_dir


def test_resume_auto_finds_the_unfinished_run_of_the_same_config(tmp_path):
    cfg = compose_config("resume=auto", "lora.r=8")
    other = compose_config("resume=auto", "lora.r=4")
    wanted = fake_run(tmp_path, "10-00-00", cfg)
    fake_run(tmp_path, "11-00-00", other)  # newer, another config
    fake_run(tmp_path, "12-00-00", cfg, finished=True)  # newer, finished
    fresh = tmp_path / "2026-11-28" / "09-00-00"
    assert resolve_resume(cfg, fresh) == wanted
    assert resolve_resume(compose_config("resume=auto", "lora.r=16"), fresh) is None  # nothing: fresh run


def test_resume_of_another_config_names_the_differences(tmp_path):
    run_dir = fake_run(tmp_path, "10-00-00", compose_config("lora.r=8"))
    with pytest.raises(MedtuneError, match=r"lora.r: 8 then, 4 now"):
        resolve_resume(compose_config(f"resume={run_dir}", "lora.r=4"), tmp_path / "new")
    # Logging and thread settings may change between sessions.
    same = compose_config(f"resume={run_dir}", "lora.r=8", "logger=none", "loop.num_threads=1")
    assert resolve_resume(same, tmp_path / "new") == run_dir


def test_resume_refuses_finished_runs_and_dirs_without_a_checkpoint(tmp_path):
    finished = fake_run(tmp_path, "10-00-00", compose_config(), finished=True)
    with pytest.raises(MedtuneError, match="already finished"):
        resolve_resume(compose_config(f"resume={finished}"), tmp_path / "new")
    with pytest.raises(MedtuneError, match="no checkpoint at"):
        resolve_resume(compose_config(f"resume={tmp_path}"), tmp_path / "new")


def test_a_fresh_run_refuses_a_dir_holding_an_unfinished_checkpoint(setup, tmp_path):
    run_dir = fake_run(tmp_path, "10-00-00", compose_config())
    result = launch(setup, run_dir)
    assert result.returncode == 2 and "holds the checkpoint of an unfinished run" in result.stderr
    assert (run_dir / CHECKPOINT).read_bytes() == b"checkpoint"  # untouched


class RunsCode:
    """Unpickling this runs a shell command: what a crafted checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_resume_refuses_a_crafted_pickle_without_running_it(setup, tmp_path):
    marker = tmp_path / "code-ran"
    run_dir = fake_run(tmp_path, "10-00-00", compose_config(*setup.args))
    torch.save({MARK: 1, "state_dict": {}, "payload": RunsCode(marker)}, run_dir / CHECKPOINT)
    result = launch(setup, run_dir, "resume=auto")
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-3000:]
    assert "is not a checkpoint medtune can load safely" in result.stderr and "Traceback" not in result.stderr
    assert not marker.exists()
    torch.load(run_dir / CHECKPOINT, weights_only=False)  # the file is armed: a plain load runs it
    assert marker.exists()


def test_resume_refuses_a_checkpoint_medtune_did_not_write(tmp_path):
    foreign = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 0}, foreign)
    with pytest.raises(MedtuneError, match="is not a medtune checkpoint"):
        check_checkpoint(foreign)
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(MedtuneError, match="can load safely"):
        check_checkpoint(tmp_path / "junk.ckpt")
