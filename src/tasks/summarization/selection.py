"""Which units make an extractive summary: a note's k best-scored units, in note order, with k
chosen on the validation slice by the main metric (as lead-k chooses its k), among the counts
the specialty's summary form allows (k_choices)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from src.tasks.summarization.metrics import MAX_DISCHARGE_SENTENCES
from src.tasks.summarization.sentences import Unit, join_units

K_CHOICES = range(1, 7)


def k_choices(specialty: str) -> range:
    """The unit counts k may take: a discharge summary is at most MAX_DISCHARGE_SENTENCES
    sentences (its structure rule), so a larger k would break the form whatever it scores."""
    if specialty == "discharge":
        return range(1, MAX_DISCHARGE_SENTENCES + 1)
    return K_CHOICES


def top_units(units: list[Unit], scores: np.ndarray, k: int) -> list[Unit]:
    """The k best-scored units (the earliest on ties), best first."""
    return [units[i] for i in sorted(range(len(units)), key=lambda i: (-scores[i], i))[:k]]


def summary(units: list[Unit], scores: np.ndarray, k: int) -> str:
    """The k best-scored units (the earliest on ties) joined in note order."""
    return join_units(top_units(units, scores, k))


def summaries(units: Sequence[list[Unit]], scores: Sequence[np.ndarray], k: int) -> list[str]:
    return [summary(u, s, k) for u, s in zip(units, scores, strict=True)]


def choose_k(
    rows: list[dict],
    units: Sequence[list[Unit]],
    scores: Sequence[np.ndarray],
    score: Callable[[list[dict], list[str]], dict[str, float]],
    main: str,
    choices: range = K_CHOICES,
) -> tuple[int, dict[int, float]]:
    """(the best k of `choices` on rows by `main`, the smallest on ties; main by k)."""
    values = {k: score(rows, summaries(units, scores, k))[main] for k in choices}
    return max(values, key=lambda k: (values[k], -k)), values
