"""Training from cached frozen-layer features (`loop.cache_frozen_layers`).

When LoRA sits only in the top k encoder layers and nothing below them is trained or dropped
out, the lower layers' output for a chunk is the same in every epoch (see
src/models/frozen_prefix.py). It is computed once here, kept in memory, and every epoch runs
only the top k layers and the head: on the default run (k=1) a cached training step runs
about 2.9x as fast as one through the whole encoder (bench/README.md).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset

from src.console import console
from src.models.frozen_prefix import layers_of, prefix_features

BYTES_PER_VALUE = 4  # features are kept in float32, as the layers compute them
CHUNKS_PER_PASS = 64  # chunks of similar length computed together by cache_features


class WithPrefix(Dataset):
    """Rows of a tokenized dataset, each with its chunks' cached lower-layer features."""

    def __init__(self, rows, features: list[list[torch.Tensor]]):
        self.rows, self.features = rows, features

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        return {**self.rows[index], "prefix": self.features[index]}


def plan(cfg: DictConfig, encoder: torch.nn.Module, n_tokens: int) -> tuple[int, str]:
    """How many lower layers of `encoder` can be cached under this config (0: none), and why."""
    if not cfg.loop.cache_frozen_layers:
        return 0, "off (loop.cache_frozen_layers=false)"
    stack = layers_of(encoder)
    if stack is None or cfg.lora.top_layers is None:
        return 0, "off: needs a BERT-like encoder with LoRA on its top layers only (lora.top_layers)"
    n_frozen = len(stack) - cfg.lora.top_layers
    lower = [encoder.embeddings, *stack[:n_frozen]]
    if any(m.p > 0 for part in lower for m in part.modules() if isinstance(m, torch.nn.Dropout)) or (
        getattr(encoder.config, "attention_probs_dropout_prob", 0.0) > 0
    ):
        return 0, "off: the lower layers use dropout (set model.encoder_dropout=0.0)"
    need_gb = n_tokens * encoder.config.hidden_size * BYTES_PER_VALUE / 1e9
    if need_gb > cfg.loop.cache_max_gb:
        return 0, f"off: would need {need_gb:.1f} GB > loop.cache_max_gb={cfg.loop.cache_max_gb}"
    return (
        n_frozen,
        f"layers 1-{n_frozen} computed once ({need_gb * 1000:.0f} MB); "
        f"epochs run the top {cfg.lora.top_layers}",
    )


def frozen_layers(model: torch.nn.Module, cfg: DictConfig, n_tokens: int) -> tuple[int, str]:
    """plan() for the peft model about to train, which must leave the lower layers untrained."""
    encoder = getattr(model.get_base_model(), "encoder", None)
    if encoder is None:
        return 0, "off: the model has no encoder"
    n_frozen, why = plan(cfg, encoder, n_tokens)
    lower = [encoder.embeddings, *layers_of(encoder)[:n_frozen]] if n_frozen else []
    if any(p.requires_grad for part in lower for p in part.parameters()):
        return 0, "off: some lower-layer weights are trained"
    return n_frozen, why


def per_note(
    hidden: torch.Tensor, attention_mask: torch.Tensor, note_index: torch.Tensor, n_notes: int | None = None
) -> list[list[torch.Tensor]]:
    """A padded batch of chunk features as, per note, its chunks' unpadded features (on the CPU).
    n_notes: the batch's notes, where one may have no chunk (an eligibility pair the numeric rule
    decided whole); None: every note has one."""
    lengths = attention_mask.sum(1).tolist()
    chunks = [hidden[i, :n].cpu().clone() for i, n in enumerate(lengths)]
    return by_note(chunks, note_index, int(note_index.max()) + 1 if n_notes is None else n_notes)


def by_note(chunks: list[torch.Tensor], note_index: torch.Tensor, n_notes: int) -> list[list[torch.Tensor]]:
    """Chunk features grouped per note (note_index: each chunk's note), in note order."""
    notes: list[list[torch.Tensor]] = [[] for _ in range(n_notes)]
    for note, chunk in zip(note_index.tolist(), chunks, strict=True):
        notes[note].append(chunk)
    return notes


def cache_features(
    model: torch.nn.Module, rows, collate: Callable, n_frozen: int, batch_size: int, device: torch.device
) -> WithPrefix:
    """`rows` with each chunk's output of the first n_frozen layers (unpadded, on the CPU)."""
    encoder = model.get_base_model().encoder
    was_training = encoder.training
    encoder.eval().to(device)
    features: list[list[torch.Tensor]] = []
    for batch in DataLoader(rows, batch_size=batch_size, shuffle=False, collate_fn=collate):
        n_notes = min(batch_size, len(rows) - len(features))
        mask = batch["attention_mask"]
        if not len(mask):  # no note of the batch has a chunk
            features.extend([] for _ in range(n_notes))
            continue
        chunks = chunk_features(encoder, batch["input_ids"], mask, n_frozen, device)
        features.extend(by_note(chunks, batch["note_index"], n_notes))
    encoder.train(was_training)
    return WithPrefix(rows, features)


def chunk_features(
    encoder: torch.nn.Module, input_ids: torch.Tensor, mask: torch.Tensor, n_frozen: int, device: torch.device
) -> list[torch.Tensor]:
    """Each chunk's unpadded lower-layer features (on the CPU), computed CHUNKS_PER_PASS chunks of
    similar length at a time, each group cut to its own longest: eligibility's criterion sequences
    (10 to 96 tokens) padded to their batch's longest spent about half the pass on padding."""
    lengths = mask.sum(1)
    out: list[torch.Tensor | None] = [None] * len(lengths)
    for group in lengths.argsort().split(CHUNKS_PER_PASS):
        width = int(lengths[group].max())
        ids, group_mask = input_ids[group, :width].to(device), mask[group, :width].to(device)
        hidden = prefix_features(encoder, ids, group_mask, n_frozen)
        for row, i in enumerate(group.tolist()):
            out[i] = hidden[row, : lengths[i]].cpu().clone()
    return out


def training_sets(
    model: torch.nn.Module,
    cfg: DictConfig,
    train,
    val,
    collate: Callable,
    device: torch.device,
    kept_val: Callable[[int], WithPrefix | None] | None = None,
) -> tuple:
    """(train, val) with their lower-layer features cached when the config allows (plan());
    kept_val(n_frozen) may hand back val features an earlier pass (the base evaluation) kept."""
    n_frozen, why = frozen_layers(model, cfg, count_tokens(train) + count_tokens(val))
    console.print(f"frozen-layer cache: {why}")
    if not n_frozen:
        return train, val
    model.get_base_model().frozen_layers = n_frozen
    batch = cfg.loop.eval_batch_size
    cached_val = kept_val(n_frozen) if kept_val else None
    if cached_val is None:
        cached_val = cache_features(model, val, collate, n_frozen, batch, device)
    return cache_features(model, train, collate, n_frozen, batch, device), cached_val


def count_tokens(rows) -> int:
    return sum(len(chunk) for chunks in rows["chunks"] for chunk in chunks)
