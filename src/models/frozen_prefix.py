"""Frozen-prefix features: compute the encoder's untrained lower layers once, not every epoch.

With LoRA only in the top k layers (`lora.top_layers`) and no dropout below them
(`model.encoder_dropout: 0.0`), the embeddings and the lower layers are a fixed function of
the tokens: every epoch would recompute the same hidden states for the same chunk. Computing
them once and training on the top k layers from there gives the same gradients (up to float
summation order) for a fraction of the forward pass. Encoders laid out like BERT
(`embeddings` + `encoder.layer`: BERT, RoBERTa, MiniLM, ClinicalBERT ...) are supported.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.masking_utils import create_bidirectional_mask


def layers_of(encoder: nn.Module) -> nn.ModuleList | None:
    """The encoder's layer stack when it is laid out like BERT, else None."""
    stack = getattr(getattr(encoder, "encoder", None), "layer", None)
    if isinstance(stack, nn.ModuleList) and hasattr(encoder, "embeddings"):
        return stack
    return None


def _mask(encoder: nn.Module, hidden: torch.Tensor, attention_mask: torch.Tensor):
    return create_bidirectional_mask(
        config=encoder.config, inputs_embeds=hidden, attention_mask=attention_mask
    )


@torch.no_grad()  # not inference_mode: these tensors feed layers that autograd records
def prefix_features(
    encoder: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, n_frozen: int
) -> torch.Tensor:
    """Hidden states after the embeddings and the first n_frozen layers."""
    hidden = encoder.embeddings(input_ids=input_ids)
    mask = _mask(encoder, hidden, attention_mask)
    for layer in layers_of(encoder)[:n_frozen]:
        hidden = layer(hidden, mask)
    return hidden


def top_layers(encoder: nn.Module, hidden: torch.Tensor, attention_mask: torch.Tensor, n_frozen: int):
    """The remaining layers (with their LoRA adapters), from prefix_features' output."""
    mask = _mask(encoder, hidden, attention_mask)
    for layer in layers_of(encoder)[n_frozen:]:
        hidden = layer(hidden, mask)
    return hidden
