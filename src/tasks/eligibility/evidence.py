"""(criterion, evidence) sequences: each criterion of a pair read with the record lines it is about.

A criterion ("eGFR ≥ 45 mL/min/1.73m²") is decided by one or two lines of the record ("Labs: -
eGFR: 44 mL/min/1.73m² (2026-02-11)"). Each criterion is paired with the `n_lines` record lines
whose embedding (`embed`, from the base model) is closest to its own, and the two are read as one
short sequence: the encoder attends across the threshold and the value,
which a whole (criteria list, record) pair of 500 tokens dilutes. A threshold criterion that a
number in the record decides (numeric.py) is not read at all when `numeric_rule` is on. Cached by
`datasets` like the other encodings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch
from datasets import Dataset
from omegaconf import DictConfig
from transformers import PreTrainedTokenizerBase

from src.data.chunking import cached_map
from src.data.records import rows_fingerprint
from src.errors import MedtuneError
from src.models import build
from src.models.classifier import embed_texts
from src.tasks.eligibility.criteria import criteria_list, record_lines
from src.tasks.eligibility.data import EligibilityRows
from src.tasks.eligibility.numeric import MODEL_READS, decide

log = logging.getLogger(__name__)
# Bump when the selection or the cached layout changes (3: no text; 4: `ruled`, full-length lists).
EVIDENCE_VERSION = "4"


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
    numeric_rule: bool,
    cache_dir: str | Path,
    key: list,
    sources: dict[str, str],
) -> tuple[Dataset, dict]:
    """Adds per pair, one entry per criterion in the criteria text's order: `exclusion`, `met` (1,
    0, or -1 when the row has no criteria labels) and `ruled` (MODEL_READS, or the numeric rule's
    decision); and `chunks`, one token-id list per criterion the model reads. Drops the `criteria`
    and `patient` texts, so the cache holds none. sources: the data files (role -> path).

    embed: unit-vector embeddings of texts (called only when the cache misses); key: what else the
    result depends on (data, embedding model). Sequences longer than max_length lose the tail of
    the longer side. Returns the dataset and stats: cache reused, criteria, criteria the rule
    decided, sequences cut.
    """
    key = [EVIDENCE_VERSION, *key, tokenizer.name_or_path, len(tokenizer), n_lines, max_length, numeric_rule]

    def encode(batch: dict) -> dict:
        out = encode_criteria(
            batch["criteria"], batch["patient"], tokenizer, embed, n_lines, max_length, numeric_rule
        )
        out["met"] = [
            [int(m) for m in met] if met is not None else [-1] * len(exclusion)
            for met, exclusion in zip(batch["criteria_met"], out["exclusion"], strict=True)
        ]
        return out

    encoded, reused, _ = cached_map(
        dataset, encode, "criteria", key, cache_dir, "Criteria and evidence", ["criteria", "patient"], sources
    )
    ruled = [r for pair in encoded["ruled"] for r in pair]
    return encoded, {
        "reused_cache": reused,
        "criteria": len(ruled),
        "criteria_ruled": sum(r != MODEL_READS for r in ruled),
        "criteria_cut": sum(encoded["n_cut"]),
    }


def encode_splits(
    rows: EligibilityRows, cfg: DictConfig, tokenizer: PreTrainedTokenizerBase, device: torch.device
) -> tuple[dict[str, Dataset], bool, dict[str, int]]:
    """Every split as (criterion, evidence lines) sequences: (datasets, cache reused, counts). The
    evidence is picked by the base model's embedding layer, loaded only when the cache misses: on
    the default data it finds the line a numeric criterion reads 98.7% of the time at 1/50 of the
    cost of the whole encoder (100%)."""
    encoder = None
    if cfg.task.evidence_lines < 1:
        raise MedtuneError(f"task.evidence_lines={cfg.task.evidence_lines}; read at least 1 record line")

    def embed(texts: list[str]) -> torch.Tensor:
        nonlocal encoder
        encoder = encoder or build.load_encoder(cfg.model, cfg.seed).eval().to(device)
        return embed_texts(
            encoder,
            tokenizer,
            texts,
            cfg.task.criterion_max_length,
            cfg.loop.eval_batch_size,
            by_length=False,  # batches in input order, as predict reads them: the same lines picked
            contextual=False,
            desc="Evidence lines",
        )

    tokenized, counts, reused = {}, {"criteria": 0, "criteria_ruled": 0, "criteria_cut": 0}, True
    for split in ("train", "val", "eval"):
        split_rows = getattr(rows, split)
        tokenized[split], stats = criterion_sequences(
            Dataset.from_list(split_rows),
            tokenizer,
            embed,
            cfg.task.evidence_lines,
            cfg.task.criterion_max_length,
            cfg.task.numeric_rule,
            cfg.paths.cache_dir,
            [rows_fingerprint(split_rows), cfg.model.name_or_path],
            rows.files,
        )
        counts = {k: counts[k] + stats[k] for k in counts}
        reused &= stats["reused_cache"]
    if counts["criteria_cut"]:
        log.warning(
            "%d of %d (criterion, evidence) sequences are longer than task.criterion_max_length=%d "
            "tokens; their longer side was cut",
            counts["criteria_cut"],
            counts["criteria"],
            cfg.task.criterion_max_length,
        )
    return tokenized, reused, counts


def ruled_with_labels(encoded: Dataset) -> list[tuple[int, int]]:
    """(decision, label: -1 unknown) of every criterion of `encoded` the numeric rule decided."""
    return [
        (r, m)
        for ruled, met in zip(encoded["ruled"], encoded["met"], strict=True)
        for r, m in zip(ruled, met, strict=True)
        if r != MODEL_READS
    ]


def encode_criteria(
    criteria: list[str],
    patients: list[str],
    tokenizer: PreTrainedTokenizerBase,
    embed: Callable[[list[str]], torch.Tensor],
    n_lines: int,
    max_length: int,
    numeric_rule: bool,
) -> dict[str, list]:
    """Per (criteria, patient) pair: `exclusion` (one bool per criterion), `ruled` (per criterion,
    MODEL_READS or the numeric rule's 0 / 1), `chunks` (one token-id list per criterion the model
    reads, with its evidence lines) and `n_cut` (sequences longer than max_length); what training
    and src.predict both read a pair as."""
    items_per_pair = [criteria_list(text) for text in criteria]
    records = [record_lines(text) for text in patients]
    ruled = [
        [
            MODEL_READS if (met := decide(text, lines) if numeric_rule else None) is None else int(met)
            for text, _ in items
        ]
        for items, lines in zip(items_per_pair, records, strict=True)
    ]
    read = [
        [text for (text, _), r in zip(items, rule, strict=True) if r == MODEL_READS]
        for items, rule in zip(items_per_pair, ruled, strict=True)
    ]
    # Sorted by length: batches of similar length waste little on padding.
    texts = sorted({t for texts in read for t in texts} | {line for r in records for line in r}, key=len)
    vectors = dict(zip(texts, embed(texts), strict=True))
    out = {"chunks": [], "exclusion": [], "ruled": ruled, "n_cut": []}
    for items, firsts, lines in zip(items_per_pair, read, records, strict=True):
        out["exclusion"].append([excluding for _, excluding in items])
        if not firsts:  # every criterion decided by the rule
            out["chunks"].append([])
            out["n_cut"].append(0)
            continue
        line_vectors = torch.stack([vectors[line] for line in lines])
        evidence = [select_evidence(lines, line_vectors, vectors[t], n_lines) for t in firsts]
        full = tokenizer(firsts, evidence)["input_ids"]
        ids = tokenizer(firsts, evidence, truncation="longest_first", max_length=max_length)["input_ids"]
        out["chunks"].append(ids)
        out["n_cut"].append(sum(len(f) > max_length for f in full))
    return out
