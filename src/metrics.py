"""Multi-label coding metrics, computed on code *sets* so unseen codes still count.

Codes that occur in the evaluation gold but not in the training label space can never be
predicted; they must still count as misses, so every metric here works on the union of the
gold and predicted code strings rather than on the model's label space.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import f1_score, precision_score, recall_score
from sklearn.preprocessing import MultiLabelBinarizer

METRIC_KEYS = (
    "micro_f1",
    "macro_f1",
    "micro_precision",
    "micro_recall",
    "exact_match",
    "audit_failure_rate",
)


def coding_metrics(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, float]:
    """Scores predicted code sets against gold code sets (fractions in 0-1).

    macro_f1 averages over every code present in the gold or the predictions of this split.
    exact_match is the share of notes whose predicted set equals the gold set;
    audit_failure_rate is its complement: the share of notes a coding audit would flag.
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold rows but {len(pred)} predictions")
    if not gold:
        raise ValueError("cannot score an empty evaluation split")
    binarizer = MultiLabelBinarizer()
    binarizer.fit([*gold, *pred])
    y_true = binarizer.transform(gold)
    y_pred = binarizer.transform(pred)
    exact = float(np.mean([set(g) == set(p) for g, p in zip(gold, pred, strict=True)]))
    kwargs = {"zero_division": 0}
    return {
        "micro_f1": float(f1_score(y_true, y_pred, average="micro", **kwargs)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", **kwargs)),
        "micro_precision": float(precision_score(y_true, y_pred, average="micro", **kwargs)),
        "micro_recall": float(recall_score(y_true, y_pred, average="micro", **kwargs)),
        "exact_match": exact,
        "audit_failure_rate": 1.0 - exact,
    }


def metric_delta(base: dict[str, float], tuned: dict[str, float]) -> dict[str, float]:
    """tuned - base in percentage points, plus the relative change in audit failures."""
    delta = {key: round(100.0 * (tuned[key] - base[key]), 4) for key in base}
    if "audit_failure_rate" in base:
        before = base["audit_failure_rate"]
        after = tuned["audit_failure_rate"]
        # -0.4 means 40% fewer notes fail a coding audit than with the base model.
        delta["audit_failure_relative_change"] = (after - before) / before if before else 0.0
    return delta
