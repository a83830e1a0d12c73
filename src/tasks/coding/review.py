"""A review queue: which notes' code sets can be accepted as they are, and which need a coder.

Two audits, two risks (task.review.risk):
- note: a note fails when its decided set is not exactly its gold set (coding_metrics'
  audit_failure_rate). Its confidence is the calibrated probability that the set is exactly
  right: the product of p over the decided codes and of 1 - p over the others (codes treated as
  independent); unlike the smallest margin over codes, it falls with every uncertain code.
- code: the codes an auditor deletes or adds over the codes reviewed (gold or decided), pooled
  over the accepted notes (coding_metrics' code_error_rate). Its confidence is 1 - the note's
  expected code error rate: expected changes (1 - p of each decided code, p of each other one)
  over expected codes reviewed (the decided ones, plus p of each other one).
On real notes with ~11 codes each hardly any note is exactly right: the note risk is ~1 at every
coverage, and the note confidence ranks notes with few, confident codes first, which are the ones
whose many gold codes the model missed (CodiEsp: the most confident tenth has more code errors than
all notes). The code audit is the one that can route such notes.

Either confidence is a ranking score, not a probability to read literally: the threshold is set on
the observed risk of the validation slice. Coverage: the share of notes auto-accepted (confidence
>= threshold); every operating point reports both risks of the accepted notes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

COVERAGE_POINTS = np.round(np.arange(0.1, 1.01, 0.1), 2)
RISK_WORDS = {"note": "audit failures", "code": "codes wrong or missing"}  # what task.review.target bounds
CONFIDENCE_MEANING = {  # what note_confidence returns for each risk
    "note": "P(decided code set exactly right), calibrated, codes independent",
    "code": "1 - expected code error rate (codes changed / codes reviewed), calibrated",
}


class Audit(NamedTuple):
    """Per note: what an audit finds wrong and what it checks (note level: 1 or 0 of 1; code level:
    codes changed of codes reviewed). The risk of a set of notes pools them: errors / checked."""

    errors: np.ndarray
    checked: np.ndarray

    def risk(self, accepted: np.ndarray) -> float:
        checked = self.checked[accepted].sum()
        return float(self.errors[accepted].sum() / checked) if checked else 0.0


def note_audit(failed: np.ndarray) -> Audit:
    return Audit(failed.astype(float), np.ones(len(failed)))


def note_confidence(probs: np.ndarray, decided: np.ndarray, risk: str = "note") -> np.ndarray:
    """Per note, from calibrated probs and the decided codes (both notes x codes; decided bool):
    P(decided set exactly right) for the note audit (in log space: hundreds of codes underflow a
    product), 1 - expected code error rate for the code audit."""
    if risk == "note":
        return np.exp(np.where(decided, np.log(probs), np.log1p(-probs)).sum(1))
    changes = np.where(decided, 1 - probs, probs).sum(1)
    reviewed = decided.sum(1) + np.where(decided, 0.0, probs).sum(1)
    return 1 - changes / np.maximum(reviewed, 1e-12)


def routing_threshold(confidence: np.ndarray, audit: Audit, target: float) -> float:
    """The lowest confidence threshold whose auto-accepted notes (confidence >= it) have a risk
    <= target: the most coverage that meets the target on these notes. Above every confidence
    (no note accepted) when even the most confident notes miss it."""
    for threshold in np.unique(confidence):  # ascending: the first that meets it accepts most
        if audit.risk(confidence >= threshold) <= target:
            return float(threshold)
    return float(np.nextafter(max(1.0, confidence.max()), np.inf))


def operating_point(confidence: np.ndarray, notes: Audit, codes: Audit, threshold: float) -> dict[str, float]:
    """Coverage, the note audit's risk and the code audit's (code_risk) among the notes accepted
    at threshold (0 when none is)."""
    accepted = confidence >= threshold
    return {
        "threshold": threshold,
        "coverage": float(accepted.mean()),
        "risk": notes.risk(accepted),
        "code_risk": codes.risk(accepted),
        "accepted": int(accepted.sum()),
    }


def coverage_risk(
    confidence: np.ndarray, notes: Audit, codes: Audit, points: np.ndarray = COVERAGE_POINTS
) -> list[dict[str, float]]:
    """The operating point reached by accepting the most confident share c of the notes, for each
    c in points: its threshold is the confidence of the ceil(c * n)-th most confident note, and
    notes tied with it are accepted too, so a point's coverage may exceed c. Coverage never falls
    along the curve; at coverage 1 the risks are the audit failure and code error rates of all notes."""
    ranked = np.sort(confidence)[::-1]
    curve = []
    for share in points:
        k = max(1, int(np.ceil(share * len(ranked) - 1e-9)))
        point = operating_point(confidence, notes, codes, float(ranked[k - 1]))
        curve.append({"target_coverage": float(share), **point})
    return curve
