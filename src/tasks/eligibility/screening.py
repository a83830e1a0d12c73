"""Screening metrics for trial eligibility: "eligible" is the positive class.

A screening tool ranks patient-trial pairs by a score and flags those with score >= threshold for
manual review. What matters is recall (an eligible patient the tool misses is lost to the trial)
and the work it saves. The threshold is chosen on training or validation data for a target recall
(`threshold_for_recall`) and then applied unchanged to the evaluation data (`screening_metrics`).

Work saved over sampling (Cohen et al. 2006, "Reducing workload in systematic review preparation
using automated citation classification"): WSS = (TN + FN) / N - (1 - recall), the share of pairs
nobody has to review minus the share that random sampling would skip to reach the same recall. It is
0 for flagging everything and negative for a ranking worse than random.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from src.metrics import percentile_intervals


def _arrays(scores: Sequence[float], labels: Sequence[bool | int]) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels)
    if s.ndim != 1 or y.ndim != 1 or len(s) != len(y):
        raise ValueError(f"scores and labels must be 1-D and of equal length, got {s.shape} and {y.shape}")
    if len(s) == 0:
        raise ValueError("cannot score an empty set of pairs")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinite values")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be booleans or 0/1 (True = eligible)")
    return s, y.astype(bool)


def threshold_for_recall(
    scores: Sequence[float], labels: Sequence[bool | int], target_recall: float = 0.95
) -> float:
    """The highest t such that flagging score >= t finds at least target_recall of the eligible pairs.

    It is the k-th highest score of an eligible pair, k = ceil(target_recall * positives): every pair
    tied with it is flagged too, and any higher t flags fewer than k eligible pairs.
    """
    s, y = _arrays(scores, labels)
    if not 0 < target_recall <= 1:
        raise ValueError(f"target_recall must be in (0, 1], got {target_recall}")
    positives = np.sort(s[y])[::-1]
    if len(positives) == 0:
        raise ValueError(
            "no eligible pairs in these labels: recall is undefined, so no threshold reaches a target "
            "recall; choose the threshold on data that has eligible pairs"
        )
    # the tolerance keeps 0.56 * 25 = 14.000000000000002 from asking for 15 positives
    k = math.ceil(target_recall * len(positives) - 1e-9)
    return float(positives[k - 1])


def _wss(tn: int, fn: int, n: int, recall: float) -> float:
    return (tn + fn) / n - (1 - recall)


def screening_metrics(
    scores: Sequence[float],
    labels: Sequence[bool | int],
    threshold: float,
    target_recall: float = 0.95,
) -> dict[str, float]:
    """Metrics of flagging score >= threshold as eligible (labels: True / 1 = eligible).

    accuracy, precision, recall, f1: for the eligible class at the threshold. precision is 0 when
    nothing is flagged; recall is NaN when there are no eligible pairs (and so are f1 and both WSS).
    recall_at_threshold: the same recall, named for the report.
    auroc: area under the ROC curve of the scores (sklearn roc_auc_score); NaN when the labels hold
    one class only.
    wss_at_target: WSS at the given threshold (the one chosen on training data for target_recall),
    with the recall it actually reaches here.
    wss95 (wss{100 * target_recall} in general): oracle WSS at the threshold that reaches the target
    recall on these very scores (`threshold_for_recall`), as the literature reports WSS@95; it
    measures the ranking, not a threshold one could have fixed in advance.
    """
    s, _ = _arrays(scores, labels)
    return screening_metrics_flagged(s, labels, s >= threshold, target_recall)


def screening_metrics_flagged(
    scores: Sequence[float],
    labels: Sequence[bool | int],
    flagged: Sequence[bool],
    target_recall: float = 0.95,
) -> dict[str, float]:
    """screening_metrics of given decisions (True = flagged as eligible) instead of a threshold on
    the scores: accuracy to wss_at_target count the decisions, auroc and the oracle WSS rank the
    scores. Decisions made elsewhere (src.evaluate) need not follow any threshold of the scores."""
    s, y = _arrays(scores, labels)
    flagged = np.asarray(flagged, dtype=bool)
    if flagged.shape != y.shape:
        raise ValueError(f"flagged must be 1-D and as long as the labels, got {flagged.shape} and {y.shape}")
    n = len(s)
    decided = _decided(flagged, y)
    fn, tn = int(np.sum(~flagged & y)), int(np.sum(~flagged & ~y))
    both_classes = 0 < int(y.sum()) < n
    oracle = math.nan
    if y.any():
        t = threshold_for_recall(s, y, target_recall)
        oracle_flagged = s >= t
        oracle_recall = float(np.sum(oracle_flagged & y) / y.sum())
        oracle = _wss(int(np.sum(~oracle_flagged & ~y)), int(np.sum(~oracle_flagged & y)), n, oracle_recall)
    return {
        **decided,
        "auroc": float(roc_auc_score(y, s)) if both_classes else math.nan,
        "recall_at_threshold": decided["recall"],
        "wss_at_target": _wss(tn, fn, n, decided["recall"]),
        f"wss{round(100 * target_recall)}": oracle,
    }


def screening_at_target(
    scores: Sequence[float], labels: Sequence[bool | int], target_recall: float
) -> dict[str, float]:
    """screening_metrics at the threshold chosen on these very scores for target_recall: what a
    validation slice says of its own operating point (the per-epoch score training selects on)."""
    threshold = threshold_for_recall(scores, labels, target_recall)
    return screening_metrics(scores, labels, threshold, target_recall)


def decision_metrics(flagged: Sequence[bool], labels: Sequence[bool | int]) -> dict[str, float]:
    """accuracy, precision, recall and f1 of given decisions (True = flagged as eligible), counted
    as screening_metrics counts them at its threshold."""
    flags, y = _arrays(np.asarray(flagged, dtype=float), labels)
    return _decided(flags.astype(bool), y)


def _decided(flagged: np.ndarray, y: np.ndarray) -> dict[str, float]:
    tp, fp = int(np.sum(flagged & y)), int(np.sum(flagged & ~y))
    fn, tn = int(np.sum(~flagged & y)), int(np.sum(~flagged & ~y))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else math.nan
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": (tp + tn) / len(y), "precision": precision, "recall": recall, "f1": f1}


def screening_intervals(
    labels: Sequence[bool | int],
    base: tuple[Sequence[float], float],
    tuned: tuple[Sequence[float], float],
    target_recall: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, dict[str, list[float]]]:
    """Percentile bootstrap intervals of screening_metrics for base and tuned (scores, threshold)
    and their paired difference (percentage points), resampling the evaluation pairs."""

    def metrics(side: tuple[Sequence[float], float], pick: np.ndarray) -> dict[str, float]:
        scores, threshold = side
        return screening_metrics(np.asarray(scores)[pick], y[pick], threshold, target_recall)

    y = np.asarray(labels, dtype=bool)
    return paired_intervals(y, base, tuned, metrics, n_resamples, seed, level)


def paired_intervals(
    labels: np.ndarray,
    base: Any,
    tuned: Any,
    metrics: Callable[[Any, np.ndarray], dict[str, float]],
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, dict[str, list[float]]]:
    """Percentile bootstrap intervals of metrics(side, picked pair indices) for the base and tuned
    sides and their paired difference (percentage points), resampling the pairs.

    Resamples without an eligible pair (recall undefined) are left out of the percentiles.
    """
    y = np.asarray(labels, dtype=bool)
    rng = np.random.default_rng(seed)
    samples: dict[str, dict[str, list[float]]] = {"base": {}, "tuned": {}, "delta": {}}
    for _ in range(n_resamples):
        pick = rng.integers(0, len(y), len(y))
        if not y[pick].any():
            continue
        scored = {"base": metrics(base, pick), "tuned": metrics(tuned, pick)}
        for key in scored["base"]:
            samples["base"].setdefault(key, []).append(scored["base"][key])
            samples["tuned"].setdefault(key, []).append(scored["tuned"][key])
            samples["delta"].setdefault(key, []).append(100.0 * (scored["tuned"][key] - scored["base"][key]))
    return percentile_intervals(samples, level)
