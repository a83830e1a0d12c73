"""What `python -m src.report <sweep> --target ...` prints and writes for the forecast of
src/forecast.py: a line per LoRA rank, forecast.md, forecast.json and plots/forecast_<metric>.png."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from src.console import console  # noqa: E402
from src.errors import MedtuneError  # noqa: E402
from src.forecast import RankForecast, forecast_rank, round_size  # noqa: E402

AUDIT = "audit_failure_rate"  # lower is better: the target of --target-audit-drop


def forecast_targets(results: pd.DataFrame, target, audit_drop, with_backtest) -> list[tuple]:
    """(metric, target or None, how the target was set) for each metric the CLI asks to forecast."""
    out = []
    if target is not None or (with_backtest and audit_drop is None):
        out.append((results.main_metric.iloc[0], target, ""))
    if audit_drop is not None:
        base = results.get(f"base_{AUDIT}", pd.Series(dtype=float)).dropna()
        if base.empty:
            raise MedtuneError(
                f"--target-audit-drop: the jobs report no {AUDIT} (only tasks that audit code sets do)"
            )
        # The base model is the same for every job of a sweep (evaluated once, base/).
        rate = float(base.iloc[0])
        out.append((AUDIT, (1 - audit_drop) * rate, f"{audit_drop:.0%} below the base model's {rate:.3g}"))
    return out


def forecast(sweep_dir: Path, results: pd.DataFrame, targets: list[tuple], with_backtest: bool) -> dict:
    """Fits each metric's learning curve per rank, prints a line per rank and writes forecast.md,
    forecast.json and plots/forecast_<metric>.png. Returns {metric: (plot path, table rows)}."""
    done = results[results.status == "complete"]
    markdown = [
        "# Labelling-budget forecast",
        "",
        "Learning curve metric(n) = a - b n^-c fitted per LoRA rank over every finished job "
        "(weighted least squares, weight n / n_max); 95% intervals from the fit's covariance "
        "(multivariate t; a size's interval is where the band crosses the target). Sizes rounded to two "
        "significant figures.",
        "",
    ]
    document, logged = {}, {}
    (sweep_dir / "plots").mkdir(exist_ok=True)
    for metric, target, note in targets:
        column = f"tuned_{metric}"
        if column not in done or done[column].isna().all():
            raise MedtuneError(f"{sweep_dir}: no finished job reports {column}: nothing to forecast from")
        points = done.dropna(subset=[column])
        ranks = [
            forecast_rank(int(rank), group.train_size, group[column], target, with_backtest)
            for rank, group in points.groupby("lora_r")
        ]
        lines = [line for rank in ranks for line in describe(rank, metric, note)]
        for line in lines:
            console.print(line)
        plot_path = sweep_dir / "plots" / f"forecast_{metric}.png"
        plot_forecast(points, metric, target, ranks, plot_path)
        rows = [table_row(rank) for rank in ranks]
        markdown += [f"## {metric}", "", *(f"- {line}" for line in lines), "", *_table(rows), ""]
        markdown += [f"![{metric} forecast per LoRA rank](plots/{plot_path.name})", ""]
        document[metric] = {"target": target, "target_note": note, "ranks": [as_json(r) for r in ranks]}
        logged[metric] = (plot_path, rows)
    (sweep_dir / "forecast.md").write_text("\n".join(markdown))
    (sweep_dir / "forecast.json").write_text(json.dumps(document, indent=2) + "\n")
    console.print(f"wrote forecast.md, forecast.json, plots/forecast_<metric>.png in {sweep_dir}")
    return logged


def _table(rows: list[dict]) -> list[str]:
    def cell(value) -> str:
        if value is None or isinstance(value, bool):
            return {None: "", True: "yes", False: "no"}[value]
        return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"

    return [
        "| " + " | ".join(rows[0]) + " |",
        "|" + "---|" * len(rows[0]),
        *("| " + " | ".join(cell(v) for v in row.values()) + " |" for row in rows),
    ]


def plot_forecast(points: pd.DataFrame, metric: str, target, ranks: list[RankForecast], path: Path) -> None:
    """Each job's tuned value with its bootstrap interval; per rank the fitted curve and its 95%
    band, drawn to twice the largest size; the target as a horizontal line."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    grid = np.geomspace(points.train_size.min(), 2 * points.train_size.max(), 200)
    for i, (rank, group) in enumerate(points.groupby("lora_r")):
        y = group[f"tuned_{metric}"]
        low = group.get(f"tuned_{metric}_low", y).fillna(y)
        high = group.get(f"tuned_{metric}_high", y).fillna(y)
        shift = 1.04 ** (i - (len(ranks) - 1) / 2)  # ranks side by side at a size, not on top
        yerr = np.clip([y - low, high - y], 0, None)
        ax.errorbar(group.train_size * shift, y, yerr=yerr, fmt="o", color=f"C{i}", capsize=3, ms=4)
        fit = ranks[i].fit
        if fit is None:
            ax.plot([], [], "o", color=f"C{i}", label=f"LoRA r={int(rank)} (no fit)")
            continue
        ax.plot(grid, fit.value(grid), color=f"C{i}", label=f"LoRA r={int(rank)}")
        ax.fill_between(grid, *fit.band(grid), color=f"C{i}", alpha=0.2, linewidth=0)
    if target is not None:
        ax.axhline(target, color="k", linestyle=":", label=f"target {target:.3g}")
    ax.set_xscale("log")
    sizes = sorted(points.train_size.unique())
    ax.set_xticks(sizes, [f"{size:,}" for size in sizes])
    ax.minorticks_off()
    ax.set(
        xlabel="training examples (points: jobs, bars: 95% bootstrap interval)",
        ylabel=metric,
        title=f"{metric}: learning curve per LoRA rank, 95% band",
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _notes(n: float | None) -> str:
    return "beyond reach" if n is None else f"{round_size(n):,}"


def describe(forecast: RankForecast, metric: str, target_note: str = "") -> list[str]:
    """The report's lines for one rank: the forecast, then the backtest when asked for."""
    head, fit, size, tested = f"rank {forecast.rank}:", forecast.fit, forecast.size, forecast.backtest
    if fit is None:
        lines = [f"{head} no forecast of {metric}: {forecast.error}"]
    else:
        low, high = fit.plateau_interval()
        plateau = f"plateau a = {fit.a:.3g} (95% interval of a {low:.3g}–{high:.3g})"
        if size is None:
            lines = [f"{head} {metric} levels off at the fitted {plateau}"]
        elif size.n is None:
            lines = [f"{head} {metric} {size.target:.3g} lies beyond the fitted {plateau}"]
        else:
            interval = "beyond reach" if size.low is None else f"{_notes(size.low)}–{_notes(size.high)}"
            note = f" ({target_note})" if target_note else ""
            lines = [
                f"{head} about {_notes(size.n)} notes (95% interval {interval}) "
                f"to reach {metric} {size.target:.3g}{note}"
            ]
    if tested is not None:
        lines.append(
            f"{head} backtest at {tested.size:,.0f} notes, fitted on the smaller sizes: predicted "
            f"{metric} {tested.predicted:.3g} (95% interval {tested.low:.3g}–{tested.high:.3g}), observed "
            f"{tested.observed:.3g} (mean of {tested.seeds} seed(s)), absolute error {tested.error:.2g}, "
            f"{'inside' if tested.covered else 'outside'} the interval"
        )
    elif forecast.backtest_error:
        lines.append(f"{head} no backtest of {metric}: {forecast.backtest_error}")
    return lines


def as_json(forecast: RankForecast) -> dict:
    """forecast.json's entry for one rank: the curve, the points it used, the forecast, the backtest."""
    fit, size, tested = forecast.fit, forecast.size, forecast.backtest
    out: dict = {"rank": forecast.rank}
    if fit is None:
        out["error"] = forecast.error
    else:
        out |= {
            "a": fit.a,
            "b": fit.b,
            "c": fit.c,
            "covariance": fit.at(1)[1].tolist(),  # of (a, b, c): b is the gap at n = 1
            "points": [[float(n), float(y)] for n, y in zip(fit.sizes, fit.values, strict=True)],
            "plateau_interval": list(fit.plateau_interval()),
        }
    if size is not None:
        out["forecast"] = {
            "target": size.target,
            "beyond_reach": size.n is None,  # the target lies beyond the fitted plateau
            "n": size.n,
            "interval": [size.low, size.high],  # null: beyond reach
        }
    if tested is not None:
        out["backtest"] = {
            "size": tested.size,
            "predicted": tested.predicted,
            "interval": [tested.low, tested.high],
            "observed": tested.observed,
            "seeds": tested.seeds,
            "abs_error": tested.error,
            "covered": tested.covered,
        }
    elif forecast.backtest_error:
        out["backtest"] = {"error": forecast.backtest_error}
    return out


def table_row(forecast: RankForecast) -> dict:
    """One rank as a flat row (forecast.md's table, the W&B table); None where nothing applies."""
    fit, size, tested = forecast.fit, forecast.size, forecast.backtest
    return {
        "rank": forecast.rank,
        "points": None if fit is None else len(fit.sizes),
        "a": None if fit is None else fit.a,
        "b": None if fit is None else fit.b,
        "c": None if fit is None else fit.c,
        "target": None if size is None else size.target,
        "notes": None if size is None or size.n is None else round_size(size.n),
        "notes_low": None if size is None or size.low is None else round_size(size.low),
        "notes_high": None if size is None or size.high is None else round_size(size.high),
        "backtest_predicted": None if tested is None else tested.predicted,
        "backtest_observed": None if tested is None else tested.observed,
        "backtest_abs_error": None if tested is None else tested.error,
        "backtest_covered": None if tested is None else tested.covered,
    }
