"""Calibrated code probabilities: sigmoid scores mapped so that "0.8" means right 80% of the time.

Calibration is fitted on the validation slice (the one the decision rule is tuned on) and only
changes confidences: the decision rule still reads the raw scores, so predicted codes and their
metrics stay the same. Every calibrator is plain numbers (JSON in the adapter's medtune.json):
no pickle is ever loaded.

Methods, from simplest to most flexible:
- none: the raw sigmoid scores;
- temperature: logit(p) / T, one T for every code;
- temperature_band: one T per code-frequency band (training examples per code, BANDS); a band
  with fewer than MIN_BAND_POSITIVES validation positives keeps the global T;
- isotonic: a monotone step function over all (note, code) pairs (sklearn's IsotonicRegression).
`select` measures each by cross-fitting on the validation notes and keeps the simplest one that
is not clearly worse than the best (the slice is small: ~100 notes in the embedded default).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from sklearn.isotonic import IsotonicRegression

METHODS = ("none", "temperature", "temperature_band", "isotonic")  # simplest first
N_BINS = 15
EPS = 1e-6  # probabilities kept in [EPS, 1 - EPS]: finite logits and log-losses
# Training examples per code: the same bands as the per-code error report (issue 20).
BANDS = ((20, None), (5, 19), (1, 4), (0, 0))
MIN_BAND_POSITIVES = 10
TEMPERATURE_RANGE = (0.05, 20.0)
N_FOLDS = 5
# A more flexible method must lower the cross-fitted log-loss by this share to be picked.
MARGIN = 0.02


@dataclass
class Calibrator:
    method: str  # one of METHODS
    temperatures: list[float] | None = None  # per code (temperature: all equal)
    x: list[float] | None = None  # isotonic: the step function's knots (raw -> calibrated)
    y: list[float] | None = None

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of scores (notes x codes, sigmoid outputs in code order)."""
        scores = np.clip(np.asarray(scores, dtype=np.float64), EPS, 1 - EPS)
        if self.method == "none":
            return scores
        if self.method == "isotonic":
            out = np.interp(scores, self.x, self.y)  # what IsotonicRegression.predict does
        else:
            out = _sigmoid(_logit(scores) / np.asarray(self.temperatures))
        return np.clip(out, EPS, 1 - EPS)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class Selection:
    calibrator: Calibrator  # the picked method, refitted on the whole validation slice
    crossfit: dict[str, dict[str, float]] = field(default_factory=dict)  # method: log_loss, ece


def expected_calibration_error(probs: np.ndarray, truth: np.ndarray, n_bins: int = N_BINS) -> float:
    """Expected calibration error over every (note, code) pair.

    The pairs' probabilities are put into n_bins equal-width bins over [0, 1] (the last one
    closed); ECE = sum over bins of (pairs in the bin / all pairs) * |mean probability - share
    of pairs whose code is in the gold set|. 0 is perfect; most pairs are confident negatives,
    which weigh in as they occur.
    """
    _, confidence, frequency, count = reliability(probs, truth, n_bins)
    used = count > 0
    return float(np.sum(count[used] / count.sum() * np.abs(confidence[used] - frequency[used])))


def reliability(
    probs: np.ndarray, truth: np.ndarray, n_bins: int = N_BINS
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width bin: edges (n_bins + 1), mean probability, observed frequency, pair count
    (mean and frequency are nan in an empty bin)."""
    p, y = np.ravel(probs).astype(np.float64), np.ravel(truth).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1], right=False), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.bincount(which, weights=p, minlength=n_bins) / count
        frequency = np.bincount(which, weights=y, minlength=n_bins) / count
    return edges, confidence, frequency, count


def log_loss(probs: np.ndarray, truth: np.ndarray) -> float:
    """Mean binary cross-entropy over every (note, code) pair."""
    p = np.clip(np.asarray(probs, dtype=np.float64), EPS, 1 - EPS)
    y = np.asarray(truth, dtype=bool)
    return float(-np.mean(np.where(y, np.log(p), np.log1p(-p))))


def code_bands(train_counts: np.ndarray) -> np.ndarray:
    """Index into BANDS of every code, from its number of training examples."""
    band = np.full(len(train_counts), len(BANDS) - 1)
    for i, (low, high) in reversed(list(enumerate(BANDS))):
        band[(train_counts >= low) & ((train_counts <= high) if high is not None else True)] = i
    return band


def fit(method: str, scores: np.ndarray, truth: np.ndarray, bands: np.ndarray) -> Calibrator:
    """A calibrator of `method` fitted on scores (notes x codes) against truth (same shape, bool)."""
    n_codes = scores.shape[1]
    if method == "none":
        return Calibrator("none")
    if method == "isotonic":
        iso = IsotonicRegression(y_min=EPS, y_max=1 - EPS, out_of_bounds="clip")
        iso.fit(np.clip(scores, EPS, 1 - EPS).ravel(), truth.ravel().astype(np.float64))
        return Calibrator("isotonic", x=iso.X_thresholds_.tolist(), y=iso.y_thresholds_.tolist())
    overall = _temperature(scores, truth)
    temperatures = np.full(n_codes, overall)
    if method == "temperature_band":
        for band in np.unique(bands):
            cols = bands == band
            if truth[:, cols].sum() >= MIN_BAND_POSITIVES:
                temperatures[cols] = _temperature(scores[:, cols], truth[:, cols])
    elif method != "temperature":
        raise ValueError(f"unknown calibration method {method!r}; one of {METHODS}")
    return Calibrator(method, temperatures=temperatures.tolist())


def select(
    scores: np.ndarray, truth: np.ndarray, bands: np.ndarray, method: str = "auto", seed: int = 0
) -> Selection:
    """The calibrator for scores (the validation slice): `method`, or with "auto" the simplest of
    METHODS whose cross-fitted log-loss is within MARGIN of the best one's.

    Cross-fitting: the notes are split into N_FOLDS folds; each fold is calibrated by a
    calibrator fitted on the others, and the out-of-fold probabilities of all notes are scored
    together, so a method is never judged on the pairs it was fitted to.
    """
    methods = METHODS if method == "auto" else (method,)
    folds = np.random.default_rng(seed).permutation(len(scores)) % N_FOLDS
    crossfit = {}
    for name in methods:
        out = np.empty_like(scores, dtype=np.float64)
        for k in range(N_FOLDS):
            held = folds == k
            out[held] = fit(name, scores[~held], truth[~held], bands).apply(scores[held])
        crossfit[name] = {"log_loss": log_loss(out, truth), "ece": expected_calibration_error(out, truth)}
    best = min(v["log_loss"] for v in crossfit.values())
    chosen = next(m for m in methods if crossfit[m]["log_loss"] <= best * (1 + MARGIN))
    return Selection(fit(chosen, scores, truth, bands), crossfit)


def _temperature(scores: np.ndarray, truth: np.ndarray) -> float:
    """The T in TEMPERATURE_RANGE minimising the log-loss of sigmoid(logit(scores) / T).

    The loss is convex in 1/T (a logistic loss of a scaled logit), so a golden-section search
    over 1/T finds the minimum (to ~1e-6 relative) in 60 evaluations.
    """
    logits = _logit(np.clip(scores, EPS, 1 - EPS)).ravel()
    signed = np.where(truth.ravel().astype(bool), -logits, logits)

    def loss(a: float) -> float:  # -log sigmoid(a z) for positives, -log sigmoid(-a z) for negatives
        return float(np.logaddexp(0.0, a * signed).mean())

    low, high = 1 / TEMPERATURE_RANGE[1], 1 / TEMPERATURE_RANGE[0]
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(60):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if loss(a) <= loss(b):
            high = b
        else:
            low = a
    return float(2 / (low + high))


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))
