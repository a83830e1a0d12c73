"""One line of eligibility predictions as src.evaluate scores it: a (score, flagged) pair.

A line holds src.predict's {"decision": <positive or negative label>, "score": P(eligible)} (a
hosted model's or a rule system's in that form). The decision is what accuracy, precision,
recall, f1 and wss_at_target count; the score is what auroc and the oracle WSS (wss95) rank.
Without a score the decision stands in for it (1.0 / 0.0), so auroc and wss95 are those of a
binary ranking: every flagged pair tied above every other one.

A row without a line is never in the file's favour: it gets the wrong decision and the worst rank
(an eligible pair below every score given, an excluded one above every score), as the generative
task scores an unparseable output as the wrong decision.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from src.errors import MedtuneError

NO_ANSWER = "the wrong decision, ranked last"  # how a row without a line is scored (evaluation.json)


class Screened(NamedTuple):
    score: float  # ranks the pair: higher is more likely eligible
    flagged: bool  # the decision: True = the positive label


def screened_output(record: dict | None, where: str, positive: str, negative: str) -> Screened | None:
    """The (score, flagged) of one line; None for a row without a line (`resolve` scores it).
    The decision must be one of the run's two labels (any case); the score, if given, a number."""
    if record is None:
        return None
    decision = record.get("decision")
    labels = {positive.lower(): True, negative.lower(): False}
    if not isinstance(decision, str) or decision.strip().lower() not in labels:
        got = "no 'decision' key" if "decision" not in record else f"'decision' = {str(decision)[:40]!r}"
        raise MedtuneError(
            f'{where}: {got}; each line needs "decision", the run\'s positive or negative label '
            f"({positive!r} or {negative!r})"
        )
    flagged = labels[decision.strip().lower()]
    if "score" not in record or record["score"] is None:
        return Screened(float(flagged), flagged)
    score = record["score"]
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise MedtuneError(
            f"{where}: 'score' = {str(score)[:40]!r}; a finite number ranking the pair (P(eligible) "
            "in src.predict's output), or leave the key out to rank by the decision"
        )
    return Screened(float(score), flagged)


def resolve(outputs: list[Screened | None], labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scores, flagged) arrays, a row without a line (None) scored as NO_ANSWER says: flagged
    against its label, one below the lowest score given when eligible, one above the highest when
    excluded, so it can only lower every metric."""
    given = [output.score for output in outputs if output is not None]
    low, high = min(given, default=0.0) - 1.0, max(given, default=1.0) + 1.0
    pairs = list(zip(outputs, labels, strict=True))
    scores = np.array([(low if label else high) if out is None else out.score for out, label in pairs])
    flagged = np.array([(not label) if out is None else out.flagged for out, label in pairs], dtype=bool)
    return scores, flagged
