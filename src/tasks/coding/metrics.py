"""Multi-label coding metrics, computed on code *sets* so unseen codes still count.

Codes that occur in the evaluation gold but not in the training label space can never be
predicted; they must still count as misses, so every metric here works on the union of the
gold and predicted code strings rather than on the model's label space.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.preprocessing import MultiLabelBinarizer

from src.metrics import metric_delta, percentile_intervals

METRIC_KEYS = (
    "micro_f1",
    "macro_f1",
    "micro_precision",
    "micro_recall",
    "exact_match",
    "audit_failure_rate",
    "code_error_rate",
)


def coding_metrics(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, float]:
    """Scores predicted code sets against gold code sets (fractions in 0-1).

    macro_f1 averages over every code present in the gold or the predictions of this split.
    exact_match is the share of notes whose predicted set equals the gold set;
    audit_failure_rate is its complement: the share of notes a coding audit would flag.
    code_error_rate is the code-level audit measure: of the codes an auditor reviews (every code
    submitted and every code the note should carry), the share they must delete or add,
    (FP + FN) / (TP + FP + FN) pooled over notes. On notes with ~11 codes each, where no model
    gets every note exactly right, it still moves when coding gets better.
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold rows but {len(pred)} predictions")
    if not gold:
        raise ValueError("cannot score an empty evaluation split")
    binarizer = MultiLabelBinarizer()
    binarizer.fit([*gold, *pred])
    y_true = binarizer.transform(gold).astype(bool)
    y_pred = binarizer.transform(pred).astype(bool)
    # Counted directly: sklearn would score a one-column matrix as a binary task (true
    # negatives counting) and rejects a matrix with no codes at all.
    metrics = _resampled_metrics(y_true, y_pred, np.ones((1, len(gold))))
    return {key: float(values[0]) for key, values in metrics.items()}


def coding_delta(base: dict[str, float], tuned: dict[str, float]) -> dict[str, float]:
    """tuned - base in percentage points, plus the relative change in audit failures (notes) and
    in code errors (codes to delete or add)."""
    delta = metric_delta(base, tuned)
    for key, change in (("audit_failure_rate", "audit_failure"), ("code_error_rate", "code_error")):
        before, after = base[key], tuned[key]
        # -0.4 means 40% fewer notes fail a coding audit (or codes are wrong) than with the base model.
        delta[f"{change}_relative_change"] = (after - before) / before if before else 0.0
    return delta


def bootstrap_intervals(
    gold: Sequence[Sequence[str]],
    base: Sequence[Sequence[str]],
    tuned: Sequence[Sequence[str]],
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, dict[str, list[float]]]:
    """Percentile bootstrap intervals for base, tuned and their difference (paired).

    Notes are resampled with replacement; base and tuned are scored on the same resample, so
    the delta interval reflects how sure we are that tuning helped on this kind of note. The
    counts are vectorised (one matrix product per resample set) instead of 1,000 sklearn calls.
    Returns {"base"|"tuned"|"delta": {metric: [low, high]}}, delta in percentage points.
    """
    binarizer = MultiLabelBinarizer()
    binarizer.fit([*gold, *base, *tuned])
    y_true = binarizer.transform(gold).astype(bool)
    rng = np.random.default_rng(seed)
    n = len(gold)
    # weights[b, i]: how often note i is drawn in resample b.
    weights = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(n_resamples)])
    samples = {}
    for name, pred in (("base", base), ("tuned", tuned)):
        y_pred = binarizer.transform(pred).astype(bool)
        samples[name] = _resampled_metrics(y_true, y_pred, weights.astype(float))
    samples["delta"] = {k: 100.0 * (samples["tuned"][k] - samples["base"][k]) for k in samples["base"]}
    return percentile_intervals(samples, level)


def _resampled_metrics(y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """The metrics of coding_metrics for every row of weights (a resample of the notes)."""
    tp = weights @ (y_true & y_pred)  # (resamples, codes)
    fp = weights @ (~y_true & y_pred)
    fn = weights @ (y_true & ~y_pred)
    exact = weights @ (y_true == y_pred).all(1) / weights.sum(1)
    tp_all, fp_all, fn_all = tp.sum(1), fp.sum(1), fn.sum(1)
    present = tp + fp + fn > 0  # codes in this resample's gold or predictions
    with np.errstate(invalid="ignore", divide="ignore"):
        per_code = np.where(present, 2 * tp / (2 * tp + fp + fn), 0.0)
        return {
            "micro_f1": np.nan_to_num(2 * tp_all / (2 * tp_all + fp_all + fn_all)),
            "macro_f1": np.nan_to_num(per_code.sum(1) / present.sum(1)),
            "micro_precision": np.nan_to_num(tp_all / (tp_all + fp_all)),
            "micro_recall": np.nan_to_num(tp_all / (tp_all + fn_all)),
            "exact_match": exact,
            "audit_failure_rate": 1.0 - exact,
            "code_error_rate": np.nan_to_num((fp_all + fn_all) / (tp_all + fp_all + fn_all)),
        }
