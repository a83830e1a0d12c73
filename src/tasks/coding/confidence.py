"""Calibration and the review queue of one tuned coding model: fitted on the validation slice,
measured on the evaluation split (metrics.json's "calibration" and "review" blocks)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from src.errors import MedtuneError
from src.tasks.coding import calibration, review
from src.tasks.coding.calibration import Calibrator


@dataclass
class Split:
    """What calibration and routing read of one split, in the label space's column order."""

    scores: np.ndarray  # notes x codes, raw sigmoid scores
    truth: np.ndarray  # bool: the code is in the note's gold set
    decided: np.ndarray  # bool: the decision rule picked the code
    failed: np.ndarray  # bool per note: decided set != gold set (gold codes outside the label space count)
    codes: review.Audit  # per note: codes changed and reviewed by a code-level audit (the same gold)

    def audit(self, risk: str) -> review.Audit:
        return review.note_audit(self.failed) if risk == "note" else self.codes


def check_review_target(target: float) -> None:
    if not 0 < target < 1:
        raise MedtuneError(
            f"task.review.target={target}: the risk allowed among auto-accepted notes (task.review.risk: "
            "audit failures or code errors) must lie strictly between 0 and 1 (e.g. task.review.target=0.05)"
        )


def split_arrays(
    scores: np.ndarray, labels: list[str], gold: Sequence[Sequence[str]], decided: Sequence[Sequence[str]]
) -> Split:
    index = {code: j for j, code in enumerate(labels)}

    def matrix(sets: Sequence[Sequence[str]]) -> np.ndarray:
        out = np.zeros(scores.shape, dtype=bool)
        for i, codes in enumerate(sets):
            out[i, [index[c] for c in codes if c in index]] = True
        return out

    pairs = [(set(g), set(d)) for g, d in zip(gold, decided, strict=True)]
    failed = np.array([g != d for g, d in pairs])
    changed, reviewed = np.array([len(g ^ d) for g, d in pairs]), np.array([len(g | d) for g, d in pairs])
    codes = review.Audit(changed.astype(float), reviewed.astype(float))
    return Split(scores, matrix(gold), matrix(decided), failed, codes)


@dataclass
class ReviewSetup:
    calibrator: Calibrator
    threshold: float  # notes with confidence >= it are auto-accepted
    metrics: dict  # {"calibration": ..., "review": ...} for metrics.json
    reliability: dict  # eval-split bins before and after, for the diagram


def fit_review(
    val: Split, eval_: Split, train_counts: np.ndarray, method: str, target: float, seed: int, risk: str
) -> ReviewSetup:
    """Calibrator and routing threshold (for `risk`: "note" or "code", see review.py) from val;
    ECE, log-loss, coverage-risk on eval_."""
    selection = calibration.select(val.scores, val.truth, calibration.code_bands(train_counts), method, seed)
    calibrator = selection.calibrator
    val_conf = review.note_confidence(calibrator.apply(val.scores), val.decided, risk)
    threshold = review.routing_threshold(val_conf, val.audit(risk), target)
    raw = np.clip(eval_.scores, calibration.EPS, 1 - calibration.EPS)
    calibrated = calibrator.apply(eval_.scores)
    eval_conf = review.note_confidence(calibrated, eval_.decided, risk)
    summary = {"method": calibrator.method, "requested": method}
    if calibrator.temperatures is not None:
        summary["temperatures"] = sorted({round(t, 4) for t in calibrator.temperatures})
    metrics = {
        "calibration": {
            **summary,
            "fitted_on": "validation slice",
            "crossfit_validation": selection.crossfit,  # what the pick was made on
            "eval_ece": {
                "before": calibration.expected_calibration_error(raw, eval_.truth),
                "after": calibration.expected_calibration_error(calibrated, eval_.truth),
            },
            "eval_log_loss": {
                "before": calibration.log_loss(raw, eval_.truth),
                "after": calibration.log_loss(calibrated, eval_.truth),
            },
            "ece_bins": calibration.N_BINS,
        },
        "review": {
            "risk": risk,  # what target bounds: "risk" (note audit) or "code_risk" of the points
            "bounds": review.RISK_WORDS[risk],
            "confidence": review.CONFIDENCE_MEANING[risk],
            "target": target,
            "threshold": threshold,
            "validation": review.operating_point(val_conf, val.audit("note"), val.codes, threshold),
            "eval": review.operating_point(eval_conf, eval_.audit("note"), eval_.codes, threshold),
            "coverage_risk": review.coverage_risk(eval_conf, eval_.audit("note"), eval_.codes),
        },
    }
    bins = {
        name: calibration.reliability(probs, eval_.truth)
        for name, probs in (("before", raw), (f"after ({calibrator.method})", calibrated))
    }
    return ReviewSetup(calibrator, threshold, metrics, bins)


def draw_reliability(bins: dict, path) -> None:
    """Reliability diagram (observed frequency against mean probability per bin, before and after
    calibration) above the pair counts per bin, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5.5, 6.5), height_ratios=(3, 1), sharex=True)
    top.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    for name, (edges, confidence, frequency, count) in bins.items():
        used = count > 0
        top.plot(confidence[used], frequency[used], marker="o", label=name)
        bottom.step(edges[:-1], np.maximum(count, 0.5), where="post", label=name)
    top.set_ylabel("share of pairs whose code is gold")
    top.set_title("Reliability on the evaluation split (note, code pairs)")
    top.legend(loc="upper left")
    bottom.set_yscale("log")
    bottom.set_xlabel("predicted probability")
    bottom.set_ylabel("pairs per bin")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
