"""A review queue: which notes' code sets can be accepted as they are, and which need a coder.

A note's confidence is the calibrated probability that its decided code set is exactly right:
the product over the label space of p for each decided code and 1 - p for each other one
(codes treated as independent). A coding audit fails a note when its set is not exactly right,
so this is the quantity a routing rule should rank by; unlike the smallest margin over codes,
it falls with every uncertain code, not only the worst one. Independence makes it a ranking
score rather than a probability to read literally: the threshold is set on observed audit
failures of the validation slice, never on the confidence's value.

Audit failure: a note whose decided set differs from its gold set (coding_metrics'
audit_failure_rate). Coverage: the share of notes auto-accepted (confidence >= threshold);
risk: the audit failure rate among them. code_risk: the code-level audit measure among them
(coding_metrics' code_error_rate: codes deleted or added over the codes reviewed). On real notes
with ~11 codes each, hardly any note is exactly right and risk stays near 1 at every coverage;
code_risk still shows how much cleaner the most confident notes are.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

COVERAGE_POINTS = np.round(np.arange(0.1, 1.01, 0.1), 2)


class CodeCounts(NamedTuple):
    """Per note: codes an auditor changes (deleted or added) and codes reviewed (gold or decided)."""

    changed: np.ndarray
    reviewed: np.ndarray


def note_confidence(probs: np.ndarray, decided: np.ndarray) -> np.ndarray:
    """P(decided set exactly right) per note, from calibrated probs and the decided codes (both
    notes x codes; decided bool), computed in log space: hundreds of codes underflow a product."""
    log_p = np.where(decided, np.log(probs), np.log1p(-probs))
    return np.exp(log_p.sum(1))


def routing_threshold(confidence: np.ndarray, failed: np.ndarray, target: float) -> float:
    """The lowest confidence threshold whose auto-accepted notes (confidence >= it) fail the audit
    at a rate <= target: the most coverage that meets the target on these notes. 1.0 (no note
    accepted: confidences stay below 1) when even the most confident notes miss it."""
    for threshold in np.unique(confidence):  # ascending: the first that meets it accepts most
        accepted = confidence >= threshold
        if failed[accepted].mean() <= target:
            return float(threshold)
    return 1.0


def operating_point(
    confidence: np.ndarray, failed: np.ndarray, threshold: float, codes: CodeCounts | None = None
) -> dict[str, float]:
    """Coverage and risk (audit failure rate among accepted notes; 0 when none is) at threshold,
    and code_risk (their code error rate) when codes are given."""
    accepted = confidence >= threshold
    risk = float(failed[accepted].mean()) if accepted.any() else 0.0
    point = {"threshold": threshold, "coverage": float(accepted.mean()), "risk": risk}
    point["accepted"] = int(accepted.sum())
    if codes is not None:
        reviewed = codes.reviewed[accepted].sum()
        point["code_risk"] = float(codes.changed[accepted].sum() / reviewed) if reviewed else 0.0
    return point


def coverage_risk(
    confidence: np.ndarray,
    failed: np.ndarray,
    codes: CodeCounts | None = None,
    points: np.ndarray = COVERAGE_POINTS,
) -> list[dict[str, float]]:
    """The operating point reached by accepting the most confident share c of the notes, for each
    c in points: its threshold is the confidence of the ceil(c * n)-th most confident note, and
    notes tied with it are accepted too, so a point's coverage may exceed c. Coverage never falls
    along the curve; risk at coverage 1 is the audit failure rate of all notes."""
    ranked = np.sort(confidence)[::-1]
    curve = []
    for share in points:
        k = max(1, int(np.ceil(share * len(ranked) - 1e-9)))
        point = operating_point(confidence, failed, float(ranked[k - 1]), codes)
        curve.append({"target_coverage": float(share), **point})
    return curve
