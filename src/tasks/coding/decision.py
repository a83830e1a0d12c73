"""Turning code scores into code sets: thresholds or top-k, tuned on the validation slice.

Every note gets at least its best-scoring code: notes in a coding set carry one or more
codes, so an empty prediction is always wrong.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from src.tasks.coding.metrics import coding_metrics

THRESHOLD_GRID = np.round(np.arange(0.05, 0.96, 0.05), 2)


@dataclass
class Decision:
    kind: str  # "threshold" | "top_k"
    threshold: float | list[float] | None = None
    k: int | None = None

    def apply(self, scores: np.ndarray, labels: list[str]) -> list[list[str]]:
        if self.kind == "top_k":
            picked = np.zeros_like(scores, dtype=bool)
            top = np.argsort(-scores, axis=1)[:, : self.k]
            np.put_along_axis(picked, top, True, axis=1)
        else:
            picked = scores >= np.asarray(self.threshold)
        picked[np.arange(len(scores)), scores.argmax(1)] = True
        return [[labels[j] for j in np.flatnonzero(row)] for row in picked]

    def to_dict(self) -> dict:
        return asdict(self)


def _best(candidates: list[Decision], scores, labels, gold) -> Decision:
    def f1(decision: Decision) -> float:
        return coding_metrics(gold, decision.apply(scores, labels))["micro_f1"]

    return max(candidates, key=f1)


def tune_global(
    scores: np.ndarray,
    labels: list[str],
    gold: list[list[str]],
    grid: np.ndarray = THRESHOLD_GRID,
    top_k: range | None = None,
) -> Decision:
    """The threshold (or top-k) with the best micro-F1 on (scores, gold)."""
    candidates = [Decision("threshold", threshold=float(t)) for t in grid]
    candidates += [Decision("top_k", k=k) for k in (top_k or [])]
    return _best(candidates, scores, labels, gold)


def tune_per_code(
    scores: np.ndarray, labels: list[str], gold: list[list[str]], min_positives: int
) -> Decision:
    """One threshold per code (best F1 for that code); rare codes keep the global threshold."""
    glob = tune_global(scores, labels, gold).threshold
    index = {code: j for j, code in enumerate(labels)}
    truth = np.zeros_like(scores, dtype=bool)
    for i, codes in enumerate(gold):
        for code in codes:
            if code in index:
                truth[i, index[code]] = True
    thresholds = []
    for j in range(len(labels)):
        if truth[:, j].sum() < min_positives:
            thresholds.append(glob)
            continue
        pred = scores[:, j][None, :] >= THRESHOLD_GRID[:, None]
        tp = (pred & truth[:, j]).sum(1)
        f1 = 2 * tp / (pred.sum(1) + truth[:, j].sum())
        thresholds.append(float(THRESHOLD_GRID[int(f1.argmax())]))
    return Decision("threshold", threshold=thresholds)
