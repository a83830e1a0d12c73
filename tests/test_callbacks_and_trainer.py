"""The trainer, loop, callbacks and logger groups: Lightning's Trainer, callbacks and logger built
from their configs, Trainer arguments and callbacks added from the command line, typos refused
before any work, and one short run that stops early and logs its learning rate."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import torch
from conftest import compose_config, train_run
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from src.errors import MedtuneError
from src.train import build_callbacks, build_trainer
from src.training.checkpoints import CHECKPOINT, Checkpointer
from src.training.loggers import build_logger


@pytest.mark.parametrize(
    ("overrides", "added"),
    [
        ((), []),
        (("+callbacks=early_stopping",), ["early_stopping"]),
        (("+callbacks=lr_monitor",), ["lr_monitor"]),
        (("+callbacks=[early_stopping,lr_monitor]",), ["early_stopping", "lr_monitor"]),
    ],
)
def test_callbacks_compose_beside_the_checkpoint(overrides, added):
    callbacks = compose_config(*overrides).callbacks
    assert list(callbacks) == ["checkpoint", "best_epoch", *added]
    assert callbacks.checkpoint._target_ == "src.training.checkpoints.Checkpointer"
    # Both select on the task's main metric, as the final evaluation computes it on the val slice.
    assert callbacks.best_epoch.monitor == "val/micro_f1"
    if "early_stopping" in added:
        assert callbacks.early_stopping.monitor == "val/micro_f1"


def test_trainer_callbacks_and_logger_are_built_from_their_configs(tmp_path):
    cfg = compose_config(
        *("+callbacks=[early_stopping,lr_monitor]", "callbacks.early_stopping.patience=1"),
        *("callbacks.checkpoint.every_n_steps=7", "callbacks.checkpoint.keep=true", "logger=csv"),
        *("trainer.max_epochs=2", "+trainer.limit_train_batches=5"),  # a Trainer argument conf/ lacks
    )
    checkpointer, others = build_callbacks(cfg, tmp_path)
    assert isinstance(checkpointer, Checkpointer) and checkpointer.path == tmp_path / CHECKPOINT
    assert (checkpointer.every_n_steps, checkpointer.keep) == (7, True)
    assert [type(c) for c in others] == [ModelCheckpoint, EarlyStopping, LearningRateMonitor]
    assert others[0].dirpath == str(tmp_path / CHECKPOINT.parent)  # removed with the checkpoint
    assert others[1].patience == 1 and others[1].monitor == "val/micro_f1"
    logger = build_logger(cfg, tmp_path)
    assert isinstance(logger, CSVLogger) and Path(logger.log_dir) == tmp_path / "csv"
    trainer = build_trainer(cfg, tmp_path, torch.nn.Linear(1, 1), logger, [*others, checkpointer])
    assert (trainer.max_epochs, trainer.limit_train_batches, trainer.num_sanity_val_steps) == (2, 5, 0)
    assert trainer.default_root_dir == str(tmp_path) and trainer.logger is logger
    assert not trainer._accelerator_connector.use_distributed_sampler
    assert trainer.checkpoint_callback is others[0]  # Lightning's only ModelCheckpoint: the best epoch's
    assert all(callback in trainer.callbacks for callback in (checkpointer, *others))
    assert build_logger(compose_config("logger=none"), tmp_path) is None
    assert build_trainer(compose_config(), tmp_path, torch.nn.Linear(1, 1), None, []).logger is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("trainer.max_epoch=1",), "Could not override 'trainer.max_epoch'"),  # not in the composed config
        (
            ("+trainer.max_epoch=1",),
            "invalid config key 'trainer.max_epoch': not an argument of lightning.pytorch.Trainer; "
            "did you mean trainer.max_epochs?",
        ),
        (("+trainer.lr=1e-3",), "'trainer.lr': not a Trainer argument but medtune's loop.lr"),
        (("+trainer.logger=false",), "invalid config key 'trainer.logger': set by medtune"),
        (("+trainer.use_distributed_sampler=true",), "'trainer.use_distributed_sampler': always false"),
        (("trainer.max_epochs=two",), "invalid config key 'trainer.max_epochs': Value 'two'"),
        (
            ("+callbacks=early_stopping", "+callbacks.early_stopping.patiense=0"),
            "invalid config key 'callbacks.early_stopping.patiense': not an argument of "
            "lightning.pytorch.callbacks.EarlyStopping; did you mean callbacks.early_stopping.patience?",
        ),
        (("+callbacks.mine={monitor:val/loss}",), "callbacks.mine needs a _target_"),
        (("callbacks.checkpoint.every_n_steps=-1",), "callbacks.checkpoint.every_n_steps must be 0"),
        (("logger=csv", "+logger.nam=x"), "invalid config key 'logger.nam'.*did you mean logger.name?"),
        (("logger=csv", "+logger.save_dir=x"), "invalid config key 'logger.save_dir': set by medtune"),
        (("+logger.projct=x",), "invalid config key 'logger.projct'"),
    ],
)
def test_a_wrong_key_fails_naming_it(overrides, message):
    with pytest.raises(MedtuneError, match=message):
        compose_config(*overrides)


def test_early_stopping_stops_the_run_and_lr_monitor_logs_the_rate(tmp_path, tiny_bert, coding_files):
    train_file, eval_file = coding_files
    run_dir = tmp_path / "run"
    overrides = (
        *(f"model.name_or_path={tiny_bert}", f"data.path={train_file}", f"data.eval_path={eval_file}"),
        *("data.train_size=null", "model.max_length=32", "logger=csv", "trainer.log_every_n_steps=1"),
        "+callbacks=[early_stopping,lr_monitor]",
        # No validation loss improves on the first by 100: the run stops after its 2nd epoch of 3.
        "trainer.max_epochs=3",
        *("callbacks.early_stopping.patience=0", "callbacks.early_stopping.min_delta=100"),
        "callbacks.checkpoint.keep=true",
    )
    metrics = train_run(tmp_path, run_dir, *overrides)
    with (run_dir / "csv" / "metrics.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert {int(row["epoch"]) for row in rows if row["val/loss"]} == {0, 1}
    rates = [float(row["lr-AdamW"]) for row in rows if row["lr-AdamW"]]
    assert len(rates) > 2 and max(rates) > rates[0]  # every step logged: warmup, then decay

    # The last checkpoint knows the run stopped: EarlyStopping's state and the stop itself.
    checkpoint = torch.load(run_dir / CHECKPOINT, weights_only=True)
    states = checkpoint["callbacks"]
    stopping = next(state for name, state in states.items() if name.startswith("EarlyStopping"))
    assert (stopping["wait_count"], stopping["stopped_epoch"]) == (1, 1) and checkpoint["should_stop"]
    # Killed during its tuned evaluation, it resumes to the same adapter: no 3rd epoch trained.
    adapter = (run_dir / "adapter" / "adapter_model.safetensors").read_bytes()
    shutil.rmtree(run_dir / "adapter")
    for name in ("metrics.json", "manifest.json", "MODEL_CARD.md", "status.json"):
        (run_dir / name).unlink()
    for name in ("errors.md", "errors.json", "reliability.png"):  # coding's reports, written after too
        (run_dir / name).unlink()
    resumed = train_run(tmp_path, run_dir, *overrides, "resume=auto")
    assert resumed["tuned"] == metrics["tuned"]
    assert (run_dir / "adapter" / "adapter_model.safetensors").read_bytes() == adapter
