"""The composed config, checked: a typo'd key, a wrong type or a missing value fails before any work.

Hydra composes YAML from conf/; `validate` merges the result into the schemas (src/schemas.py,
and the task package's schema.py), which rejects unknown keys and converts or rejects values,
and reports the offending key. The nodes
src/train.py instantiates (trainer, callbacks, logger) are also checked against their
_target_'s signature.
"""

from __future__ import annotations

import copy
import difflib
import inspect
from dataclasses import fields
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from src.errors import MedtuneError
from src.paths import CONF_DIR
from src.schemas import (
    WANDB_LOGGER,
    LoggerConfig,
    LoopConfig,
    MedtuneConfig,
    TrainerConfig,
    choices,
)

# ${mul:a,b} in conf/ (e.g. lora.alpha relative to lora.r in experiment presets)
OmegaConf.register_new_resolver("mul", lambda a, b: a * b, replace=True)


def compose_config(overrides: list[str]) -> DictConfig:
    """The config `python -m src.train <overrides>` composes, without starting a Hydra run."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        try:
            return compose(config_name="config", overrides=overrides)
        except HydraException as err:  # unknown group option, bad override syntax
            raise MedtuneError(f"{str(err).splitlines()[0]} (config groups live in {CONF_DIR})") from None


# Trainer arguments src/train.py passes itself: refused in trainer, with what to do instead.
TRAINER_SET_IN_CODE = {
    "logger": "set by medtune: choose one with logger=wandb|csv|none (conf/logger/)",
    "callbacks": "set by medtune: add one with +callbacks=<name> (conf/callbacks/)",
    "default_root_dir": "set by medtune to the run dir: set hydra.run.dir",
    "use_distributed_sampler": "always false: medtune's ResumableLoader shards the training batches itself",
    "enable_checkpointing": (
        "set by medtune: callbacks.checkpoint writes the resumable checkpoint, "
        "callbacks.best_epoch the best epoch's"
    ),
}


# medtune's keys in a logger config, beside its _target_'s arguments (not passed to it).
LOGGER_OWN_KEYS = ("log_examples",)


def schema_for(cfg: DictConfig) -> DictConfig:
    """The structured schema of this composition: the shared groups' and its task package's."""
    from src.tasks import task_class  # here: the task's package imports torch and transformers

    package = task_class(cfg.task).package
    wandb = OmegaConf.select(cfg, "logger._target_") == WANDB_LOGGER
    logger = LoggerConfig() if wandb else {}  # other loggers: checked by check_arguments (validate)
    return OmegaConf.structured(
        MedtuneConfig(task=package.task_schema(), data=package.data_schema(), logger=logger)
    )


def validate(cfg: DictConfig) -> DictConfig:
    """cfg merged into the schema; MedtuneError naming the key for unknown keys, missing values
    or bad values."""
    schema = schema_for(cfg)
    cfg, trainer_args = split_trainer_args(cfg)
    try:
        merged = OmegaConf.merge(schema, cfg)
        with open_dict(merged.trainer):
            merged.trainer.update(trainer_args)
        OmegaConf.resolve(merged)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        reason = str(err).splitlines()[0]
        raise MedtuneError(
            f"invalid config key '{key}': {reason}. Check the spelling against conf/ "
            f"(python -m src.train --cfg job prints the composed config)"
        ) from None
    missing = sorted(OmegaConf.missing_keys(merged))
    if missing:
        raise MedtuneError(
            f"config key '{missing[0]}' has no value (of {len(missing)} without one): set it in its "
            f"YAML file under conf/ or on the command line ({missing[0]}=...)"
        )
    allowed_values = {
        f"{group}.{key}": allowed
        for group in ("task", "data", "model", "lora", "loop", "logger")
        if OmegaConf.get_type(schema[group]) not in (dict, None)
        for key, allowed in choices(OmegaConf.get_type(schema[group])).items()
    }
    for key, allowed in allowed_values.items():
        value = OmegaConf.select(merged, key)
        if value not in allowed:
            listed = ", ".join("null" if a is None else a for a in allowed)
            raise MedtuneError(f"{key}={value!r} is not one of {listed}")
    check_instantiated(merged)
    if merged.callbacks.checkpoint.every_n_steps < 0:
        raise MedtuneError("callbacks.checkpoint.every_n_steps must be 0 (epoch ends only) or positive")
    for key in (
        "data.train_size",
        "data.max_chunks",
        "loop.batch_size",
        "trainer.max_epochs",
        "trainer.num_nodes",
        "trainer.accumulate_grad_batches",
        "lora.r",
    ):
        value = OmegaConf.select(merged, key)
        if value is not None and value < 1:
            raise MedtuneError(f"{key} must be a positive integer, got {value}")
    check_strategy(merged.trainer)
    effective_batch(merged)
    return merged


def instantiate_with(node: DictConfig | dict, **from_code: Any) -> Any:
    """node._target_ called with node's keys (as plain lists and dicts) and from_code, the objects
    only the code has (the run dir, a strategy, the logger). Those never pass through OmegaConf,
    which would recurse into them or turn them into strings in a typed node."""
    return instantiate(node, _partial_=True, _convert_="all")(**from_code)


def split_trainer_args(cfg: DictConfig) -> tuple[DictConfig, dict[str, Any]]:
    """cfg without the Trainer arguments TrainerConfig does not list (`+trainer.limit_train_batches=5`),
    and those arguments as given (interpolations kept): they join the merged trainer node after
    the schema's type checks, and check_instantiated checks their names."""
    listed = {f.name for f in fields(TrainerConfig)}
    extra = [key for key in cfg.trainer if key not in listed]
    if not extra:
        return cfg, {}
    raw = OmegaConf.to_container(cfg.trainer)
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        for key in extra:
            del cfg.trainer[key]
    return cfg, {key: raw[key] for key in extra}


def check_instantiated(cfg: DictConfig) -> None:
    """The nodes src/train.py instantiates name only arguments of their _target_: a typo fails
    here, not after the data and the base model were loaded. Types: the schemas' for the keys
    they list; Lightning checks the values of the other arguments when it builds the object."""
    # trainer.lr and co. were Trainer keys before conf/loop/ existed: say where they are now.
    moved = {f.name: f"not a Trainer argument but medtune's loop.{f.name}" for f in fields(LoopConfig)}
    check_arguments(cfg.trainer, "trainer", refused=TRAINER_SET_IN_CODE | moved)
    for name, node in cfg.callbacks.items():
        if not OmegaConf.is_dict(node) or not node.get("_target_"):
            raise MedtuneError(
                f"callbacks.{name} needs a _target_: a Lightning callback class and its arguments, "
                "e.g. conf/callbacks/early_stopping.yaml"
            )
        check_arguments(node, f"callbacks.{name}")
    if "_target_" not in cfg.logger:
        raise MedtuneError(
            "logger needs a _target_: a Lightning logger class, or null for no logger (conf/logger/)"
        )
    if cfg.logger._target_ is not None:
        refused = {"save_dir": "set by medtune to the run dir: set hydra.run.dir"}
        check_arguments(cfg.logger, "logger", refused=refused, own=LOGGER_OWN_KEYS)


def check_arguments(
    node: DictConfig, key: str, refused: dict[str, str] | None = None, own: tuple[str, ...] = ()
) -> None:
    """Each key of node is an argument of node._target_ (any name when it takes **kwargs).
    refused: names not allowed here (arguments the code passes), with what to do instead;
    own: medtune's keys beside the arguments."""
    target = node._target_
    try:
        parameters = inspect.signature(get_object(target)).parameters
    except Exception as err:  # hydra wraps import errors in several types
        raise MedtuneError(f"{key}._target_={target!r} cannot be imported: {err}") from None
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    for name in node:
        if refused and name in refused:
            raise MedtuneError(f"invalid config key '{key}.{name}': {refused[name]}")
        if name == "_target_" or name in own or name in parameters or open_ended:
            continue
        close = difflib.get_close_matches(name, list(parameters), n=1)
        hint = f"; did you mean {key}.{close[0]}?" if close else ""
        raise MedtuneError(f"invalid config key '{key}.{name}': not an argument of {target}{hint}")


def check_strategy(trainer: DictConfig) -> None:
    from lightning.pytorch.strategies import StrategyRegistry  # here: only training needs Lightning

    known = ("auto", *StrategyRegistry.available_strategies())
    if trainer.strategy not in known:
        raise MedtuneError(
            f"trainer.strategy={trainer.strategy!r} is not a Lightning strategy; e.g. auto, ddp, ddp_spawn, "
            "fsdp (presets: trainer=ddp, trainer=fsdp)"
        )
    if trainer.strategy.startswith("fsdp") and trainer.accelerator == "cpu":
        raise MedtuneError(
            f"trainer.strategy={trainer.strategy} runs on GPUs only (Lightning's FSDP needs CUDA): use "
            "trainer=fsdp, or trainer=ddp to train several CPU processes"
        )


def device_count(devices: Any) -> int | None:
    """Devices per node that trainer.devices names (a count, or GPU ids as a list or "0,1");
    None for what only Lightning resolves (auto, -1: every device it finds)."""
    if OmegaConf.is_list(devices) or isinstance(devices, list):
        return len(devices)
    if isinstance(devices, str) and "," in devices:
        return len([d for d in devices.split(",") if d.strip()])
    try:
        count = int(devices)
    except (TypeError, ValueError):
        return None
    return count if count > 0 else None


def effective_batch(cfg: DictConfig) -> None:
    """loop.effective_batch_size (examples per optimizer step, over every process) sets
    trainer.accumulate_grad_batches to effective / (loop.batch_size * devices * num_nodes)."""
    loop, trainer = cfg.loop, cfg.trainer
    effective = loop.effective_batch_size
    if effective is None:
        return
    devices = device_count(trainer.devices)
    if devices is None:
        raise MedtuneError(
            f"loop.effective_batch_size={effective} needs trainer.devices as a number or a list of "
            f"ids, not {trainer.devices!r}: set trainer.devices, or trainer.accumulate_grad_batches instead"
        )
    per_step = loop.batch_size * devices * trainer.num_nodes
    if effective % per_step:
        raise MedtuneError(
            f"loop.effective_batch_size={effective} is not a multiple of loop.batch_size "
            f"({loop.batch_size}) x trainer.devices ({devices}) x trainer.num_nodes ({trainer.num_nodes}) "
            f"= {per_step}: choose a multiple of {per_step}, or change those keys"
        )
    accumulate = effective // per_step
    if trainer.accumulate_grad_batches not in (1, accumulate):
        raise MedtuneError(
            f"trainer.accumulate_grad_batches={trainer.accumulate_grad_batches} contradicts "
            f"loop.effective_batch_size={effective}, which needs {accumulate}: set only one of them"
        )
    trainer.accumulate_grad_batches = accumulate
