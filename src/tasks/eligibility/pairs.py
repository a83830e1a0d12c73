"""Two texts read together as one sequence ([CLS] first [SEP] second [SEP]), cached by `datasets`.

The result has the shape of src.data.chunking's output (`chunks`: a list holding one token-id
list), so the chunked classifier, its collate function and the frozen-layer cache serve pairs too.
"""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from src.data.chunking import cached_map

PAIRS_VERSION = "2"  # bump when the cached layout changes (2: no text columns)


def tokenize_pairs(
    dataset: Dataset,
    tokenizer: PreTrainedTokenizerBase,
    columns: tuple[str, str],
    max_length: int,
    truncation: str,
    cache_dir: str | Path,
    data_fingerprint: str,
    sources: dict[str, str],
) -> tuple[Dataset, dict]:
    """Adds `chunks` ([token ids of the pair]) and `n_tokens_total` (the untruncated length), and
    drops the two text columns: the cache holds no text. sources: the data files (role -> path).

    truncation: the tokenizer's strategy for pairs longer than max_length (only_second cuts the
    second text's tail). A pair whose other side alone exceeds max_length is cut longest_first
    instead (`cut_both_sides`). Returns the dataset and stats: cache reused, pairs truncated,
    pairs cut on both sides.
    """
    key = [
        PAIRS_VERSION,
        data_fingerprint,
        tokenizer.name_or_path,
        len(tokenizer),
        columns,
        max_length,
        truncation,
    ]

    def encode(batch: dict) -> dict:
        return encode_pairs(batch[columns[0]], batch[columns[1]], tokenizer, max_length, truncation)

    tokenized, reused, _ = cached_map(
        dataset, encode, "pairs", key, cache_dir, "Tokenizing pairs", list(columns), sources
    )
    truncated = sum(1 for n in tokenized["n_tokens_total"] if n > max_length)
    both = sum(tokenized["cut_both_sides"])
    return tokenized, {"reused_cache": reused, "pairs_truncated": truncated, "pairs_cut_both_sides": both}


def encode_pairs(
    first: list[str],
    second: list[str],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    truncation: str,
) -> dict[str, list]:
    """Per pair: `chunks` ([token ids of the pair, cut to max_length]), `n_tokens_total` (the
    untruncated length) and `cut_both_sides`; what training and src.predict both read a pair as."""
    full = tokenizer(first, second, truncation=False)["input_ids"]
    ids = [None] * len(first)
    # A pair whose kept side alone is too long cannot be cut as asked: cut the longer side.
    kept = {"only_second": first, "only_first": second}.get(truncation)
    too_long = set()
    if kept is not None:
        lengths = [len(x) for x in tokenizer(kept, add_special_tokens=False)["input_ids"]]
        too_long = {i for i, n in enumerate(lengths) if n + 4 > max_length}
    for strategy, rows in (
        (truncation, [i for i in range(len(first)) if i not in too_long]),
        ("longest_first", sorted(too_long)),
    ):
        if rows:
            encoded = tokenizer(
                [first[i] for i in rows],
                [second[i] for i in rows],
                truncation=strategy,
                max_length=max_length,
            )
            for i, row_ids in zip(rows, encoded["input_ids"], strict=True):
                ids[i] = row_ids
    return {
        "chunks": [[row] for row in ids],
        "n_tokens_total": [len(row) for row in full],
        "cut_both_sides": [i in too_long for i in range(len(first))],
    }
