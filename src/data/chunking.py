"""Long notes as overlapping token chunks, tokenized once and cached by `datasets`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from datasets import Dataset
from transformers import PreTrainedTokenizerBase

# Bump when the cached layout changes, so old caches are not reused.
CHUNKING_VERSION = "1"


def tokenize_chunks(
    dataset: Dataset,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    overlap: int,
    max_chunks: int,
    cache_dir: str | Path,
    data_fingerprint: str,
) -> tuple[Dataset, dict]:
    """Adds `chunks` (list of token-id lists, at most max_chunks per note) to each row.

    Returns the dataset and stats: whether the cache was reused, how many notes were cut at
    max_chunks. The cache key covers the data, the tokenizer and every chunking setting.
    """
    if overlap >= max_length - 2:
        raise ValueError("data.chunk_overlap must be smaller than model.max_length - 2")
    key = [
        CHUNKING_VERSION,
        data_fingerprint,
        tokenizer.name_or_path,
        len(tokenizer),
        max_length,
        overlap,
        max_chunks,
    ]

    def encode(batch: dict) -> dict:
        chunks, total = chunk_texts(batch["text"], tokenizer, max_length, overlap, max_chunks)
        return {"chunks": chunks, "n_chunks_total": total}

    tokenized, reused, cache_file = cached_map(dataset, encode, "chunks", key, cache_dir, "Tokenizing notes")
    cut = sum(1 for n in tokenized["n_chunks_total"] if n > max_chunks)
    return tokenized, {"reused_cache": reused, "notes_cut_at_max_chunks": cut, "cache_file": str(cache_file)}


def cached_map(
    dataset: Dataset, encode, name: str, key: list, cache_dir: str | Path, desc: str
) -> tuple[Dataset, bool, Path]:
    """dataset.map(encode) in batches, stored as <cache_dir>/tokenized/<name>-<hash of key>.arrow and
    reused by any later run with the same key; returns (dataset, reused, cache file)."""
    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]
    cache_file = Path(cache_dir) / "tokenized" / f"{name}-{digest}.arrow"
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    reused = cache_file.exists()
    mapped = dataset.map(
        encode,
        batched=True,
        batch_size=256,
        cache_file_name=str(cache_file),
        load_from_cache_file=True,
        new_fingerprint=digest,
        desc=desc,
    )
    return mapped, reused, cache_file


def chunk_texts(
    texts: list[str],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    overlap: int,
    max_chunks: int,
) -> tuple[list[list[list[int]]], list[int]]:
    """Each text as overlapping chunks of token ids (at most max_chunks), and how many chunks
    the whole text would take. Training (through the cache above) and inference share it.
    """
    encoded = tokenizer(
        texts,
        max_length=max_length,
        stride=overlap,
        truncation=True,
        return_overflowing_tokens=True,
        return_attention_mask=False,
        return_token_type_ids=False,
    )
    chunks: list[list[list[int]]] = [[] for _ in texts]
    total = [0] * len(texts)
    for ids, note in zip(encoded["input_ids"], encoded["overflow_to_sample_mapping"], strict=True):
        total[note] += 1
        if len(chunks[note]) < max_chunks:
            chunks[note].append(ids)
    return chunks, total


def tokenizer_versions() -> dict[str, str]:
    """The libraries that decide how a note is cut into chunks: other versions have cut long
    notes at other places (one note: 2 chunks under transformers 5.17, 3 under 5.24)."""
    import tokenizers
    import transformers

    return {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__}


def collate_chunks(rows: list[dict], pad_token_id: int) -> dict:
    """Pads the chunks of a batch of notes to the longest chunk in the batch (dynamic padding).

    `note_index` maps each chunk row back to its note, so the model can pool per note.
    """
    flat = [chunk for row in rows for chunk in row["chunks"]]
    note_index = [i for i, row in enumerate(rows) for _ in row["chunks"]]
    width = max(len(chunk) for chunk in flat)
    input_ids = torch.full((len(flat), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(flat), width), dtype=torch.long)
    for i, chunk in enumerate(flat):
        input_ids[i, : len(chunk)] = torch.tensor(chunk, dtype=torch.long)
        attention_mask[i, : len(chunk)] = 1
    batch = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "note_index": torch.tensor(note_index, dtype=torch.long),
    }
    if "prefix" in rows[0]:  # cached frozen-layer features, one (tokens, hidden) tensor per chunk
        features = [chunk for row in rows for chunk in row["prefix"]]
        batch["prefix_hidden"] = torch.nn.utils.rnn.pad_sequence(features, batch_first=True)
    return batch
