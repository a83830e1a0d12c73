"""Training checkpoints and resuming: `<run dir>/checkpoints/last.ckpt`, or
`<paths.checkpoint_dir>/last.ckpt` beside a copy of the run's resolved config (`resolved.yaml`),
so that folder alone can continue the run (a SageMaker spot restart brings back only it).

A checkpoint holds what training cannot recompute: the trainable weights (LoRA + head, not
the frozen base model, so it is adapter-sized), the optimizer and scheduler, the loop counters
and the loader's position (see resumable_loader.py), and the RNG states (dropout). It is
written every `callbacks.checkpoint.every_n_steps` steps, at each epoch end, and when SIGTERM
arrives, always to a temporary file renamed over the last one: a kill at any moment leaves
the previous complete checkpoint.

It holds tensors, numbers and strings only, so resuming loads it with
torch.load(weights_only=True), which cannot run code; a file without medtune's mark is refused.
"""

from __future__ import annotations

import os
import pickle
import random
import shutil
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from src.console import console
from src.errors import MedtuneError

CHECKPOINT = Path("checkpoints") / "last.ckpt"
BEST = "best.ckpt"  # callbacks.best_epoch's file, beside last.ckpt
MARK = "medtune_checkpoint"  # set by FineTuneModule.on_save_checkpoint: the format's version
# Keys that may change between a run and its resumption without changing what is trained.
MAY_DIFFER = (
    "resume",
    "logger",
    "paths",
    "loop.num_threads",
    "loop.num_workers",
    "callbacks.checkpoint.every_n_steps",
    "callbacks.checkpoint.keep",
)


def checkpoint_path(cfg: DictConfig, run_dir: Path) -> Path:
    """Where run_dir's last.ckpt lives: <run dir>/checkpoints, or paths.checkpoint_dir when set."""
    folder = OmegaConf.select(cfg, "paths.checkpoint_dir")
    return Path(folder).expanduser().resolve() / CHECKPOINT.name if folder else run_dir / CHECKPOINT


def config_path(cfg: DictConfig, run_dir: Path) -> Path:
    """The resolved config the checkpoint was trained with: the run dir's, or its copy beside an
    outside checkpoint (the run dir may be a fresh one by then)."""
    if OmegaConf.select(cfg, "paths.checkpoint_dir"):
        return checkpoint_path(cfg, run_dir).parent / "resolved.yaml"
    return run_dir / ".hydra" / "resolved.yaml"


def save_config_copy(cfg: DictConfig, run_dir: Path) -> None:
    """A fresh run with paths.checkpoint_dir: keep its resolved config beside its checkpoints."""
    if OmegaConf.select(cfg, "paths.checkpoint_dir"):
        target = config_path(cfg, run_dir)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(OmegaConf.to_yaml(cfg, resolve=True))
        except OSError as err:
            raise MedtuneError(
                f"cannot write to paths.checkpoint_dir={target.parent} ({err.strerror}); "
                "set paths.checkpoint_dir (paths=sagemaker: SM_CHECKPOINT_DIR) to a writable folder"
            ) from None


def remove_checkpoints(cfg: DictConfig, run_dir: Path) -> None:
    """After a finished run: <run dir>/checkpoints goes; a paths.checkpoint_dir folder (SageMaker's
    own) stays, emptied of what this run put there."""
    if OmegaConf.select(cfg, "paths.checkpoint_dir"):
        checkpoint = checkpoint_path(cfg, run_dir)
        extra = (checkpoint.with_suffix(".ckpt.partial"), checkpoint.parent / BEST, config_path(cfg, run_dir))
        for path in (checkpoint, *extra):
            path.unlink(missing_ok=True)
    else:
        shutil.rmtree(run_dir / CHECKPOINT.parent, ignore_errors=True)


class Checkpointer(L.Callback):
    """Writes last.ckpt atomically every N optimizer steps, at epoch ends and on SIGTERM
    (callbacks.checkpoint; src/train.py passes run_dir and path, and removes the checkpoint
    after a finished run unless `keep`).

    It also keeps trainer.should_stop: a run that a callback stopped early (EarlyStopping,
    Timer) and that was killed before it finished resumes straight to its evaluation instead of
    training on. Decisions taken after its epoch-end save miss that epoch's checkpoint, hence
    EarlyStopping deciding at validation end (conf/callbacks/early_stopping.yaml)."""

    def __init__(self, run_dir: Path, every_n_steps: int, keep: bool = False, path: Path | None = None):
        self.run_dir = run_dir
        self.path = path or run_dir / CHECKPOINT
        self.every_n_steps = every_n_steps
        self.keep = keep
        self.saved_step = -1
        self.start_step = 0  # the step training (re)started from

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start_step = trainer.global_step

    def save(self, trainer: L.Trainer) -> None:
        """Every rank calls this (saving is a collective); rank 0 writes the file."""
        if trainer.global_step == self.saved_step:
            return
        trainable = (p for p in trainer.lightning_module.parameters() if p.requires_grad)
        finite = all(torch.isfinite(p).all() for p in trainable)
        if not trainer.strategy.reduce_boolean_decision(finite, all=True):
            return  # never replace the last good checkpoint with diverged weights
        partial = self.path.with_suffix(".ckpt.partial")
        if trainer.is_global_zero:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        trainer.save_checkpoint(partial, weights_only=False)
        if trainer.is_global_zero:
            os.replace(partial, self.path)
        self.saved_step = trainer.global_step

    def on_train_batch_end(self, trainer: L.Trainer, *args) -> None:
        # Lightning raises SIGTERMException right after this hook once the signal has come; the
        # ranks decide together, as saving is a collective.
        sigterm = trainer.strategy.reduce_boolean_decision(trainer.received_sigterm, all=False)
        if sigterm or (self.every_n_steps and trainer.global_step % self.every_n_steps == 0):
            self.save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.save(trainer)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint["should_stop"] = trainer.should_stop

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        # Restored after Trainer.fit reset it and before the fit loop asks whether it is done.
        trainer.should_stop = checkpoint.get("should_stop", False)


def load_best_epoch(callbacks: list[L.Callback], model: torch.nn.Module) -> int | None:
    """Loads the trainable weights callbacks.best_epoch kept into `model` (the peft model) and
    returns that epoch (1-based); None when there is no such callback or no epoch was validated,
    and the model keeps its last weights."""
    best = next((c for c in callbacks if isinstance(c, ModelCheckpoint) and c.best_model_path), None)
    if best is None:
        return None
    saved = torch.load(best.best_model_path, map_location="cpu", weights_only=True)
    state = {key.removeprefix("model."): value for key, value in saved["state_dict"].items()}
    # Only trainable tensors are saved (FineTuneModule.on_save_checkpoint): all of them must load.
    unexpected = model.load_state_dict(state, strict=False).unexpected_keys
    if unexpected:
        raise MedtuneError(f"{best.best_model_path} holds tensors this model lacks (e.g. {unexpected[0]})")
    return saved["epoch"] + 1


def check_checkpoint(path: Path) -> None:
    """Resume loads only medtune's own checkpoints, and only what a weights-only load accepts:
    a crafted pickle is refused before anything in it runs."""
    fix = "start a fresh run, or give resume= the dir of a run medtune wrote"
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
        reason = str(err).strip().splitlines()[0][:160]
        raise MedtuneError(f"{path} is not a checkpoint medtune can load safely ({reason}); {fix}") from None
    if not isinstance(saved, dict) or MARK not in saved:
        raise MedtuneError(f"{path} is not a medtune checkpoint (it lacks the {MARK!r} mark); {fix}")


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
    saved = OmegaConf.to_container(OmegaConf.load(config_path(cfg, run_dir)))
    return _differences(saved, OmegaConf.to_container(cfg, resolve=True))


def resumable(run_dir: Path, cfg: DictConfig | None = None) -> bool:
    """run_dir is unfinished and its checkpoint and config are there (cfg: for paths.checkpoint_dir)."""
    cfg = cfg if cfg is not None else OmegaConf.create()
    return (
        checkpoint_path(cfg, run_dir).is_file()
        and config_path(cfg, run_dir).is_file()
        and not (run_dir / "metrics.json").exists()
    )


def resolve_resume(cfg: DictConfig, new_run_dir: Path) -> Path | None:
    """The run dir to continue, or None for a fresh run.

    resume=<dir>: that run, which must hold a checkpoint and the same config.
    resume=auto: this run dir if it holds a checkpoint (a fixed hydra.run.dir, as under SLURM
    requeue), else the newest unfinished run of the same config beside it (outputs/<task>/
    <date>/<time>), else a fresh run. With paths.checkpoint_dir, the checkpoint is looked for
    there only, and the run continues in the run dir it is given (SageMaker: a fresh model dir).
    """
    if cfg.resume is None:
        return None
    if cfg.resume != "auto":
        run_dir = Path(cfg.resume).expanduser().resolve()
        if (run_dir / "metrics.json").exists():
            raise MedtuneError(f"resume={cfg.resume}: that run already finished (metrics.json is there)")
        if not checkpoint_path(cfg, run_dir).is_file():
            raise MedtuneError(
                f"resume={cfg.resume}: no checkpoint at {checkpoint_path(cfg, run_dir)}; name a run dir that "
                "holds one, or use resume=auto to continue one if it exists and start fresh otherwise"
            )
    elif resumable(new_run_dir, cfg):
        run_dir = new_run_dir
    elif OmegaConf.select(cfg, "paths.checkpoint_dir"):  # one fixed folder: nothing beside it to look in
        folder = checkpoint_path(cfg, new_run_dir).parent
        console.print(f"resume=auto: no checkpoint in {folder}; starting fresh")
        return None
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
            f"resume={cfg.resume}: the config differs from that of {run_dir} "
            f"({config_path(cfg, run_dir)}) in "
            f"{'; '.join(different)}. Resume with the same overrides, or start a fresh run"
        )
    return run_dir
