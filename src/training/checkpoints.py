"""Training checkpoints and resuming: `<run dir>/checkpoints/last.ckpt`.

A checkpoint holds what training cannot recompute: the trainable weights (LoRA + head, not
the frozen base model, so it is adapter-sized), the optimizer and scheduler, the loop counters
and the loader's position (see resumable_loader.py), and the RNG states (dropout). It is
written every `trainer.checkpoint_every_n_steps` steps, at each epoch end, and when SIGTERM
arrives, always to a temporary file renamed over the last one: a kill at any moment leaves
the previous complete checkpoint.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from src.console import console
from src.errors import MedtuneError

CHECKPOINT = Path("checkpoints") / "last.ckpt"
# Keys that may change between a run and its resumption without changing what is trained.
MAY_DIFFER = (
    "resume",
    "logger",
    "paths",
    "trainer.num_threads",
    "trainer.num_workers",
    "trainer.checkpoint_every_n_steps",
    "trainer.keep_checkpoints",
)


class Checkpointer(L.Callback):
    """Writes last.ckpt atomically every N optimizer steps, at epoch ends and on SIGTERM."""

    def __init__(self, run_dir: Path, every_n_steps: int):
        self.path = run_dir / CHECKPOINT
        self.every_n_steps = every_n_steps
        self.saved_step = -1
        self.start_step = 0  # the step training (re)started from

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start_step = trainer.global_step

    def save(self, trainer: L.Trainer) -> None:
        if trainer.global_step == self.saved_step:
            return
        trainable = (p for p in trainer.lightning_module.parameters() if p.requires_grad)
        if not all(torch.isfinite(p).all() for p in trainable):
            return  # never replace the last good checkpoint with diverged weights
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".ckpt.partial")
        trainer.save_checkpoint(partial, weights_only=False)
        os.replace(partial, self.path)
        self.saved_step = trainer.global_step

    def on_train_batch_end(self, trainer: L.Trainer, *args) -> None:
        # Lightning raises SIGTERMException right after this hook once the signal has come.
        if trainer.received_sigterm or (self.every_n_steps and trainer.global_step % self.every_n_steps == 0):
            self.save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.save(trainer)


def rng_states() -> dict:
    """Tensors and plain numbers only, so the checkpoint loads with torch.load(weights_only=True)."""
    kind, key, pos, has_gauss, gauss = np.random.get_state()
    states = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(key.astype(np.int64)), pos, has_gauss, gauss),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    kind, key, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, key.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    found = []
    for key in sorted(set(old) | set(new)):
        name = f"{prefix}{key}"
        if name in MAY_DIFFER:
            continue
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            found += _differences(a, b, f"{name}.")
        elif a != b:
            found.append(f"{name}: {a!r} then, {b!r} now")
    return found


def config_differences(run_dir: Path, cfg: DictConfig) -> list[str]:
    """What in cfg differs from the config run_dir was trained with (keys in MAY_DIFFER aside)."""
    saved = OmegaConf.to_container(OmegaConf.load(run_dir / ".hydra" / "resolved.yaml"))
    return _differences(saved, OmegaConf.to_container(cfg, resolve=True))


def resumable(run_dir: Path) -> bool:
    return (
        (run_dir / CHECKPOINT).is_file()
        and (run_dir / ".hydra" / "resolved.yaml").is_file()
        and not (run_dir / "metrics.json").exists()
    )


def resolve_resume(cfg: DictConfig, new_run_dir: Path) -> Path | None:
    """The run dir to continue, or None for a fresh run.

    resume=<dir>: that run, which must hold a checkpoint and the same config.
    resume=auto: this run dir if it holds a checkpoint (a fixed hydra.run.dir, as under SLURM
    requeue), else the newest unfinished run of the same config beside it (outputs/<task>/
    <date>/<time>), else a fresh run.
    """
    if cfg.resume is None:
        return None
    if cfg.resume != "auto":
        run_dir = Path(cfg.resume).expanduser().resolve()
        if (run_dir / "metrics.json").exists():
            raise MedtuneError(f"resume={cfg.resume}: that run already finished (metrics.json is there)")
        if not (run_dir / CHECKPOINT).is_file():
            raise MedtuneError(
                f"resume={cfg.resume}: no checkpoint at {run_dir / CHECKPOINT}; name a run dir that "
                "holds one, or use resume=auto to continue one if it exists and start fresh otherwise"
            )
    elif resumable(new_run_dir):
        run_dir = new_run_dir
    else:
        candidates = [
            found.parent.parent
            for found in new_run_dir.parent.parent.glob(f"*/*/{CHECKPOINT}")
            if resumable(found.parent.parent) and not config_differences(found.parent.parent, cfg)
        ]
        if not candidates:
            console.print("resume=auto: no unfinished run of this config found; starting fresh")
            return None
        return max(candidates, key=lambda run: (run / CHECKPOINT).stat().st_mtime)
    different = config_differences(run_dir, cfg)
    if different:
        raise MedtuneError(
            f"resume={cfg.resume}: the config differs from that of {run_dir} (.hydra/resolved.yaml) in "
            f"{'; '.join(different)}. Resume with the same overrides, or start a fresh run"
        )
    return run_dir
