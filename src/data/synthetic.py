"""The embedded default data: generated once into the cache, then reused.

Each task package declares its generator as a SyntheticSource; this module only knows how to
build the cache folder from one, so a new task brings its own data without editing anything here.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from src.data.caches import record_sources


@dataclass(frozen=True)
class SyntheticSource:
    """A generator writing train.jsonl / eval.jsonl (and any side files) into a folder."""

    name: str  # the cache folder's prefix, e.g. the task's name
    version: str  # part of the folder name: a changed generator never serves stale data
    write: Callable[..., object]  # write(folder, seed=, n_train=, n_eval=)


def ensure_synthetic(
    source: SyntheticSource, cache_dir: str | Path, n_train: int, n_eval: int, seed: int
) -> Path:
    """Folder holding the source's train.jsonl and eval.jsonl; generated if absent.

    The folder name carries the generator version and settings. Written to a temporary folder
    and renamed, so an interrupted generation leaves nothing half-written behind.
    """
    target = Path(cache_dir) / "synthetic" / f"{source.name}-v{source.version}-seed{seed}-{n_train}-{n_eval}"
    if not (target / "eval.jsonl").exists():
        _generate(source, target, n_train, n_eval, seed)
    settings = {"version": source.version, "seed": seed, "n_train": n_train, "n_eval": n_eval}
    record_sources(target, {}, generator=source.name, **settings)
    return target


def _generate(source: SyntheticSource, target: Path, n_train: int, n_eval: int, seed: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    try:
        source.write(staging, seed=seed, n_train=n_train, n_eval=n_eval)
        staging.rename(target)
    except OSError:
        if not (target / "eval.jsonl").exists():  # lost a race to a parallel job: fine if it won
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def data_files(source: SyntheticSource, data_cfg, cache_dir: str | Path) -> dict[str, str]:
    """Paths of the training file and the evaluation file (if any): the user's data.path and
    data.eval_path, or the source's embedded data when data.path is empty."""
    if data_cfg.path is None:
        synth = data_cfg.synthetic
        folder = ensure_synthetic(source, cache_dir, synth.n_train, synth.n_eval, synth.seed)
        return {"train": str(folder / "train.jsonl"), "eval": str(folder / "eval.jsonl")}
    files = {"train": str(data_cfg.path)}
    if data_cfg.eval_path:
        files["eval"] = str(data_cfg.eval_path)
    return files
