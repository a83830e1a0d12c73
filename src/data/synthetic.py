"""The embedded default data: generated once into the cache, then reused."""

from __future__ import annotations

import importlib
import shutil
import tempfile
from pathlib import Path

# task name -> (generator module, its function writing train.jsonl / eval.jsonl into a folder)
GENERATORS = {
    "coding": ("src.data.synthetic_coding", "generate_coding_dataset"),
    "eligibility": ("src.data.synthetic_eligibility", "generate_eligibility_dataset"),
    "summarize_radiology": ("src.data.synthetic_summaries", "generate_radiology_dataset"),
    "summarize_discharge": ("src.data.synthetic_summaries", "generate_discharge_dataset"),
    "summarize_operative": ("src.data.synthetic_summaries", "generate_operative_dataset"),
}


def ensure_synthetic(task: str, cache_dir: str | Path, n_train: int, n_eval: int, seed: int) -> Path:
    """Folder holding the task's train.jsonl and eval.jsonl (and any side files); generated if absent.

    The folder name carries the generator version and settings, so a changed generator
    never serves stale data. Written to a temporary folder and renamed, so an interrupted
    generation leaves nothing half-written behind.
    """
    module_name, function = GENERATORS[task]
    module = importlib.import_module(module_name)  # only needed when no data.path is given
    target = (
        Path(cache_dir) / "synthetic" / f"{task}-v{module.GENERATOR_VERSION}-seed{seed}-{n_train}-{n_eval}"
    )
    if (target / "eval.jsonl").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    try:
        getattr(module, function)(staging, seed=seed, n_train=n_train, n_eval=n_eval)
        staging.rename(target)
    except OSError:
        if not (target / "eval.jsonl").exists():  # lost a race to a parallel job: fine if it won
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def data_files(task: str, data_cfg, cache_dir: str | Path) -> dict[str, str]:
    """Paths of the training file and the evaluation file (if any): the user's data.path and
    data.eval_path, or the embedded synthetic data of `task` when data.path is empty."""
    if data_cfg.path is None:
        synth = data_cfg.synthetic
        folder = ensure_synthetic(task, cache_dir, synth.n_train, synth.n_eval, synth.seed)
        return {"train": str(folder / "train.jsonl"), "eval": str(folder / "eval.jsonl")}
    files = {"train": str(data_cfg.path)}
    if data_cfg.eval_path:
        files["eval"] = str(data_cfg.eval_path)
    return files
