"""The base model's evaluation, once per sweep, and for generative tasks once for good.

Every job of a sweep scores the same evaluation split with the same untuned model, calibrated on
the same validation slice (splits.py keeps that slice fixed across train_size). So the first job
evaluates the base model and stores the result in <sweep dir>/base/<key>.json; the others read it
back. The key covers everything the result depends on (model, task, data settings other than
train_size and subset_seed, and the calibration and evaluation rows themselves), so a sweep over
a setting that does change the base model (another model, data.seed, ...) evaluates it once per
value.

Generating with the base model is the slow part of a generative run, so those tasks keep their
results in paths.cache_dir/base/ (Task.base_cache_dir) and every later run with the same task,
model, evaluation split and seed reads them back (the seed draws a warm start's new layers).
Those results are generated text that may quote the notes: they live only there, owner-only
(paths.private), with a sidecar naming the data files (src/data/caches.py) for src.cache.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from filelock import FileLock
from omegaconf import DictConfig, OmegaConf

from src.data.caches import record_sources
from src.run_dir import write_json
from src.tasks.base import Task


def base_key(cfg: DictConfig, task: Task, data) -> str:
    settings = OmegaConf.to_container(cfg, resolve=True)
    settings["data"].pop("train_size")
    settings["data"].pop("subset_seed")  # which training subset: the base model never sees it
    material = {
        "model": settings["model"],
        "task": settings["task"],
        "data": settings["data"],
        "rows": [data.rows.val, data.rows.eval, getattr(data.rows, "base_labels", None)],
        "task_extra": task.base_dependencies(),
    }
    if cfg.model.get("random_init") is not None:
        material["seed"] = cfg.seed  # draws the random weights

    blob = json.dumps(material, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def evaluate_base(task: Task, cfg: DictConfig, data, store: Path | None) -> tuple[dict, Path | None]:
    """(base metrics, the file they were read from; None when evaluated here). store: the folder
    of kept results (a sweep's base/, or the task's cache); None evaluates without keeping."""
    if store is None:
        return task.evaluate_base(data), None
    path = store / f"{base_key(cfg, task, data)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Parallel launchers start several jobs at once: the first evaluates, the rest wait and read.
    with FileLock(str(path) + ".lock"):
        if path.exists():
            saved = json.loads(path.read_text())
            task.restore_base(saved["state"])
            return saved["metrics"], path
        metrics = task.evaluate_base(data)
        write_json(path, {"run_name": cfg.run_name, "metrics": metrics, "state": task.base_state()})
        record_sources(path, data.rows.files, task=cfg.task.name, model=cfg.model.name_or_path)
    return metrics, None
