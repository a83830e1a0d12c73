"""Checks before any heavy work: every problem a user can fix, reported together.

A run that fails after ten minutes of base evaluation because the output disk is full, or
that reports one bad setting at a time, wastes the user's time; these checks take seconds.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig

from src.errors import MedtuneError
from src.metrics import check_main_metric
from src.models import build, generative
from src.models.efficiency import check_compile
from src.tasks.base import Task

MIN_FREE_MB = 500  # adapter, W&B offline run, manifest: a few MB; checkpoints and margin the rest


def check_model(model_cfg: DictConfig) -> None:
    tokenizer = build.load_tokenizer(model_cfg)
    if model_cfg.family in generative.GENERATIVE:
        generative.model_config(model_cfg, tokenizer)  # random_init settings, or the checkpoint's
    else:
        build.encoder_config(model_cfg, tokenizer)  # random_init settings, or the checkpoint's


def check_quantized_trainer(cfg: DictConfig) -> None:
    quantization = cfg.model.get("quantization")
    if quantization is not None and cfg.trainer.accelerator == "cpu":
        raise MedtuneError(
            f"model.quantization={quantization} puts the base weights on the GPU, but "
            "trainer.accelerator=cpu would train on the CPU: add trainer=gpu"
        )


def check_run_dir(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=run_dir):
            pass
    except OSError as err:
        raise MedtuneError(
            f"cannot write to the run dir {run_dir} ({err.strerror}); set hydra.run.dir"
        ) from None
    free_mb = shutil.disk_usage(run_dir).free / 1e6
    if free_mb < MIN_FREE_MB:
        raise MedtuneError(
            f"only {free_mb:.0f} MB free at {run_dir}; a run needs about {MIN_FREE_MB} MB: "
            "free space or set hydra.run.dir to another disk"
        )


def preflight(cfg: DictConfig, task: Task, run_dir: Path) -> None:
    """Raises one MedtuneError listing every problem found, or returns when there is none."""
    # First and alone: quantized weights need a CUDA GPU and bitsandbytes. On a machine without
    # them no setting can make the run work, so nothing (tokenizer, data) is loaded to find out more.
    build.check_quantization(cfg.model.get("quantization"))
    checks: list[tuple[str, Callable[[], None]]] = [
        ("main metric", lambda: check_main_metric(cfg.task)),
        ("data", task.check_data),
        ("model", lambda: check_model(cfg.model)),
        ("quantization", lambda: check_quantized_trainer(cfg)),
        ("compile", lambda: check_compile(cfg)),
        ("run dir", lambda: check_run_dir(run_dir)),
    ]
    problems = []
    for name, check in checks:
        try:
            check()
        except MedtuneError as err:
            problems.append(f"{name}: {err}")
    if problems:
        listed = "\n  - ".join(problems)
        raise MedtuneError(f"{len(problems)} problem(s) found before training started:\n  - {listed}")
