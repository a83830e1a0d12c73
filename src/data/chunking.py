"""Long notes as overlapping token chunks, tokenized once and cached by `datasets`."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import torch
from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from src.data.caches import record_sources

# Bump when the cached layout changes, so old caches are not reused.
CHUNKING_VERSION = "3"  # 2: a note's chunks share its tokens evenly; 3: no text column


def tokenize_chunks(
    dataset: Dataset,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    overlap: int,
    max_chunks: int,
    cache_dir: str | Path,
    data_fingerprint: str,
    sources: dict[str, str],
) -> tuple[Dataset, dict]:
    """Adds `chunks` (list of token-id lists, at most max_chunks per note) to each row and drops
    `text`: the cache holds token ids, never the note (the rows in memory still have it).

    sources: role -> path of the data files the rows come from (the cache's sidecar). Returns
    the dataset and stats: whether the cache was reused, how many notes were cut at max_chunks.
    The cache key covers the data, the tokenizer and every chunking setting.
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

    tokenized, reused, cache_file = cached_map(
        dataset, encode, "chunks", key, cache_dir, "Tokenizing notes", ["text"], sources
    )
    cut = sum(1 for n in tokenized["n_chunks_total"] if n > max_chunks)
    return tokenized, {"reused_cache": reused, "notes_cut_at_max_chunks": cut, "cache_file": str(cache_file)}


def cached_map(
    dataset: Dataset,
    encode,
    name: str,
    key: list,
    cache_dir: str | Path,
    desc: str,
    text_columns: list[str],
    sources: dict[str, str],
) -> tuple[Dataset, bool, Path]:
    """dataset.map(encode) in batches, stored as <cache_dir>/tokenized/<name>-<hash of key>.arrow and
    reused by any later run with the same key; returns (dataset, reused, cache file).

    text_columns are left out of the result, so no text reaches the file; sources (role -> data
    file) go into its sidecar (src/data/caches.py)."""
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
        remove_columns=text_columns,
    )
    record_sources(cache_file, sources)
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

    A text takes as many chunks as max_length windows with `overlap` would need, but its chunks
    share its tokens evenly (a 300-token note: 2 chunks of ~150, not 126 + 174 padded to 128):
    every chunk of a note has the same width, so a batch wastes almost nothing on padding once
    notes of similar length are batched together (loop.group_by_length).
    """
    prefix, suffix = special_tokens(tokenizer)
    window = max_length - len(prefix) - len(suffix)  # content tokens a chunk can hold
    encoded = tokenizer(
        texts, add_special_tokens=False, return_attention_mask=False, return_token_type_ids=False
    )["input_ids"]
    chunks, total = [], []
    for ids in encoded:
        starts, width = even_windows(len(ids), window, overlap)
        total.append(len(starts))
        chunks.append([prefix + ids[s : s + width] + suffix for s in starts[:max_chunks]])
    return chunks, total


def even_windows(n: int, window: int, overlap: int) -> tuple[list[int], int]:
    """(start positions, width) of the fewest windows of at most `window` tokens, overlapping by
    at least `overlap`, that cover n tokens, all of one width (the last one ends at n)."""
    if n <= window:
        return [0], n
    count = 1 + math.ceil((n - window) / (window - overlap))
    width = math.ceil((n + (count - 1) * overlap) / count)
    starts = [i * (width - overlap) for i in range(count - 1)] + [n - width]
    return starts, width


def special_tokens(tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after a single text ([CLS] and [SEP] for BERT,
    <s> for Llama, </s> for T5), found by tokenizing a word with and without them."""
    bare = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    for i in range(len(full) - len(bare) + 1):
        if full[i : i + len(bare)] == bare:
            return full[:i], full[i + len(bare) :]
    raise ValueError(f"cannot locate the text between {tokenizer.name_or_path}'s special tokens")


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
    width = max((len(chunk) for chunk in flat), default=0)  # 0: no note of the batch has a chunk
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
    features = [chunk for row in rows for chunk in row.get("prefix", ())]
    if features:  # cached frozen-layer features, one (tokens, hidden) tensor per chunk
        batch["prefix_hidden"] = torch.nn.utils.rnn.pad_sequence(features, batch_first=True)
    return batch
