"""Schemas for the composed config: a typo'd key or a wrong type fails before any work.

Hydra composes YAML from conf/; `validate` merges the result into these dataclasses, which
rejects unknown keys and converts or rejects values, and reports the offending key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, get_type_hints

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import MISSING, DictConfig, OmegaConf
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

    sharding_strategy: str = "FULL_SHARD"  # FULL_SHARD | SHARD_GRAD_OP | HYBRID_SHARD | NO_SHARD
    cpu_offload: bool = False  # parameters on the CPU between uses: bigger models, slower steps


@dataclass
class TrainerConfig:
    accelerator: str = "cpu"
    devices: Any = 1  # per node: a count, a list of GPU ids, or auto
    strategy: str = "auto"  # Lightning strategy name: auto | ddp | ddp_spawn | fsdp | ...
    num_nodes: int = 1
    fsdp: FSDPConfig = field(default_factory=FSDPConfig)
    precision: str = "32-true"
    max_epochs: int = 3
    batch_size: int = 8
    eval_batch_size: int = 32
    lr: float = 5e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    gradient_clip_val: float = 1.0
    accumulate_grad_batches: int = 1
    effective_batch_size: int | None = None  # set: accumulate_grad_batches follows (see effective_batch)
    num_workers: int = 0
    log_every_n_steps: int = 10
    num_threads: int | None = None  # torch CPU threads; None = torch's default
    cache_frozen_layers: bool = True  # lower layers below LoRA computed once (src/models/prefix_cache.py)
    cache_max_gb: float = 4.0  # memory the cached features may take; more turns the cache off
    checkpoint_every_n_steps: int = 50  # plus one at each epoch end; 0 = epoch ends only
    keep_checkpoints: bool = False  # keep checkpoints/ after the run finished
    group_by_length: bool = True  # training batches of similar length (src/training/resumable_loader.py)
    length_group_size: int = 50  # group_by_length: batches sorted together; more = less padding, less random
    compile: bool = False  # torch.compile the encoder layers (src/models/efficiency.py)


@dataclass
class LoggerConfig:
    backend: str = "wandb"  # wandb | csv | none
    project: str = "medtune"
    entity: str | None = None
    mode: str = "offline"  # offline | online
    group: str | None = None
    tags: list[str] = field(default_factory=list)
    log_examples: bool = False  # note text goes to logs only when this is true


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
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    seed: int = MISSING
    run_name: str = MISSING
    resume: str | None = MISSING  # a run dir to continue, or auto (see src/training/checkpoints.py)


CHOICES = {
    "logger.backend": ("wandb", "csv", "none"),
    "logger.mode": ("offline", "online"),
    "trainer.fsdp.sharding_strategy": ("FULL_SHARD", "SHARD_GRAD_OP", "HYBRID_SHARD", "NO_SHARD"),
}


def schema_for(cfg: DictConfig) -> DictConfig:
    """The structured schema of this composition: the shared groups' and its task package's."""
    from src.tasks import task_class  # here: the task's package imports torch and transformers

    cls = task_class(cfg.task)
    return OmegaConf.structured(MedtuneConfig(task=cls.package.task_schema(), data=cls.package.data_schema()))


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
    try:
        merged = OmegaConf.merge(schema, cfg)
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
        **{f"task.{k}": v for k, v in choices(OmegaConf.get_type(schema.task)).items()},
        **{f"data.{k}": v for k, v in choices(OmegaConf.get_type(schema.data)).items()},
        **{f"model.{k}": v for k, v in choices(ModelConfig).items()},
        **{f"lora.{k}": v for k, v in choices(LoraConfig).items()},
        **CHOICES,
    }
    for key, allowed in allowed_values.items():
        value = OmegaConf.select(merged, key)
        if value not in allowed:
            listed = ", ".join("null" if a is None else a for a in allowed)
            raise MedtuneError(f"{key}={value!r} is not one of {listed}")
    if merged.trainer.checkpoint_every_n_steps < 0:
        raise MedtuneError("trainer.checkpoint_every_n_steps must be 0 (epoch ends only) or positive")
    for key in (
        "data.train_size",
        "data.max_chunks",
        "trainer.max_epochs",
        "trainer.batch_size",
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
    effective_batch(merged.trainer)
    return merged


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


def effective_batch(trainer: DictConfig) -> None:
    """trainer.effective_batch_size (examples per optimizer step, over every process) sets
    accumulate_grad_batches to effective / (batch_size * devices * num_nodes)."""
    effective = trainer.effective_batch_size
    if effective is None:
        return
    devices = device_count(trainer.devices)
    if devices is None:
        raise MedtuneError(
            f"trainer.effective_batch_size={effective} needs trainer.devices as a number or a list of "
            f"ids, not {trainer.devices!r}: set trainer.devices, or trainer.accumulate_grad_batches instead"
        )
    per_step = trainer.batch_size * devices * trainer.num_nodes
    if effective % per_step:
        raise MedtuneError(
            f"trainer.effective_batch_size={effective} is not a multiple of trainer.batch_size "
            f"({trainer.batch_size}) x trainer.devices ({devices}) x trainer.num_nodes ({trainer.num_nodes}) "
            f"= {per_step}: choose a multiple of {per_step}, or change those keys"
        )
    accumulate = effective // per_step
    if trainer.accumulate_grad_batches not in (1, accumulate):
        raise MedtuneError(
            f"trainer.accumulate_grad_batches={trainer.accumulate_grad_batches} contradicts "
            f"trainer.effective_batch_size={effective}, which needs {accumulate}: set only one of them"
        )
    trainer.accumulate_grad_batches = accumulate
