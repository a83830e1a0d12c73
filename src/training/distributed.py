"""Several training processes (trainer=ddp, trainer=fsdp, torchrun, SLURM): the Lightning
strategy to build, and the setups that cannot work (which process is which: src/ranks.py)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import lightning as L
import torch
from lightning.pytorch.strategies import FSDPStrategy, Strategy
from omegaconf import DictConfig

from src.config import device_count
from src.errors import MedtuneError

if TYPE_CHECKING:  # the task interface, for type hints only: training imports no task code
    from src.tasks.base import Task

# Strategies that start their ranks in-process (torch.multiprocessing), not by re-running the command.
SPAWNING = ("spawn", "fork", "notebook")


def check_sweep_strategy(trainer_cfg: DictConfig) -> None:
    """Refuse what breaks under a Hydra multirun (-m): Lightning would start each extra rank by
    re-running the whole sweep command, and that rank would run a sweep of its own (with the
    Optuna sweeper, on other hyperparameters; Lightning #11300, Hydra #2070); torchrun's ranks
    would each run one too. The SLURM launcher is safe: the sweep runs once, and SLURM starts
    the tasks (ranks) of each job."""
    devices = device_count(trainer_cfg.devices)
    single = devices == 1 and trainer_cfg.num_nodes == 1
    strategy = trainer_cfg.strategy
    slurm_job = int(os.environ.get("SLURM_NTASKS", "1")) > 1
    if single or any(word in strategy for word in SPAWNING) or slurm_job:
        return
    raise MedtuneError(
        f"trainer.strategy={strategy} with trainer.devices={trainer_cfg.devices} cannot run in a Hydra "
        "multirun (-m): Lightning starts the extra ranks by re-running the sweep command, and each would "
        "run the whole sweep. Use trainer.strategy=ddp_spawn, or run the sweep with hydra/launcher=slurm "
        "(SLURM starts the ranks of each job)"
    )


def build_strategy(cfg: DictConfig, model: torch.nn.Module) -> str | Strategy:
    """trainer.strategy for L.Trainer: the name, or for fsdp an FSDPStrategy that shards the model
    (base weights included) in units of its transformer layers, as loop.fsdp says."""
    if cfg.trainer.strategy != "fsdp":
        return cfg.trainer.strategy
    return FSDPStrategy(
        auto_wrap_policy=layer_classes(model),
        sharding_strategy=cfg.loop.fsdp.sharding_strategy,
        cpu_offload=cfg.loop.fsdp.cpu_offload,
    )


def whole_model(trainer: L.Trainer, task: Task, data, model: torch.nn.Module) -> torch.nn.Module:
    """The trained model, whole, for rank 0 to evaluate and save. FSDP leaves it sharded across
    the ranks: every rank takes part in gathering its full state (a collective), which rank 0
    loads into a fresh copy of the model."""
    if not isinstance(trainer.strategy, FSDPStrategy):
        return model
    state = trainer.strategy.lightning_module_state_dict()  # whole on rank 0 only, on its CPU
    if not trainer.is_global_zero:
        return model
    fresh = task.build_model(data)
    fresh.load_state_dict({k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")})
    # Trained from cached lower-layer features (prefix_cache): the copy reads them the same way.
    fresh.get_base_model().frozen_layers = model.get_base_model().frozen_layers
    return fresh


def layer_classes(model: torch.nn.Module) -> set[type[torch.nn.Module]]:
    """The classes of the model's repeated blocks, as transformers names them for sharding
    (`_no_split_modules`: e.g. BertLayer and BertEmbeddings)."""
    names = set()
    for module in model.modules():
        names |= set(getattr(module, "_no_split_modules", None) or ())
    found = {type(m) for m in model.modules() if type(m).__name__ in names}
    if not found:
        raise MedtuneError(
            "trainer.strategy=fsdp: the model names no transformer layer classes to shard by "
            "(transformers' _no_split_modules); use trainer.strategy=ddp for this model"
        )
    return found
