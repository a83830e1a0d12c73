"""How many labelled notes would a LoRA rank need to reach a target metric? A learning-curve forecast.

The sweep's points (one per finished job: training-set size n, tuned metric) are fitted with the
inverse power law

    metric(n) = a - b * n**(-c),   c > 0,

so `a` is the plateau the curve approaches, `b` the gap to it at n = 1 and `c` how fast the gap
closes. `b` is free in sign: b > 0 is a rising curve (micro-F1), b < 0 a falling one (the audit
failure rate). Fitting a learning curve by weighted nonlinear least squares and solving it for
the size that reaches a target follows Figueroa et al., "Predicting sample size required for
classification performance", BMC Medical Informatics and Decision Making 12:8 (2012); the details
below (weights, intervals, rounding) are this module's own choices:

* weights w = n / n_max: a point from more training data scatters less (seeds, evaluation noise),
  so it counts more; scipy's `sigma` is 1 / sqrt(w) and the noise scale is estimated from the
  residuals (absolute_sigma=False).
* 95% intervals come from the fit's covariance: parameter draws from a multivariate t (degrees of
  freedom = points - 3) around the estimate, then percentiles of the curve (the band) and of the
  size solved for the target (the interval). A draw that never reaches the target puts the
  interval's upper end beyond reach.
* the backtest fits every size below the largest and predicts the mean over seeds at the largest;
  its interval adds the scatter of that mean, since the observed value is itself noisy.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from src.errors import MedtuneError

MIN_POINTS, MIN_SIZES = 4, 3  # three parameters: a fourth point leaves one degree of freedom
LEVEL = 0.95
N_DRAWS = 4000
C_MIN = 1e-3  # a fitted c below this is a straight line on a log scale, not a curve with a plateau
_TAILS = (100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2)


class ForecastError(MedtuneError):
    """No curve for these points: too few of them, or the fit did not converge."""


def curve(n, a, b, c):
    return a - b * np.power(n, -c)


@dataclass(frozen=True)
class Fit:
    """The fitted curve: a, b, c and their covariance as in metric(n) = a - b n^-c.

    It is fitted, and its draws are made, as a - beta (n / n_ref)^-c with n_ref the largest size
    fitted (beta = b n_ref^-c, the gap left there): the same curve, but close to linear in its
    parameters near the data, so percentiles of the draws keep their nominal coverage. (Drawing b
    and c directly, which are strongly correlated, about doubled the band's width in simulations.)
    """

    a: float
    b: float
    c: float
    cov: np.ndarray  # 3 x 3 covariance of (a, b, c)
    n_ref: float
    sizes: np.ndarray  # the points fitted
    values: np.ndarray
    residual_sd: float  # scatter of one point at weight 1, i.e. at n_ref
    draws: np.ndarray  # N_DRAWS x 3 draws of (a, beta, c) from the multivariate t
    t_scale: np.ndarray  # each draw's 1 / sqrt(chi2 / dof): the backtest scales its noise alike

    @property
    def increasing(self) -> bool:
        return self.b > 0

    @property
    def beta(self) -> float:
        return self.b * self.n_ref**-self.c

    def plateau_interval(self) -> tuple[float, float]:
        low, high = np.percentile(self.draws[:, 0], _TAILS)
        return float(low), float(high)

    def drawn_curves(self, sizes) -> np.ndarray:
        """N_DRAWS x len(sizes): the curve of every draw."""
        a, beta, c = (self.draws[:, [i]] for i in range(3))
        return curve(np.asarray(sizes, dtype=float)[None, :] / self.n_ref, a, beta, c)

    def band(self, sizes) -> tuple[np.ndarray, np.ndarray]:
        """The 95% band of the curve at each size."""
        low, high = np.percentile(self.drawn_curves(sizes), _TAILS, axis=0)
        return low, high


def fit_curve(sizes, values, seed: int = 0) -> Fit:
    """Fits a - b n^-c to the points; ForecastError when there are too few or it fails."""
    n, y = np.asarray(sizes, dtype=float), np.asarray(values, dtype=float)
    if len(n) < MIN_POINTS or len(np.unique(n)) < MIN_SIZES:
        raise ForecastError(
            f"{len(n)} point(s) at {len(np.unique(n))} size(s); a forecast needs at least "
            f"{MIN_POINTS} points at {MIN_SIZES} or more training-set sizes"
        )
    n_ref = n.max()
    weights = n / n_ref
    try:
        with warnings.catch_warnings():
            # scipy only warns when it cannot estimate the covariance; intervals need it.
            warnings.simplefilter("error", optimize.OptimizeWarning)
            params, cov = optimize.curve_fit(
                curve,
                n / n_ref,
                y,
                p0=_start(n / n_ref, y),
                sigma=1 / np.sqrt(weights),
                absolute_sigma=False,
                bounds=([-np.inf, -np.inf, 0.0], np.inf),
                max_nfev=20_000,
            )
    except (RuntimeError, optimize.OptimizeWarning) as err:
        raise ForecastError(f"the curve fit did not converge ({err}); {_NOT_A_CURVE}") from None
    if not np.all(np.isfinite(cov)):
        raise ForecastError(f"the curve fit has no usable covariance; {_NOT_A_CURVE}")
    a, beta, c = map(float, params)
    change = float(np.ptp(curve(n / n_ref, a, beta, c)))
    if c < C_MIN or change < 1e-9:  # c -> 0 sends a and b to infinity: no plateau to speak of
        raise ForecastError(f"no learning curve to fit (c = {c:.2g}, change {change:.2g}); {_NOT_A_CURVE}")
    dof = len(n) - 3
    residual_sd = math.sqrt(float(np.sum(weights * (y - curve(n / n_ref, a, beta, c)) ** 2)) / dof)
    # A multivariate t: normal draws with the covariance, each divided by sqrt(chi2_dof / dof).
    rng = np.random.default_rng(seed)
    t_scale = 1 / np.sqrt(rng.chisquare(dof, N_DRAWS) / dof)
    draws = params + rng.multivariate_normal(np.zeros(3), cov, N_DRAWS) * t_scale[:, None]
    b = beta * n_ref**c
    to_b = np.array([[1, 0, 0], [0, n_ref**c, b * math.log(n_ref)], [0, 0, 1]])  # d(a, b, c) / d(a, beta, c)
    return Fit(a, b, c, to_b @ cov @ to_b.T, n_ref, n, y, residual_sd, draws, t_scale)


_NOT_A_CURVE = (
    "the points may not follow a learning curve (flat, noisy, or not levelling off yet): add sizes or seeds"
)


def _start(x: np.ndarray, y: np.ndarray) -> list[float]:
    """A start for the fit of a - beta x^-c (x = n / n_ref): the plateau a little past the
    largest size's mean, c = 0.5, and beta such that the curve passes the smallest size's mean."""
    small, large = y[x == x.min()].mean(), y[x == x.max()].mean()
    direction = 1.0 if large >= small else -1.0
    a = large + direction * max(abs(large - small), 1e-3) / 2
    return [a, (a - small) * x.min() ** 0.5, 0.5]


@dataclass(frozen=True)
class SizeForecast:
    target: float
    n: float | None  # None: the target lies beyond the fitted plateau
    low: float | None  # 95% interval; None: beyond reach
    high: float | None


def size_for_target(fit: Fit, target: float) -> SizeForecast:
    """The training-set size at which the fitted curve reaches target, with its 95% interval."""
    n = fit.n_ref * _solve(np.array([[fit.a, fit.beta, fit.c]]), target, fit.increasing)[0]
    drawn = fit.n_ref * _solve(fit.draws, target, fit.increasing)
    low, high = np.percentile(drawn, _TAILS, method="inverted_cdf")  # no interpolation next to inf
    return SizeForecast(float(target), *(float(v) if math.isfinite(v) else None for v in (n, low, high)))


def _solve(params: np.ndarray, target: float, increasing: bool) -> np.ndarray:
    """x = (beta / (a - target))^(1/c) for each (a, beta, c) row; inf where that curve never gets
    there: the target lies beyond its plateau, or it runs against the fitted curve's direction."""
    a, beta, c = params.T
    sign = 1.0 if increasing else -1.0
    gap = a - target
    reaches = (c > 0) & (np.sign(beta) == sign) & (np.sign(gap) == sign)
    x = np.full(len(params), np.inf)
    with np.errstate(over="ignore"):  # a tiny c sends the size to inf: beyond reach, as it should
        x[reaches] = (beta[reaches] / gap[reaches]) ** (1 / c[reaches])
    return x


@dataclass(frozen=True)
class Backtest:
    size: float  # the largest size, left out of the fit
    predicted: float
    low: float
    high: float
    observed: float  # mean over the seeds at that size
    seeds: int

    @property
    def error(self) -> float:
        return abs(self.predicted - self.observed)

    @property
    def covered(self) -> bool:
        return self.low <= self.observed <= self.high


def backtest(sizes, values, seed: int = 0) -> Backtest:
    """Fits every size below the largest and predicts the largest's mean over its seeds."""
    n, y = np.asarray(sizes, dtype=float), np.asarray(values, dtype=float)
    held_out = n == n.max()
    fit = fit_curve(n[~held_out], y[~held_out], seed)
    seeds, size = int(held_out.sum()), float(n.max())
    # The mean of `seeds` points at `size` scatters with variance residual_sd^2 / (weight * seeds).
    sd = fit.residual_sd / math.sqrt(size / fit.n_ref * seeds)
    noise = sd * np.random.default_rng(seed + 1).standard_normal(N_DRAWS) * fit.t_scale
    low, high = np.percentile(fit.drawn_curves([size])[:, 0] + noise, _TAILS)
    predicted = float(curve(size, fit.a, fit.b, fit.c))
    return Backtest(size, predicted, float(low), float(high), float(y[held_out].mean()), seeds)


def round_size(n: float) -> int:
    """Two significant figures, at least to the nearest 10 notes: 3,237 -> 3,200; 847 -> 850."""
    step = max(10, 10 ** (math.floor(math.log10(max(n, 1))) - 1))
    return max(step, int(round(n / step) * step))


@dataclass(frozen=True)
class RankForecast:
    """One LoRA rank's forecast of one metric; without a fit (or backtest), error says why."""

    rank: int
    fit: Fit | None = None
    size: SizeForecast | None = None  # None without a target
    backtest: Backtest | None = None  # None unless asked for
    error: str = ""
    backtest_error: str = ""


def forecast_rank(rank: int, sizes, values, target: float | None, with_backtest: bool) -> RankForecast:
    """Every step for one rank's points (one per finished job, all seeds); never raises ForecastError."""
    found: dict = {}
    if with_backtest:
        try:
            found["backtest"] = backtest(sizes, values)
        except ForecastError as err:
            found["backtest_error"] = str(err)
    try:
        fit = fit_curve(sizes, values)
    except ForecastError as err:
        return RankForecast(rank, error=str(err), **found)
    return RankForecast(rank, fit, None if target is None else size_for_target(fit, target), **found)
