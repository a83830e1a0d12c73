"""The generative families: causal_lm (decoder-only) and seq2seq (encoder-decoder) models.

- causal_lm: AutoModelForCausalLM (Llama, Mistral, Qwen, Phi, GPT-2 shapes).
- seq2seq: AutoModelForSeq2SeqLM (T5, BART shapes); an encoder-only checkpoint (BERT shapes,
  such as the embedded MiniLM) is warm-started into an encoder-decoder with itself on both sides.
  Its cross-attention layers and the decoder's LM-head transform do not exist in the checkpoint:
  they start random and are trained in full (model.lora_modules_to_save names them).
- model.random_init builds either family from a config with random weights (tiny models that
  check a pipeline offline); the tokenizer then comes from model.tokenizer or name_or_path.

Random parts are drawn from a generator seeded by the run's seed, so the base model a run
evaluates, and the one it trains from, are the same in every run with that seed.
"""

from __future__ import annotations

import peft
import torch
from omegaconf import DictConfig
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    EncoderDecoderModel,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.models.auto.modeling_auto import (
    MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
    MODEL_FOR_MASKED_LM_MAPPING_NAMES,
)

from src.errors import MedtuneError
from src.models import build
from src.models.shapes import is_encoder_decoder, random_config, special_ids

GENERATIVE = ("causal_lm", "seq2seq")
LOADERS = {"causal_lm": AutoModelForCausalLM, "seq2seq": AutoModelForSeq2SeqLM}
PEFT_TASK_TYPES = {"causal_lm": "CAUSAL_LM", "seq2seq": "SEQ_2_SEQ_LM"}


def is_encoder_only(config: PretrainedConfig) -> bool:
    """BERT shapes: masked-LM encoders (some also load as causal LMs, which they were not trained as)."""
    return config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not is_encoder_decoder(config)


def is_warm_start(config: PretrainedConfig) -> bool:
    """An encoder-only checkpoint asked to be a seq2seq model."""
    return not is_encoder_decoder(config)


def check_family(model_cfg: DictConfig, config: PretrainedConfig) -> None:
    """MedtuneError when the checkpoint's architecture cannot be model.family."""
    kind, name = config.model_type, model_cfg.name_or_path
    two_sided = is_encoder_decoder(config) or is_encoder_only(config)
    if model_cfg.family == "causal_lm" and (kind not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES or two_sided):
        fix = "seq2seq" if two_sided else "classifier"
        raise MedtuneError(
            "model.family=causal_lm needs a decoder-only checkpoint (Llama, Mistral, Qwen, GPT-2 shapes); "
            f"{name} is a {kind} model: set model.family={fix}, or choose a causal_lm config"
        )
    if model_cfg.family == "seq2seq" and not two_sided:
        raise MedtuneError(
            "model.family=seq2seq needs an encoder-decoder checkpoint (T5, BART) or an encoder to "
            f"warm-start one from (BERT shapes); {name} is a {kind} model: set model.family=causal_lm"
        )


def model_config(model_cfg: DictConfig, tokenizer: PreTrainedTokenizerBase) -> PretrainedConfig:
    """The checkpoint's config (or the random_init one): what preflight checks before loading."""
    config = random_config(model_cfg, tokenizer) if model_cfg.random_init is not None else None
    config = config or build.load_model_config(model_cfg)
    check_family(model_cfg, config)
    return config


def load_generative(model_cfg: DictConfig, tokenizer: PreTrainedTokenizerBase, seed: int) -> PreTrainedModel:
    """The base model of a causal_lm or seq2seq run, on the CPU, in train mode, nothing frozen yet."""
    family = model_cfg.family
    dtype = build.DTYPES[model_cfg.dtype]
    config = model_config(model_cfg, tokenizer)
    # New weights (random_init, warm-started cross-attention) come from the run's seed.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if model_cfg.random_init is not None:
            model = LOADERS[family].from_config(config, dtype=dtype)
        elif family == "seq2seq" and is_warm_start(config):
            model = warm_started(model_cfg, dtype)
        else:
            loader = LOADERS[family]
            model = build._load(loader, model_cfg, dtype=dtype, **build.quantization_kwargs(model_cfg))
    set_generation_ids(model, tokenizer)
    if model_cfg.encoder_dropout is not None:  # generative families: every dropout of the model
        build.set_dropout(model, model_cfg.encoder_dropout)
    if model_cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model.train()


def warm_started(model_cfg: DictConfig, dtype: torch.dtype) -> EncoderDecoderModel:
    source = build.resolve_checkpoint(model_cfg.name_or_path)
    try:
        return EncoderDecoderModel.from_encoder_decoder_pretrained(
            source, source, encoder_dtype=dtype, decoder_dtype=dtype
        )
    except (OSError, ValueError) as err:
        raise MedtuneError(
            f"model.name_or_path={model_cfg.name_or_path!r} cannot be warm-started as an encoder-decoder "
            f"({str(err).splitlines()[0]}); give a seq2seq checkpoint (T5, BART) or a BERT-shaped encoder"
        ) from None


def set_generation_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    """pad / eos / decoder-start ids where the checkpoint leaves them unset (warm starts, GPT-2)."""
    ids = special_ids(tokenizer)
    for config in (model.config, model.generation_config):
        if getattr(config, "pad_token_id", None) is None:
            config.pad_token_id = ids["pad"]
        if getattr(config, "eos_token_id", None) is None:
            config.eos_token_id = ids["eos"]
        if model.config.is_encoder_decoder and getattr(config, "decoder_start_token_id", None) is None:
            config.decoder_start_token_id = ids["start"]


def num_layers(config: PretrainedConfig) -> int:
    """Layers of the (decoder's) stack: what lora.top_layers counts from."""
    config = getattr(config, "decoder", config)
    return config.num_hidden_layers


def wrap_with_lora(model: PreTrainedModel, model_cfg: DictConfig, lora_cfg: DictConfig):
    """peft LoRA for a generative family; modules_to_save train in full (peft keeps LoRA out of them)."""
    settings = build.peft_config(lora_cfg, num_layers(model.config))
    settings.task_type = PEFT_TASK_TYPES[model_cfg.family]
    if model_cfg.lora_stack == "decoder":
        if not model.config.is_encoder_decoder:
            raise MedtuneError("model.lora_stack=decoder needs an encoder-decoder (family seq2seq); use all")
        # The targets' full names under the decoder (peft matches a list entry as a name suffix).
        suffixes = set(settings.target_modules)
        settings.target_modules = [
            name
            for name, _ in model.named_modules()
            if name.startswith("decoder.") and name.rpartition(".")[2] in suffixes
        ]
    if model_cfg.quantization:
        model = peft.prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    try:
        peft_model = peft.get_peft_model(model, settings)
    except ValueError as err:
        raise MedtuneError(
            f"lora config rejected by peft: {str(err).splitlines()[0]} (check lora.target_modules "
            f"{list(lora_cfg.target_modules)} against the model's module names)"
        ) from None
    return peft_model.train()
