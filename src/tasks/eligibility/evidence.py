"""(criterion, evidence) sequences: each criterion of a pair read with the record lines it is about.

A criterion ("eGFR ≥ 45 mL/min/1.73m²") is decided by one or two lines of the record ("Labs: -
eGFR: 44 mL/min/1.73m² (2026-02-11)"). Each criterion is paired with the `n_lines` record lines
whose embedding (`embed`, from the base model) is closest to its own, and the two are read as one
short sequence: the encoder attends across the threshold and the value,
which a whole (criteria list, record) pair of 500 tokens dilutes. Cached by `datasets` like the
other encodings.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from src.data.chunking import cached_map
from src.tasks.eligibility.criteria import criteria_list, record_lines

EVIDENCE_VERSION = "3"  # bump when the selection or the cached layout changes (3: no text)


def select_evidence(
    lines: list[str], line_vectors: torch.Tensor, criterion: torch.Tensor, n_lines: int
) -> str:
    """The n_lines lines most similar to the criterion (unit vectors), the closest first: a
    sequence cut to its max_length loses the least related line."""
    top = line_vectors.mv(criterion).topk(min(n_lines, len(lines))).indices
    return "\n".join(lines[i] for i in top.tolist())


def criterion_sequences(
    dataset: Dataset,
    tokenizer: PreTrainedTokenizerBase,
    embed: Callable[[list[str]], torch.Tensor],
    n_lines: int,
    max_length: int,
    cache_dir: str | Path,
    key: list,
    sources: dict[str, str],
) -> tuple[Dataset, dict]:
    """Adds per pair: `chunks` (one token-id list per criterion), `exclusion` and `met` (1, 0, or -1
    when the row has no criteria labels), one entry per criterion; drops the `criteria` and
    `patient` texts, so the cache holds none. sources: the data files (role -> path).

    embed: unit-vector embeddings of texts (called only when the cache misses); key: what else the
    result depends on (data, embedding model). Sequences longer than max_length lose the tail of
    the longer side. Returns the dataset and stats: cache reused, criteria read, criteria cut.
    """
    key = [EVIDENCE_VERSION, *key, tokenizer.name_or_path, len(tokenizer), n_lines, max_length]

    def encode(batch: dict) -> dict:
        out = encode_criteria(batch["criteria"], batch["patient"], tokenizer, embed, n_lines, max_length)
        out["met"] = [
            [int(m) for m in met] if met is not None else [-1] * len(exclusion)
            for met, exclusion in zip(batch["criteria_met"], out["exclusion"], strict=True)
        ]
        return out

    encoded, reused, _ = cached_map(
        dataset, encode, "criteria", key, cache_dir, "Criteria and evidence", ["criteria", "patient"], sources
    )
    n_criteria = sum(len(e) for e in encoded["exclusion"])
    return encoded, {"reused_cache": reused, "criteria": n_criteria, "criteria_cut": sum(encoded["n_cut"])}


def encode_criteria(
    criteria: list[str],
    patients: list[str],
    tokenizer: PreTrainedTokenizerBase,
    embed: Callable[[list[str]], torch.Tensor],
    n_lines: int,
    max_length: int,
) -> dict[str, list]:
    """Per (criteria, patient) pair: `chunks` (one token-id list per criterion, read with its
    evidence lines), `exclusion` (one bool per criterion) and `n_cut` (sequences longer than
    max_length); what training and src.predict both read a pair as."""
    items_per_pair = [criteria_list(text) for text in criteria]
    records = [record_lines(text) for text in patients]
    # Sorted by length: batches of similar length waste little on padding.
    texts = sorted({t for c in items_per_pair for t, _ in c} | {line for r in records for line in r}, key=len)
    vectors = dict(zip(texts, embed(texts), strict=True))
    out = {"chunks": [], "exclusion": [], "n_cut": []}
    for items, lines in zip(items_per_pair, records, strict=True):
        line_vectors = torch.stack([vectors[line] for line in lines])
        firsts = [t for t, _ in items]
        evidence = [select_evidence(lines, line_vectors, vectors[t], n_lines) for t in firsts]
        full = tokenizer(firsts, evidence)["input_ids"]
        ids = tokenizer(firsts, evidence, truncation="longest_first", max_length=max_length)["input_ids"]
        out["chunks"].append(ids)
        out["exclusion"].append([excluding for _, excluding in items])
        out["n_cut"].append(sum(len(f) > max_length for f in full))
    return out
