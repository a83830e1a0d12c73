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
* 95% intervals come from the fit's covariance: the parameters follow a multivariate t (degrees
  of freedom = points - 3) around the estimate. Draws are made with the curve written around the
  size in question, a - beta (n / n_ref)^-c with beta the gap left at n_ref: the same curve, but
  linear in its parameters at n_ref, so percentiles there keep their nominal coverage. The band
  at each size is thus the curve's value there plus or minus t times its standard error; the
  size interval for a target is where that band crosses it, read outward from the forecast (the
  upper end is beyond reach when the band's far side never gets there). (Draws of a, b, c
  themselves, strongly correlated, gave bands about twice too wide in simulations; draws around
  one fixed size under-covered values read off at another.)
* the backtest fits every size below the largest and predicts the mean over seeds at the largest;
  its interval adds the scatter of that mean, since the observed value is itself noisy.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

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
    """The fitted curve, held as a - beta (n / n_max)^-c: beta = b n_max^-c is the gap to the
    plateau left at the largest size fitted. `at(n)` moves the reference size (b is beta at n = 1)."""

    a: float
    beta: float
    c: float
    cov: np.ndarray  # 3 x 3 covariance of (a, beta, c)
    n_max: float
    sizes: np.ndarray  # the points fitted
    values: np.ndarray
    residual_sd: float  # scatter of one point at weight 1, i.e. at n_max
    seed: int  # of the draws: the same fit gives the same intervals

    @property
    def b(self) -> float:
        return self.beta * self.n_max**self.c

    @property
    def dof(self) -> int:
        return len(self.sizes) - 3

    @property
    def increasing(self) -> bool:
        return self.beta > 0

    def at(self, n_ref: float) -> tuple[np.ndarray, np.ndarray]:
        """(a, beta, c) and their covariance with beta the gap at n_ref: the same curve."""
        ratio = n_ref / self.n_max
        beta = self.beta * ratio**-self.c
        to_ref = np.array([[1, 0, 0], [0, ratio**-self.c, -beta * math.log(ratio)], [0, 0, 1]])
        return np.array([self.a, beta, self.c]), to_ref @ self.cov @ to_ref.T

    def value(self, sizes) -> np.ndarray:
        return curve(np.asarray(sizes, dtype=float) / self.n_max, self.a, self.beta, self.c)

    def draws(self, n_ref: float) -> tuple[np.ndarray, np.ndarray]:
        """N_DRAWS draws of (a, beta at n_ref, c) from the multivariate t around the estimate, and
        each draw's 1 / sqrt(chi2 / dof) (the backtest scales its noise alike)."""
        params, cov = self.at(n_ref)
        rng = np.random.default_rng(self.seed)
        t_scale = 1 / np.sqrt(rng.chisquare(self.dof, N_DRAWS) / self.dof)
        return params + rng.multivariate_normal(np.zeros(3), cov, N_DRAWS) * t_scale[:, None], t_scale

    def band(self, sizes) -> tuple[np.ndarray, np.ndarray]:
        """The 95% band of the curve: at each size, the interval of a - beta that draws made with
        that size as reference give, i.e. the value plus or minus t * its standard error."""
        x = np.asarray(sizes, dtype=float) / self.n_max
        slopes = np.stack([np.ones_like(x), -(x**-self.c), self.beta * x**-self.c * np.log(x)])
        se = np.sqrt(np.einsum("in,ij,jn->n", slopes, self.cov, slopes))  # d value / d(a, beta, c)
        half = stats.t.ppf((1 + LEVEL) / 2, self.dof) * se
        return self.value(sizes) - half, self.value(sizes) + half

    def plateau_interval(self) -> tuple[float, float]:
        half = stats.t.ppf((1 + LEVEL) / 2, self.dof) * math.sqrt(self.cov[0, 0])
        return self.a - half, self.a + half


def fit_curve(sizes, values, seed: int = 0) -> Fit:
    """Fits a - b n^-c to the points; ForecastError when there are too few or it fails."""
    n, y = np.asarray(sizes, dtype=float), np.asarray(values, dtype=float)
    if len(n) < MIN_POINTS or len(np.unique(n)) < MIN_SIZES:
        raise ForecastError(
            f"{len(n)} point(s) at {len(np.unique(n))} size(s); a forecast needs at least "
            f"{MIN_POINTS} points at {MIN_SIZES} or more training-set sizes"
        )
    n_max = n.max()
    weights = n / n_max
    try:
        with warnings.catch_warnings():
            # scipy only warns when it cannot estimate the covariance; intervals need it.
            warnings.simplefilter("error", optimize.OptimizeWarning)
            params, cov = optimize.curve_fit(
                curve,
                n / n_max,  # beta, the gap at n_max, is of the metric's scale: a well-scaled fit
                y,
                p0=_start(n / n_max, y),
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
    change = float(np.ptp(curve(n / n_max, a, beta, c)))
    if c < C_MIN or change < 1e-9:  # c -> 0 sends a and b to infinity: no plateau to speak of
        raise ForecastError(f"no learning curve to fit (c = {c:.2g}, change {change:.2g}); {_NOT_A_CURVE}")
    residual_sd = math.sqrt(float(np.sum(weights * (y - curve(n / n_max, a, beta, c)) ** 2)) / (len(n) - 3))
    return Fit(a, beta, c, cov, n_max, n, y, residual_sd, seed)


_NOT_A_CURVE = (
    "the points may not follow a learning curve (flat, noisy, or not levelling off yet): add sizes or seeds"
)


def _start(x: np.ndarray, y: np.ndarray) -> list[float]:
    """A start for the fit of a - beta x^-c (x = n / n_max): the plateau a little past the
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
    n = fit.n_max * _solve(np.array([[fit.a, fit.beta, fit.c]]), target, fit.increasing)[0]
    # The interval is where the 95% band crosses the target, read outward from the forecast: the
    # sizes the plot shows. (Solving each parameter draw for n instead sent the upper end to
    # "beyond reach" whenever a few draws had c <= 0, even under a narrow band.)
    grid = np.geomspace(fit.n_max / 1e3, fit.n_max * 1e4, 7001)
    lower, upper = fit.band(grid)
    if fit.increasing:
        surely, maybe = lower >= target, upper >= target
    else:  # a falling metric has surely reached the target once the band's top is below it
        surely, maybe = upper <= target, lower <= target
    start = int(np.searchsorted(grid, n)) if math.isfinite(n) else len(grid) - 1
    below = np.flatnonzero(~maybe[:start])  # the last size below the forecast the band cannot reach
    low = grid[below[-1] + 1] if len(below) else grid[0]
    reached = np.flatnonzero(surely[start:])
    high = grid[start + reached[0]] if len(reached) else math.inf
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
    draws, t_scale = fit.draws(size)  # around the size predicted: its value there is a - beta
    # The mean of `seeds` points at `size` scatters with variance residual_sd^2 / (weight * seeds).
    sd = fit.residual_sd / math.sqrt(size / fit.n_max * seeds)
    noise = sd * np.random.default_rng(seed + 1).standard_normal(N_DRAWS) * t_scale
    low, high = np.percentile(draws[:, 0] - draws[:, 1] + noise, _TAILS)
    predicted = float(fit.value(size))
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
