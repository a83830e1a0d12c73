"""The composed config's types: one dataclass per shared group, and the bases a task package's
schema.py extends. Types, choices (one_of) and nesting only: every default lives in conf/, and
src/config.py merges the composed YAML into these classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, get_type_hints

from omegaconf import MISSING


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
    output_vocab: str = one_of("full", "targets")  # seq2seq: targets = write only pieces seen in training
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
    seed: int = MISSING  # the evaluation subset, the validation slice and the order of the rest
    subset_seed: int | None = MISSING  # which training subset is drawn from the rest; None = seed
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
    val_generations: int = MISSING  # generative: validation examples generated each epoch (best epoch)
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


@dataclass
class PathsConfig:
    cache_dir: str = MISSING
    private: bool = MISSING  # owner-only files and folders (src.paths.keep_private)
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
