"""The adapter a run ships is its best epoch's on the task's main metric over the validation slice
(callbacks.best_epoch), and that per-epoch score is the one the final evaluation computes."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import compose_config
from peft import get_peft_model_state_dict
from safetensors.torch import load_file

from src.tasks.coding.task import CodingTask
from src.train import train


def tiny_coding(tmp_path, tiny_bert, coding_files, *overrides: str):
    train_file, eval_file = coding_files
    return compose_config(
        *(f"model.name_or_path={tiny_bert}", f"data.path={train_file}", f"data.eval_path={eval_file}"),
        *("data.train_size=null", "model.max_length=32", "logger=none", "trainer.max_epochs=3"),
        f"paths.cache_dir={tmp_path / 'cache'}",
        *overrides,
    )


def test_a_run_whose_last_epoch_is_worse_ships_the_best_one(tmp_path, tiny_bert, coding_files, monkeypatch):
    scripted = iter([0.5, 0.9, 0.3])  # the validation micro-F1 of epochs 1, 2, 3
    snapshots = []  # the trainable weights each epoch was scored with, as peft saves them

    def epoch_metrics(self, model, outputs):
        snapshots.append({k: v.clone() for k, v in get_peft_model_state_dict(model).items()})
        return {"micro_f1": next(scripted)}

    monkeypatch.setattr(CodingTask, "epoch_metrics", epoch_metrics)
    run_dir = tmp_path / "run"
    metrics = train(tiny_coding(tmp_path, tiny_bert, coding_files), run_dir)

    training = metrics["training"]
    assert (training["best_epoch"], training["epochs_trained"]) == (2, 3)
    assert training["selected_on"] == "val/micro_f1"
    assert [point["val/micro_f1"] for point in training["curve"]] == [0.5, 0.9, 0.3]
    assert all(point["val/loss"] > 0 for point in training["curve"])
    saved = load_file(run_dir / "adapter" / "adapter_model.safetensors")
    assert saved.keys() == snapshots[1].keys()
    for key, value in saved.items():
        assert torch.equal(value, snapshots[1][key]), key
    assert any(not torch.equal(value, snapshots[2][key]) for key, value in saved.items())
    assert json.loads((run_dir / "metrics.json").read_text())["training"]["best_epoch"] == 2
    assert not (run_dir / "checkpoints").exists()  # best.ckpt goes with the resumable checkpoint


def test_without_the_callback_the_last_epoch_ships(tmp_path, tiny_bert, coding_files):
    metrics = train(tiny_coding(tmp_path, tiny_bert, coding_files, "~callbacks.best_epoch"), tmp_path / "run")
    assert metrics["training"]["best_epoch"] is None
    assert len(metrics["training"]["curve"]) == 3


@pytest.mark.parametrize("threshold", ["global", "per_code"])
def test_the_epoch_score_is_the_tuned_validation_metric(tmp_path, tiny_bert, coding_files, threshold):
    """One epoch: the score callbacks.best_epoch saw is the validation micro-F1 of the final
    evaluation (tuned decision on the slice), not a fixed-0.5-threshold curve."""
    overrides = ("trainer.max_epochs=1", f"task.threshold={threshold}")
    cfg = tiny_coding(tmp_path, tiny_bert, coding_files, *overrides)
    metrics = train(cfg, tmp_path / "run")
    epoch = metrics["training"]["curve"][-1]["val/micro_f1"]
    assert epoch == pytest.approx(metrics["validation"]["micro_f1"], abs=1e-6)
