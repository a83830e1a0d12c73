"""The naive references every eligibility run scores beside base and tuned, with no model.

Each gives a pair a score and is run as a screening tool exactly as the tuned model is: the
operating threshold reaches task.target_recall on the validation slice and is applied unchanged to
the evaluation split (screening.py).

- majority class: the training subset's most frequent label as every pair's score. All pairs tie,
  so the operating threshold flags every one: recall 1, work saved 0, AUROC 0.5.
- token overlap: a lexical form of the base model's rule, the share of the inclusion criteria's
  words found in the record minus the share of the exclusion criteria's words found there.

The one with the better main metric on the validation slice (at the threshold chosen there) is
the run's reference, so nothing is chosen on the evaluation split.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from src.metrics import reference_block
from src.tasks.eligibility.criteria import criteria_list
from src.tasks.eligibility.screening import (
    screening_at_target,
    screening_intervals,
    screening_metrics,
    threshold_for_recall,
)

_WORD = re.compile(r"[a-z]{3,}")  # words, not numbers or units: the overlap is lexical
DESCRIPTIONS = {
    "majority class": "the training subset's most frequent label for every pair",
    "token overlap": (
        "share of the inclusion criteria's words found in the record minus that of the exclusion "
        "criteria's words"
    ),
}


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def overlap_score(criteria: str, record: str) -> float:
    """Share of the inclusion criteria's words in the record minus that of the exclusion criteria's."""
    found, items = _words(record), criteria_list(criteria)
    score = 0.0
    for excluding, sign in ((False, 1.0), (True, -1.0)):
        words = _words(" ".join(text for text, exclusion in items if exclusion == excluding))
        score += sign * (len(words & found) / len(words) if words else 0.0)
    return score


def majority_label(train: list[dict]) -> bool:
    """The training subset's most frequent label (eligible on a tie)."""
    return 2 * sum(row["label"] for row in train) >= len(train)


def reference_scores(rows) -> dict[str, dict[str, np.ndarray]]:
    """name -> split (val, eval) -> each pair's score (rows: .train, .val, .eval)."""
    majority = float(majority_label(rows.train))
    return {
        "majority class": {s: np.full(len(getattr(rows, s)), majority) for s in ("val", "eval")},
        "token overlap": {
            s: np.array([overlap_score(r["criteria"], r["patient"]) for r in getattr(rows, s)])
            for s in ("val", "eval")
        },
    }


def eligibility_reference(
    rows, main: str, target_recall: float, tuned: dict[str, float], paired: Callable
) -> dict:
    """Both references screened on the evaluation split, the one better on the validation slice
    named the reference. tuned: the tuned model's metrics; paired((scores, threshold)): the task's
    bootstrap intervals with that side as the base and the tuned model as the other."""
    val_labels = [row["label"] for row in rows.val]
    eval_labels = [row["label"] for row in rows.eval]
    found = {}
    for name, scores in reference_scores(rows).items():
        threshold = threshold_for_recall(scores["val"], val_labels, target_recall)
        found[name] = {
            "scores": scores["eval"],
            "threshold": threshold,
            "validation": screening_at_target(scores["val"], val_labels, target_recall)[main],
            "metrics": screening_metrics(scores["eval"], eval_labels, threshold, target_recall),
        }
    name = max(found, key=lambda n: found[n]["validation"])  # dicts keep order: majority on ties
    chosen = found[name]
    return reference_block(
        name,
        DESCRIPTIONS[name],
        chosen["metrics"],
        tuned,
        paired((chosen["scores"], chosen["threshold"])),
        chosen_on=f"validation {main}",
        candidates={
            n: {"description": DESCRIPTIONS[n], "validation": c["validation"], "metrics": c["metrics"]}
            for n, c in found.items()
        },
    )


def screened_reference(rows, task_cfg, tuned: tuple[np.ndarray, float], seed: int) -> dict:
    """eligibility_reference beside a tuned model that is itself only a screening score:
    tuned = (its evaluation scores, its operating threshold)."""
    labels = [row["label"] for row in rows.eval]
    target = task_cfg.target_recall
    return eligibility_reference(
        rows,
        task_cfg.main_metric,
        target,
        screening_metrics(tuned[0], labels, tuned[1], target),
        lambda side: screening_intervals(labels, side, tuned, target, seed=seed),
    )
