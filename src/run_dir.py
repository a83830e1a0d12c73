"""The run directory: refuse to overwrite results, keep files owner-only, write metrics and config."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from src.errors import MedtuneError
from src.paths import PRIVATE_ENV, as_flag, keep_private

RESULT_FILES = (
    "metrics.json",
    "manifest.json",
    "MODEL_CARD.md",
    "adapter",
    "errors.md",
    "errors.json",
    "reliability.png",
)


def existing_results(run_dir: Path) -> list[str]:
    return [name for name in RESULT_FILES if (run_dir / name).exists()]


def clear_results(run_dir: Path) -> None:
    """Removes an unfinished run's result files (its checkpoints and configs stay)."""
    for name in (*RESULT_FILES, "manifest.sig.json"):
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def finished(run_dir: Path) -> bool:
    """status.json is written last: a run that has it as complete wrote every result."""
    try:
        return json.loads((run_dir / "status.json").read_text())["status"] == "complete"
    except (OSError, ValueError, KeyError):
        return False


def sweep_dir() -> Path | None:
    """The folder of the Hydra multirun this job belongs to; None for a single run."""
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return Path(HydraConfig.get().sweep.dir)
    return None


class RefuseExistingResults(Callback):
    """Stops a run before Hydra writes into a dir that already holds a finished run's results."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        run_dir = Path(config.hydra.run.dir)
        found = existing_results(run_dir)
        if found:
            print(
                f"medtune: error: {run_dir} already holds results ({', '.join(found)}); "
                "choose another hydra.run.dir or leave it unset for a fresh timestamped one",
                file=sys.stderr,
            )
            sys.exit(2)


class OwnerOnlyFiles(Callback):
    """paths.private: every file of the run or sweep, Hydra's own dir and logs among them, and
    every cache entry is owner-only (src.paths.keep_private). Set here, before Hydra creates the
    run or sweep dir, which the task function would be too late for; processes started later
    (launchers, DDP ranks, W&B) inherit it, and a job started elsewhere (SLURM) sets it again."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            private = as_flag(config.paths.private, f"paths.private (or {PRIVATE_ENV})")
        except MedtuneError as err:
            print(f"medtune: error: {err}", file=sys.stderr)
            sys.exit(2)
        keep_private(private, config.paths.cache_dir)

    on_multirun_start = on_run_start
    on_job_start = on_run_start


def write_json(path: Path, payload: dict) -> None:
    """Write-then-rename, so a crash never leaves a half-written file behind."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


def write_resolved_config(cfg: DictConfig, run_dir: Path) -> None:
    target = run_dir / ".hydra"
    target.mkdir(parents=True, exist_ok=True)
    (target / "resolved.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
