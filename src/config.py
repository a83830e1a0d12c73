"""Schemas for the composed config: a typo'd key or a wrong type fails before any work.

Hydra composes YAML from conf/; `validate` merges the result into these dataclasses, which
rejects unknown keys and converts or rejects values, and reports the offending key. The nodes
src/train.py instantiates (trainer, callbacks, logger) are also checked against their
_target_'s signature.
"""

from __future__ import annotations

import copy
import difflib
import inspect
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, get_type_hints

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from hydra.utils import get_object, instantiate
from omegaconf import MISSING, DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from src.errors import MedtuneError
from src.paths import CONF_DIR

# ${mul:a,b} in conf/ (e.g. lora.alpha relative to lora.r in experiment presets)
OmegaConf.register_new_resolver("mul", lambda a, b: a * b, replace=True)


def compose_config(overrides: list[str]) -> DictConfig:
    """The config `python -m src.train <overrides>` composes, without starting a Hydra run."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        try:
            return compose(config_name="config", overrides=overrides)
        except HydraException as err:  # unknown group option, bad override syntax
            raise MedtuneError(f"{str(err).splitlines()[0]} (config groups live in {CONF_DIR})") from None


def one_of(*allowed: Any) -> Any:
    """A schema field whose value must be one of `allowed` (validate checks it, naming the key);
    like every field, its default is in conf/."""
    return field(default=MISSING, metadata={"choices": allowed})


@dataclass
class TaskConfig:
    """What every task has; a task package adds its own fields in a subclass (its schema.py),
    which its task classes name in their TaskPackage (src/tasks/base.py).

    _target_ is the task class for the classifier family, generative_target the one for the
    generative families (causal_lm, seq2seq); null where the task has no such class.
    """

    _target_: str | None = MISSING
    generative_target: str | None = MISSING
    name: str = MISSING
    main_metric: str = MISSING
    # Generative families: the prompt ({text} and the task's other fields filled in), the
    # reference's tokens kept for training, and the tokens generated for evaluation.
    prompt: str = MISSING
    max_target_length: int = MISSING
    max_new_tokens: int = MISSING


@dataclass
class ModelConfig:
    name_or_path: str = MISSING
    short_name: str = MISSING
    family: str = one_of("classifier", "causal_lm", "seq2seq")  # src/models/generative.py
    tokenizer: str | None = MISSING  # None = name_or_path's tokenizer
    # A transformers config (model_type and sizes) built with random weights instead of loading
    # name_or_path's: tiny models that check a pipeline end to end offline (conf/model/tiny_*.yaml).
    random_init: dict[str, Any] | None = MISSING
    chat_template: bool = MISSING  # causal_lm: the tokenizer's chat template when it has one
    dtype: str = MISSING
    max_length: int = MISSING  # tokens per chunk
    head: str = one_of("label_attention", "pooled")  # see src/models/classifier.py
    chunk_pooling: str = one_of("max", "mean")  # pooled head: how chunk embeddings of one note are combined
    head_init: str = one_of("descriptions", "random")  # label_attention head: its starting weights
    classifier_dropout: float = MISSING
    encoder_dropout: float | None = MISSING  # None = the checkpoint's own dropout rates
    lora_target_modules: list[str] = MISSING
    lora_modules_to_save: list[str] = MISSING  # trained in full
    lora_top_layers: int | None = MISSING  # LoRA on the top N encoder layers; None = every layer
    lora_stack: str = one_of("all", "decoder")  # seq2seq: decoder = LoRA in the decoder only
    trust_remote_code: bool = MISSING
    quantization: str | None = one_of(None, "4bit", "8bit")  # bitsandbytes base weights (QLoRA), CUDA only
    gradient_checkpointing: bool = (
        MISSING  # recompute layer activations in backward (src/models/efficiency.py)
    )


@dataclass
class LoraConfig:
    r: int = MISSING
    alpha: int = MISSING
    dropout: float = MISSING
    target_modules: list[str] = MISSING
    bias: str = one_of("none", "all", "lora_only")
    use_dora: bool = MISSING
    modules_to_save: list[str] = MISSING
    top_layers: int | None = MISSING  # LoRA on the top N layers only; None = every layer


@dataclass
class SyntheticConfig:
    n_train: int = MISSING
    n_eval: int = MISSING
    eval_size: int | None = MISSING  # notes of the eval split scored when data.eval_size is null
    val_size: int = MISSING  # validation slice when data.val_size is null
    seed: int = MISSING


@dataclass
class DataConfig:
    """What every task's data has; a task package adds its columns in a subclass (its schema.py),
    which its task classes name in their TaskPackage (src/tasks/base.py)."""

    name: str = MISSING
    path: str | None = MISSING  # training file (JSONL/CSV/Parquet); None = embedded synthetic data
    eval_path: str | None = MISSING  # evaluation file; None = carve data.eval_fraction from path
    eval_fraction: float = MISSING
    id_column: str = MISSING
    train_size: int | None = MISSING  # None = the whole training pool
    eval_size: int | None = MISSING  # None = the whole evaluation split (synthetic: see there)
    val_size: float | None = MISSING  # count (>= 1) or share (< 1) of the pool; None: see splits.py
    seed: int = MISSING
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)


@dataclass
class FSDPConfig:
    """trainer.strategy=fsdp: Lightning's FSDPStrategy by transformer layer (src/training/distributed.py)."""

    sharding_strategy: str = one_of("FULL_SHARD", "SHARD_GRAD_OP", "HYBRID_SHARD", "NO_SHARD")
    cpu_offload: bool = MISSING  # parameters on the CPU between uses: bigger models, slower steps


@dataclass
class LoopConfig:
    """medtune's training loop around the Trainer: optimiser, batches, speed options (conf/loop/)."""

    lr: float = MISSING
    weight_decay: float = MISSING
    warmup_ratio: float = MISSING
    batch_size: int = MISSING
    eval_batch_size: int = MISSING
    effective_batch_size: int | None = (
        MISSING  # set: trainer.accumulate_grad_batches follows (effective_batch)
    )
    num_workers: int = MISSING
    num_threads: int | None = MISSING  # torch CPU threads; None = torch's default
    group_by_length: bool = MISSING  # training batches of similar length (src/training/resumable_loader.py)
    length_group_size: int = (
        MISSING  # group_by_length: batches sorted together; more = less padding, less random
    )
    cache_frozen_layers: bool = MISSING  # lower layers below LoRA computed once (src/models/prefix_cache.py)
    cache_max_gb: float = MISSING  # memory the cached features may take; more turns the cache off
    compile: bool = MISSING  # torch.compile the encoder layers (src/models/efficiency.py)
    fsdp: FSDPConfig = field(default_factory=FSDPConfig)


@dataclass
class TrainerConfig:
    """Arguments of Lightning's Trainer (conf/trainer/): the ones conf/ sets, typed here.
    `+trainer.<name>` adds any other argument, checked against the Trainer's signature by name
    (check_arguments) and by Lightning for its value: a schema of all its ~40 arguments would
    copy Lightning's signature, and OmegaConf cannot type its unions (int | str | list[int])."""

    _target_: str = MISSING
    accelerator: str = MISSING
    devices: Any = MISSING  # per node: a count, a list of GPU ids, or auto
    strategy: str = MISSING  # Lightning strategy name: auto | ddp | ddp_spawn | fsdp | ...
    num_nodes: int = MISSING
    precision: str = MISSING
    max_epochs: int = MISSING
    gradient_clip_val: float | None = MISSING
    accumulate_grad_batches: int = MISSING
    log_every_n_steps: int = MISSING
    num_sanity_val_steps: int = MISSING
    enable_model_summary: bool = MISSING


# Trainer arguments src/train.py passes itself: refused in trainer, with what to do instead.
TRAINER_SET_IN_CODE = {
    "logger": "set by medtune: choose one with logger=wandb|csv|none (conf/logger/)",
    "callbacks": "set by medtune: add one with +callbacks=<name> (conf/callbacks/)",
    "default_root_dir": "set by medtune to the run dir: set hydra.run.dir",
    "use_distributed_sampler": "always false: medtune's ResumableLoader shards the training batches itself",
    "enable_checkpointing": "always false: callbacks.checkpoint writes the run's resumable checkpoint",
}


@dataclass
class CheckpointConfig:
    """callbacks.checkpoint, always there: the resumable checkpoint (src/training/checkpoints.py);
    src/train.py passes its run dir and path."""

    _target_: str = MISSING
    every_n_steps: int = MISSING  # plus one at each epoch end; 0 = epoch ends only
    keep: bool = MISSING  # keep the checkpoint after the run finished


WANDB_LOGGER = "src.training.loggers.wandb_logger"  # logger=wandb: validate checks it against LoggerConfig


@dataclass
class LoggerConfig:
    """logger=wandb (_target_ WANDB_LOGGER). Other loggers (logger=csv, a Lightning logger of the
    user's) are open: their keys must be arguments of their _target_ (validate)."""

    _target_: str = MISSING
    project: str = MISSING
    entity: str | None = MISSING
    mode: str = one_of("offline", "online")
    group: str | None = MISSING
    tags: list[str] = MISSING
    log_examples: bool = MISSING  # note text goes to logs only when this is true


# medtune's keys in a logger config, beside its _target_'s arguments (not passed to it).
LOGGER_OWN_KEYS = ("log_examples",)


@dataclass
class PathsConfig:
    cache_dir: str = MISSING
    checkpoint_dir: str | None = MISSING  # None = <run dir>/checkpoints; paths=sagemaker: /opt/ml/checkpoints
    train_file: str | None = MISSING  # paths=sagemaker: file names inside the train / eval channel folders
    eval_file: str | None = MISSING


@dataclass
class MedtuneConfig:
    task: TaskConfig  # the task package's subclass (validate)
    data: DataConfig
    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    # Lightning callbacks by name, each with its _target_; the checkpoint is always there.
    callbacks: dict[str, Any] = field(default_factory=lambda: {"checkpoint": CheckpointConfig()})
    # LoggerConfig for W&B; another logger: a dict of its _target_'s arguments (see validate).
    logger: Any = field(default_factory=LoggerConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    seed: int = MISSING
    run_name: str = MISSING
    resume: str | None = MISSING  # a run dir to continue, or auto (see src/training/checkpoints.py)


def schema_for(cfg: DictConfig) -> DictConfig:
    """The structured schema of this composition: the shared groups' and its task package's."""
    from src.tasks import task_class  # here: the task's package imports torch and transformers

    package = task_class(cfg.task).package
    wandb = OmegaConf.select(cfg, "logger._target_") == WANDB_LOGGER
    logger = LoggerConfig() if wandb else {}  # other loggers: checked by check_arguments (validate)
    return OmegaConf.structured(
        MedtuneConfig(task=package.task_schema(), data=package.data_schema(), logger=logger)
    )


def choices(schema: type, prefix: str = "") -> dict[str, tuple]:
    """{dotted key: allowed values} of every one_of field in a schema dataclass, nested ones included."""
    found = {}
    hints = get_type_hints(schema)
    for item in fields(schema):
        if "choices" in item.metadata:
            found[prefix + item.name] = item.metadata["choices"]
        elif is_dataclass(hints[item.name]):
            found.update(choices(hints[item.name], f"{prefix}{item.name}."))
    return found


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
    if merged.model.family == "classifier" and "classifier" not in merged.lora.modules_to_save:
        # Without it the head is neither trained nor saved: the adapter would reload a random head.
        raise MedtuneError(
            f"lora.modules_to_save={list(merged.lora.modules_to_save)} must include 'classifier' "
            "for the classifier family (the code-scoring head is trained and saved by that name)"
        )
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
