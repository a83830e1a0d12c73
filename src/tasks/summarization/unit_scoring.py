"""Sentence units as encoder inputs, and their scores: one code path for training and evaluation.

Each unit is read on its own as "header [SEP] sentence" (sentences.py), cut to max_length
tokens (the sentence side first). A note is one dataset row: `chunks` holds one token-id list
per unit, so a batch of notes is collated as chunked notes are (collate_chunks) and the
frozen-layer cache works unchanged; the model then scores every unit as its own sequence.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from transformers import PreTrainedTokenizerBase

from src.models.classifier import in_length_groups, mean_pool, sequence_logits
from src.tasks.summarization.sentences import Unit

UNITS_PER_PASS = 64  # units per encoder call: grouped by length, each group padded to its longest


def encode_units(
    units: list[Unit], tokenizer: PreTrainedTokenizerBase, max_length: int
) -> tuple[list[list[int]], int]:
    """(token ids per unit, how many units were cut to max_length)."""
    headers, texts = [u.header for u in units], [u.text for u in units]
    full = tokenizer(headers, texts)["input_ids"]
    ids = tokenizer(headers, texts, truncation="longest_first", max_length=max_length)["input_ids"]
    return ids, sum(len(f) > max_length for f in full)


def unit_logits(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    """One logit per unit of a collated batch, each unit scored as its own sequence."""
    return sequence_logits(model, batch, UNITS_PER_PASS)


def unit_embeddings(encoder: torch.nn.Module, batch: dict) -> torch.Tensor:
    """Unit-length mean-pooled embeddings of a collated batch's units (the base model's view)."""

    def run(group: torch.Tensor, width: int) -> torch.Tensor:
        mask = batch["attention_mask"][group, :width]
        hidden = encoder(input_ids=batch["input_ids"][group, :width], attention_mask=mask).last_hidden_state
        return F.normalize(mean_pool(hidden, mask), dim=-1)

    return in_length_groups(batch, UNITS_PER_PASS, run)


def centroid_scores(vectors: torch.Tensor, note_index: torch.Tensor) -> torch.Tensor:
    """Each unit's cosine to its note's centroid (the mean of the note's unit vectors)."""
    n_notes = int(note_index.max()) + 1
    sums = vectors.new_zeros((n_notes, vectors.shape[-1])).index_add(0, note_index, vectors)
    return (vectors * F.normalize(sums, dim=-1)[note_index]).sum(-1)


def per_note(scores: torch.Tensor, positions: torch.Tensor) -> dict[int, np.ndarray]:
    """Scores of a flat list of units, split by the note position each belongs to (unit order kept)."""
    scores, positions = scores.float().cpu().numpy(), positions.cpu().numpy()
    return {int(p): scores[positions == p] for p in np.unique(positions)}
