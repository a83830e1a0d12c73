"""Fusion-in-decoder: a seq2seq model reads a long note as several chunks.

The encoder reads every chunk of a batch alone (one row each, [chunks, tokens]); the states of
one example's chunks are then joined (padding dropped) into one sequence, with its mask, and the
decoder cross-attends over all of them: in training (teacher forcing) and in generation alike.
A batch without chunk_counts (every example one chunk) passes through unchanged, so a short note
costs and computes what it did before.
"""

from __future__ import annotations

import torch
from transformers.modeling_outputs import BaseModelOutput


def model_inputs(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> dict:
    """The keyword arguments of model(...) / model.generate(...) for a batch of
    src.data.prompts.encoder_batch: the encoder's joined states in place of the chunks' ids."""
    if "chunk_counts" not in batch:
        return batch
    rest = {k: v for k, v in batch.items() if k not in ("input_ids", "attention_mask", "chunk_counts")}
    chunk_mask = batch["attention_mask"]
    # get_encoder reaches through a peft wrapper: its LoRA layers (and disable_adapter) apply.
    hidden = model.get_encoder()(input_ids=batch["input_ids"], attention_mask=chunk_mask).last_hidden_state
    real = hidden[chunk_mask.bool()]  # [real tokens, hidden], one example's chunks adjacent, in order
    per_example = [int(n.sum()) for n in chunk_mask.sum(-1).split(batch["chunk_counts"].tolist())]
    states = torch.nn.utils.rnn.pad_sequence(list(real.split(per_example)), batch_first=True)
    attention = torch.zeros(states.shape[:2], dtype=chunk_mask.dtype, device=chunk_mask.device)
    for i, n in enumerate(per_example):
        attention[i, :n] = 1
    return {**rest, "encoder_outputs": BaseModelOutput(last_hidden_state=states), "attention_mask": attention}
