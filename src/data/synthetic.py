"""The embedded default data: generated once into the cache, then reused."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path


def ensure_synthetic_coding(cache_dir: str | Path, n_train: int, n_eval: int, seed: int) -> Path:
    """Folder holding train.jsonl, eval.jsonl and code_descriptions.json; generated if absent.

    The folder name carries the generator version and settings, so a changed generator
    never serves stale notes. Written to a temporary folder and renamed, so an interrupted
    generation leaves nothing half-written behind.
    """
    from src.data import synthetic_coding  # only needed when no data.path is given

    version = synthetic_coding.GENERATOR_VERSION
    target = Path(cache_dir) / "synthetic" / f"coding-v{version}-seed{seed}-{n_train}-{n_eval}"
    if (target / "eval.jsonl").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    try:
        synthetic_coding.generate_coding_dataset(staging, seed=seed, n_train=n_train, n_eval=n_eval)
        staging.rename(target)
    except OSError:
        if not (target / "eval.jsonl").exists():  # lost a race to a parallel job: fine if it won
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
