"""What a checkpoint is (encoder-decoder or not) and the random configs of tiny test models:
shared by the classifier family (build.py) and the generative ones (generative.py)."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from transformers import AutoConfig, PretrainedConfig, PreTrainedTokenizerBase
from transformers.models.auto.modeling_auto import MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES

from src.errors import MedtuneError


def special_ids(tokenizer: PreTrainedTokenizerBase) -> dict[str, int]:
    """pad, eos and decoder-start ids: the tokenizer's own, or BERT-style stand-ins ([SEP] ends
    a sequence, [CLS] starts a decoder) for tokenizers made for encoders."""
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    if eos is None:
        raise MedtuneError(
            f"tokenizer {tokenizer.name_or_path!r} has neither an eos nor a sep token: a generated "
            "sequence could never end. Choose a model whose tokenizer defines eos_token"
        )
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.cls_token_id
    return {"pad": pad, "eos": eos, "start": pad if start is None else start}


def is_encoder_decoder(config: PretrainedConfig) -> bool:
    return config.model_type in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES or config.is_encoder_decoder


def random_config(model_cfg: DictConfig, tokenizer: PreTrainedTokenizerBase) -> PretrainedConfig:
    """model.random_init as a transformers config sized to the tokenizer: random weights are built from it."""
    settings = OmegaConf.to_container(model_cfg.random_init, resolve=True)
    model_type = settings.pop("model_type", None)
    try:
        config = AutoConfig.for_model(model_type, **settings)
    except (ValueError, TypeError) as err:
        raise MedtuneError(f"model.random_init: {str(err).splitlines()[0]}") from None
    ids = special_ids(tokenizer)
    config.vocab_size = len(tokenizer)
    config.pad_token_id, config.eos_token_id = ids["pad"], ids["eos"]
    config.bos_token_id = config.decoder_start_token_id = ids["start"]
    return config
