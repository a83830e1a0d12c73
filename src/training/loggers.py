"""Experiment loggers from conf/logger (each names its _target_): W&B (offline by default), CSV, or none."""

from __future__ import annotations

import json
import os
from pathlib import Path

from lightning.pytorch.loggers import Logger, WandbLogger
from omegaconf import DictConfig, OmegaConf

from src.config import LOGGER_OWN_KEYS, WANDB_LOGGER, instantiate_with
from src.run_dir import sweep_dir


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


def default_group(cfg: DictConfig) -> str:
    """<task>-<model>, plus the sweep's folder name for the jobs of a sweep: one group per sweep."""
    return group_name(cfg, sweep_dir())


def summary_key(part: str, metric: str) -> str:
    """The run-summary key of a final metric: part is base, tuned or delta."""
    return f"{part}/{metric}"


def group_name(cfg: DictConfig, sweep_dir: Path | None = None) -> str:
    group = f"{cfg.task.name}-{cfg.model.short_name}"
    return f"{group}-{sweep_dir.resolve().name}" if sweep_dir else group


def previous_wandb_id(run_dir: Path) -> str | None:
    """The W&B run id of an earlier session of this run dir (folder names end in -<id>)."""
    runs = sorted((run_dir / "wandb").glob("*run-*-*"))
    return runs[0].name.rsplit("-", 1)[1] if runs else None


def build_logger(cfg: DictConfig, run_dir: Path) -> Logger | None:
    """The logger cfg.logger describes (None for logger=none), given the flat config as its
    hyperparameters. The code supplies where it writes: medtune's W&B factory gets the config
    (the run dir's earlier W&B run, if any, continues); any other logger save_dir=run_dir."""
    kwargs = OmegaConf.to_container(cfg.logger, resolve=True)
    for key in LOGGER_OWN_KEYS:  # medtune's settings, not the logger's arguments
        kwargs.pop(key, None)
    if kwargs["_target_"] is None:
        return None
    if is_wandb(cfg.logger):
        logger = instantiate_with(kwargs, cfg=cfg, run_dir=run_dir)
    else:
        logger = instantiate_with(kwargs, save_dir=run_dir)
    logger.log_hyperparams(flat_config(cfg))
    return logger


def is_wandb(logger_cfg: DictConfig) -> bool:
    return logger_cfg.get("_target_") == WANDB_LOGGER


def wandb_logger(
    cfg: DictConfig,
    run_dir: Path,
    project: str,
    entity: str | None,
    mode: str,
    group: str | None,
    tags: list[str],
) -> WandbLogger:
    """logger=wandb: a WandbLogger named after the run, its offline files in the run dir."""
    os.environ.setdefault("WANDB_SILENT", "true")
    import wandb

    # A resumed run, or a sweep job started again after an attempt killed before its first
    # checkpoint: the run dir's earlier W&B run continues, one W&B run per run dir.
    previous = previous_wandb_id(run_dir)

    return WandbLogger(
        name=cfg.run_name,
        project=project,
        entity=entity,
        group=group or default_group(cfg),
        tags=list(tags),
        save_dir=str(run_dir),  # the offline run lives in the run dir: one self-contained folder
        offline=mode == "offline",
        reinit="create_new",  # several Hydra jobs in one process must not share a run
        id=previous,
        resume="allow" if previous else None,
        settings=wandb.Settings(console="off"),  # stdout never goes to W&B
    )


def log_summary(logger: Logger | None, values: dict[str, float]) -> None:
    if isinstance(logger, WandbLogger):
        logger.experiment.summary.update(values)


def log_artefact_lineage(logger: Logger | None, run_dir: Path, manifest: dict) -> None:
    """The adapter as a W&B model artifact, the data as a dataset artifact by reference.

    References carry each file's path and checksum, never its content. Online, the data is
    declared as the run's input (`use_artifact`), so W&B draws data -> run -> adapter; wandb
    refuses inputs in offline runs, so there it is logged beside the adapter with the same hashes.
    """
    if not isinstance(logger, WandbLogger):
        return
    import wandb

    run = logger.experiment
    data = wandb.Artifact(
        f"{manifest['task']}-data",
        type="dataset",
        metadata={"files": manifest["data"]["files"], "splits": manifest["data"]["splits"]},
    )
    for role, entry in manifest["data"]["files"].items():
        where = (Path(manifest["data"]["root"]) / entry["path"]).resolve()  # paths are relative to root
        data.add_reference(where.as_uri(), name=f"{role}{where.suffix}")
    if run.offline:
        run.log_artifact(data)
    else:
        run.use_artifact(data)
    adapter = wandb.Artifact(
        f"{manifest['run_name']}-adapter",
        type="model",
        metadata={
            "base_model": manifest["base_model"]["name_or_path"],
            "adapter_sha256": manifest["adapter"]["sha256"],
            "tuned": manifest["metrics"]["tuned"],
            "delta": manifest["metrics"]["delta"],
        },
    )
    adapter.add_dir(str(run_dir / "adapter"), name="adapter")
    for name in ("manifest.json", "MODEL_CARD.md"):
        adapter.add_file(str(run_dir / name), name=name)
    run.log_artifact(adapter)


def log_examples(logger: Logger | None, rows: list[dict]) -> None:
    """A W&B table of evaluation examples, text included: called only on the user's opt-in."""
    if not isinstance(logger, WandbLogger) or not rows:
        return
    columns = list(rows[0])
    data = [[json.dumps(v) if isinstance(v, list | dict) else v for v in row.values()] for row in rows]
    logger.log_table("eval_examples", columns=columns, data=data)


def close(logger: Logger | None) -> None:
    if isinstance(logger, WandbLogger):
        logger.experiment.finish()
