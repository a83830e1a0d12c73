"""Experiment loggers from conf/logger: W&B (offline by default), CSV, or none."""

from __future__ import annotations

import os
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger
from omegaconf import DictConfig, OmegaConf


def flat_config(cfg: DictConfig) -> dict:
    """Dotted keys for every leaf, plus the few top-level keys sweeps compare runs by."""
    flat = {}

    def walk(node, prefix: str) -> None:
        for key, value in node.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(value, f"{name}.")
            else:
                flat[name] = value

    walk(OmegaConf.to_container(cfg, resolve=True), "")
    flat.update(
        {
            "task": cfg.task.name,
            "model": cfg.model.short_name,
            "train_size": cfg.data.train_size,
            "lora_r": cfg.lora.r,
            "seed": cfg.seed,
        }
    )
    return flat


def build_logger(cfg: DictConfig, run_dir: Path) -> Logger | None:
    log_cfg = cfg.logger
    if log_cfg.backend == "none":
        return None
    if log_cfg.backend == "csv":
        return CSVLogger(save_dir=run_dir, name="csv", version="")
    os.environ.setdefault("WANDB_SILENT", "true")
    import wandb

    logger = WandbLogger(
        name=cfg.run_name,
        project=log_cfg.project,
        entity=log_cfg.entity,
        group=log_cfg.group or f"{cfg.task.name}-{cfg.model.short_name}",
        tags=list(log_cfg.tags),
        save_dir=str(run_dir),  # the offline run lives in the run dir: one self-contained folder
        offline=log_cfg.mode == "offline",
        reinit="create_new",  # several Hydra jobs in one process must not share a run
        settings=wandb.Settings(console="off"),  # stdout never goes to W&B
    )
    logger.log_hyperparams(flat_config(cfg))
    return logger


def log_summary(logger: Logger | None, values: dict[str, float]) -> None:
    if isinstance(logger, WandbLogger):
        logger.experiment.summary.update(values)


def close(logger: Logger | None) -> None:
    if isinstance(logger, WandbLogger):
        logger.experiment.finish()
