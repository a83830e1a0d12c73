"""Multi-label note classifier: an encoder reads a note as chunks, a head scores every code.

Two heads (`model.head`):
  * label_attention (default): every code attends over all tokens of the note, across chunks,
    and is scored from what it attended to (the label-wise attention of CAML/LAAT, on chunked
    notes as in PLM-ICD). A code's evidence is a few words of a long note; attention finds them
    instead of averaging them away, so it learns from far fewer notes.
  * pooled: mean-pooled chunk embeddings, combined per note (max or mean), then a linear layer.

Why not AutoModelForSequenceClassification: it classifies from BERT's [CLS] pooler, which
sentence-embedding checkpoints such as all-MiniLM-L6-v2 never trained (it is near constant),
so the head cannot learn.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from src.models.frozen_prefix import top_layers


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def embed_texts(
    encoder: PreTrainedModel,
    tokenizer,
    texts: list[str],
    max_length: int,
    batch_size: int,
    by_length: bool = True,
    contextual: bool = True,
    desc: str | None = None,
) -> torch.Tensor:
    """Unit-length mean-pooled embeddings of texts: (texts, hidden) float32 on the CPU, in input order.
    by_length batches texts of similar length (little padding; equal to input-order batches to
    float noise, ~1e-7); contextual=False pools the embedding layer's output instead (a bag of
    words, nearly free); desc labels a progress bar (None: no bar)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i])) if by_length else list(range(len(texts)))
    out = torch.empty((len(texts), encoder.config.hidden_size))
    with torch.inference_mode():
        for start in tqdm(range(0, len(order), batch_size), desc=desc, leave=False, disable=desc is None):
            idx = order[start : start + batch_size]
            enc = tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            ).to(encoder.device)
            if contextual:
                hidden = encoder(**enc).last_hidden_state
            else:
                hidden = encoder.embeddings(input_ids=enc["input_ids"])
            out[idx] = F.normalize(mean_pool(hidden, enc["attention_mask"]), dim=-1).float().cpu()
    return out


SEQUENCE_INPUTS = ("input_ids", "attention_mask", "prefix_hidden")  # padded per sequence


def in_length_groups(
    batch: dict, per_pass: int, run: Callable[[torch.Tensor, int], torch.Tensor]
) -> torch.Tensor:
    """run(rows, width) over a collated batch's sequences in groups of per_pass similar lengths, each
    group cut to its own longest (width) instead of all padded to the batch's longest; the results
    are put back in batch order."""
    lengths = batch["attention_mask"].sum(1)
    order = lengths.argsort()
    parts = [run(group, int(lengths[group].max())) for group in order.split(per_pass)]
    return torch.cat(parts)[order.argsort()]


def sequence_logits(model: nn.Module, batch: dict, per_pass: int) -> torch.Tensor:
    """The first logit of each sequence of a collated batch, each scored as a note of its own (a
    criterion sequence, a sentence unit), in groups of similar length."""

    def run(group: torch.Tensor, width: int) -> torch.Tensor:
        inputs = {key: batch[key][group, :width] for key in SEQUENCE_INPUTS if key in batch}
        inputs["note_index"] = torch.arange(len(group), device=group.device)
        return model(**inputs)[:, 0]

    return in_length_groups(batch, per_pass, run)


def pool_notes(chunk_vectors: torch.Tensor, note_index: torch.Tensor, mode: str) -> torch.Tensor:
    """Combines the rows of chunk_vectors that belong to the same note (max or mean)."""
    n_notes = int(note_index.max().item()) + 1
    index = note_index.unsqueeze(-1).expand_as(chunk_vectors)
    out = chunk_vectors.new_zeros((n_notes, chunk_vectors.shape[-1]))
    reduce = "amax" if mode == "max" else "mean"
    return out.scatter_reduce(0, index, chunk_vectors, reduce=reduce, include_self=False)


class LabelAttentionHead(nn.Module):
    """Per-code attention over every token of a note (its chunks taken together)."""

    def __init__(self, hidden_size: int, num_labels: int):
        super().__init__()
        self.proj = nn.Linear(hidden_size, hidden_size)
        self.queries = nn.Linear(hidden_size, num_labels, bias=False)
        self.weight = nn.Parameter(torch.empty(num_labels, hidden_size))
        self.bias = nn.Parameter(torch.zeros(num_labels))
        nn.init.xavier_uniform_(self.weight)

    @torch.no_grad()
    def init_from_descriptions(self, codes: torch.Tensor) -> None:
        """Starts every code's attention query and output weight at its description embedding
        (codes: unit rows, one per label, from the same encoder). A code then first attends to
        the tokens that read like its description and scores what it found by that likeness, as
        the base model's zero-shot score does; on the default data this lifts exact match from
        0.31 to 0.45 at the same cost (see README)."""
        self.proj.weight.copy_(torch.eye(self.proj.weight.shape[0]))  # tanh(h) ~ h: MiniLM's |h_i| < 1
        self.proj.bias.zero_()
        self.queries.weight.copy_(codes)
        self.weight.copy_(codes)

    def forward(
        self,
        hidden: torch.Tensor,
        attention_mask: torch.Tensor,
        note_index: torch.Tensor,
        return_attention: bool = False,
    ):
        """Logits (notes, labels); with return_attention also every code's attention over the
        tokens, (chunks, tokens, labels), summing to 1 over all tokens of a note's chunks."""
        # hidden: (chunks, tokens, H); scores: (chunks, tokens, labels)
        scores = self.queries(torch.tanh(self.proj(hidden)))
        scores = scores.masked_fill(~attention_mask.bool().unsqueeze(-1), -torch.inf)
        # Softmax over all tokens of a note, which spans several rows: subtract the note's max.
        note_max = pool_notes(scores.amax(1), note_index, "max")
        n_notes, n_labels = note_max.shape
        weights = torch.exp(scores - note_max[note_index].unsqueeze(1))  # padding -> 0
        total = weights.new_zeros((n_notes, n_labels)).index_add(0, note_index, weights.sum(1))
        attended = torch.einsum("ctl,cth->clh", weights, hidden)
        pooled = attended.new_zeros((n_notes, n_labels, hidden.shape[-1])).index_add(0, note_index, attended)
        pooled = pooled / total.unsqueeze(-1)
        logits = (pooled * self.weight).sum(-1) + self.bias
        if return_attention:
            return logits, weights / total[note_index].unsqueeze(1)
        return logits


class ChunkedNoteClassifier(nn.Module):
    """Reads a note as chunks and scores every code of the label space."""

    def __init__(
        self,
        encoder: PreTrainedModel,
        num_labels: int,
        head: str = "label_attention",
        chunk_pooling: str = "max",
        dropout: float = 0.1,
    ):
        super().__init__()
        self.encoder = encoder
        self.frozen_layers = 0  # > 0 when training from cached lower-layer features (frozen_prefix)
        self.head = head
        self.chunk_pooling = chunk_pooling
        self.dropout = nn.Dropout(dropout)
        hidden = encoder.config.hidden_size
        # Named "classifier" either way: lora.modules_to_save trains and saves it by that name.
        if head == "label_attention":
            self.classifier = LabelAttentionHead(hidden, num_labels)
        else:
            self.classifier = nn.Linear(hidden, num_labels)

    def head_dtype(self) -> torch.dtype:
        """The head's dtype: the encoder's hidden states are cast to it."""
        return next(self.classifier.parameters()).dtype

    @property
    def config(self):  # peft reads model.config (e.g. for tied weights and model type)
        return self.encoder.config

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        note_index: torch.Tensor,
        prefix_hidden: torch.Tensor | None = None,
        return_attention: bool = False,
        **_: torch.Tensor,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits (notes, labels); return_attention=True (label_attention head only) also returns
        the head's attention, as LabelAttentionHead.forward does (src/tasks/coding/evidence.py)."""
        if return_attention and self.head != "label_attention":
            raise ValueError("attention exists only with model.head=label_attention")
        if prefix_hidden is not None:  # the lower layers' output, computed once (frozen_prefix)
            hidden = top_layers(self.encoder, prefix_hidden, attention_mask, self.frozen_layers)
        else:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        hidden = hidden.to(self.head_dtype())  # a bfloat16 encoder (model.dtype) feeds the float32 head
        if self.head == "label_attention":
            return self.classifier(self.dropout(hidden), attention_mask, note_index, return_attention)
        notes = pool_notes(mean_pool(hidden, attention_mask), note_index, self.chunk_pooling)
        return self.classifier(self.dropout(notes))
