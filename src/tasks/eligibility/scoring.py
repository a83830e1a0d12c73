"""Scores of encoded pairs: one code path for training's evaluation and src.predict (the
embeddings that pick evidence: src.models.classifier.embed_texts, by_length=False).

Pairs come encoded by pairs.encode_pairs (pair reader: one sequence per pair) or by
evidence.encode_criteria (criteria reader: one sequence per criterion), as rows with `chunks`.
"""

from __future__ import annotations

import torch

from src.data.chunking import collate_chunks
from src.models.classifier import sequence_logits
from src.tasks.eligibility.rule import log_eligible

SEQUENCES_PER_PASS = 32  # criteria reader: (criterion, evidence) sequences per encoder call


def collate_inputs(rows: list[dict], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Model inputs of a batch of encoded pairs; criteria reader: one sequence per criterion,
    note_index its pair, `exclusion` its kind."""
    batch = collate_chunks(rows, pad_token_id)
    if "exclusion" in rows[0]:
        batch["exclusion"] = torch.tensor([e for row in rows for e in row["exclusion"]], dtype=torch.bool)
    return batch


def criteria_scores(model: torch.nn.Module, batch: dict, n_pairs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(logit of "met" per criterion, log P(eligible) per pair). Each criterion sequence is
    scored on its own (as its own note); batch["note_index"] says whose pair it is."""
    # Criteria vary in length (30 to 96 tokens): scored in groups of similar length.
    met = sequence_logits(model, batch, SEQUENCES_PER_PASS)
    return met, log_eligible(met, batch["exclusion"], batch["note_index"], n_pairs)


def pair_scores(
    model: torch.nn.Module, batch: dict, n_pairs: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(P(eligible) per pair in float64, P(met) per criterion or None for the pair reader): the
    score the operating threshold applies to."""
    if "exclusion" in batch:  # float64: P(eligible) of a clearly excluded pair is tiny
        met, log_p = criteria_scores(model, batch, n_pairs)
        return log_p.double().exp(), torch.sigmoid(met)
    return torch.sigmoid(model(**batch)[:, 0]).double(), None
