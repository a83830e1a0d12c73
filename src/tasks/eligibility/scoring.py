"""Scores of encoded pairs: one code path for training's evaluation and src.predict (the
embeddings that pick evidence: src.models.classifier.embed_texts, by_length=False).

Pairs come encoded by pairs.encode_pairs (pair reader: one sequence per pair) or by
evidence.encode_criteria (criteria reader: one sequence per criterion), as rows with `chunks`.
"""

from __future__ import annotations

import math

import torch

from src.data.chunking import collate_chunks
from src.models.classifier import sequence_logits
from src.tasks.eligibility.numeric import MODEL_READS, model_read
from src.tasks.eligibility.rule import log_eligible

SEQUENCES_PER_PASS = 32  # criteria reader: (criterion, evidence) sequences per encoder call


def collate_inputs(
    rows: list[dict], pad_token_id: int, rule_confidence: float | None = None
) -> dict[str, torch.Tensor]:
    """Model inputs of a batch of encoded pairs; criteria reader: one sequence per criterion the
    model reads, note_index its pair, `exclusion` its kind, and per pair `ruled_log_p`, the log
    probability that the criteria the numeric rule decided let it through, each decision right
    with probability rule_confidence."""
    batch = collate_chunks(rows, pad_token_id)
    if "exclusion" in rows[0]:
        batch["exclusion"] = torch.tensor(
            [e for row in rows for e in model_read(row["exclusion"], row["ruled"])], dtype=torch.bool
        )
        batch["ruled_log_p"] = torch.tensor([_ruled_log_p(row, rule_confidence) for row in rows])
    return batch


def _ruled_log_p(row: dict, confidence: float | None) -> float:
    """log P(the rule-decided criteria of a pair let it through): a criterion lets it through when
    it is an inclusion criterion met or an exclusion criterion not met."""
    through = [
        met != excluding
        for met, excluding in zip(row["ruled"], row["exclusion"], strict=True)
        if met != MODEL_READS
    ]
    if not through:
        return 0.0
    if confidence is None:
        raise ValueError("criteria decided by the numeric rule need its confidence")
    return sum(math.log(confidence if t else 1 - confidence) for t in through)


def criteria_scores(model: torch.nn.Module, batch: dict, n_pairs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(logit of "met" per criterion the model reads, log P(eligible) per pair). Each criterion
    sequence is scored on its own (as its own note); batch["note_index"] says whose pair it is."""
    if len(batch["input_ids"]):
        # Criteria vary in length (30 to 96 tokens): scored in groups of similar length.
        met = sequence_logits(model, batch, SEQUENCES_PER_PASS)
    else:  # every criterion of the batch decided by the numeric rule
        met = batch["ruled_log_p"].new_zeros(0)
    log_p = log_eligible(met, batch["exclusion"], batch["note_index"], n_pairs)
    return met, log_p + batch["ruled_log_p"].to(log_p)


def pair_scores(
    model: torch.nn.Module, batch: dict, n_pairs: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(P(eligible) per pair in float64, P(met) per criterion or None for the pair reader): the
    score the operating threshold applies to."""
    if "exclusion" in batch:  # float64: P(eligible) of a clearly excluded pair is tiny
        met, log_p = criteria_scores(model, batch, n_pairs)
        return log_p.double().exp(), torch.sigmoid(met)
    return torch.sigmoid(model(**batch)[:, 0]).double(), None
