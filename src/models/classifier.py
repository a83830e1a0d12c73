"""Multi-label note classifier: encoder -> mean-pooled chunks -> pooled note -> linear head.

Why not AutoModelForSequenceClassification: it classifies from BERT's [CLS] pooler, which
sentence-embedding checkpoints such as all-MiniLM-L6-v2 never trained (it is near constant),
so the head cannot learn. Mean pooling over tokens is what those models were trained for,
and it works as well for ordinary BERT-shaped checkpoints.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedModel


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def pool_notes(chunk_vectors: torch.Tensor, note_index: torch.Tensor, mode: str) -> torch.Tensor:
    """Combines the rows of chunk_vectors that belong to the same note (max or mean)."""
    n_notes = int(note_index.max().item()) + 1
    index = note_index.unsqueeze(-1).expand_as(chunk_vectors)
    out = chunk_vectors.new_zeros((n_notes, chunk_vectors.shape[-1]))
    reduce = "amax" if mode == "max" else "mean"
    return out.scatter_reduce(0, index, chunk_vectors, reduce=reduce, include_self=False)


class ChunkedNoteClassifier(nn.Module):
    """Reads a note as chunks and scores every code of the label space."""

    def __init__(
        self, encoder: PreTrainedModel, num_labels: int, chunk_pooling: str = "max", dropout: float = 0.1
    ):
        super().__init__()
        self.encoder = encoder
        self.chunk_pooling = chunk_pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(encoder.config.hidden_size, num_labels)

    @property
    def config(self):  # peft reads model.config (e.g. for tied weights and model type)
        return self.encoder.config

    def embed_chunks(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return mean_pool(hidden, attention_mask)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        note_index: torch.Tensor,
        **_: torch.Tensor,
    ) -> torch.Tensor:
        chunks = self.embed_chunks(input_ids, attention_mask)
        notes = pool_notes(chunks, note_index, self.chunk_pooling)
        return self.classifier(self.dropout(notes))
