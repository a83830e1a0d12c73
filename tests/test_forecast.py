"""The labelling-budget forecast (src/forecast.py, src/forecast_report.py): the learning-curve fit
recovers known curves, its 95% intervals cover at about the nominal rate, unreachable targets and
too few points are said so, and `python -m src.report --target` on a sweep folder writes the files.
Fast: numpy and scipy on synthetic points, no training."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT

from src.forecast import ForecastError, backtest, curve, fit_curve, forecast_rank, round_size, size_for_target
from src.forecast_report import describe
from src.report import main

SIZES = np.repeat([100, 200, 400, 800, 1600, 3200], 3).astype(float)  # 3 seeds per size
RISING = (0.88, 3.0, 0.5)  # micro-F1: 0.58 at 100 notes, 0.83 at 3,200, plateau 0.88
FALLING = (0.05, -2.0, 0.5)  # audit failure rate: 0.25 at 100 notes, falling towards 0.05


def noisy(params, sizes=SIZES, sd=0.02, seed=0) -> np.ndarray:
    """The curve plus noise whose sd shrinks as 1/sqrt(n) (sd at 100 notes)."""
    rng = np.random.default_rng(seed)
    return curve(sizes, *params) + rng.normal(0, sd * np.sqrt(100 / sizes))


@pytest.mark.parametrize("truth", [RISING, FALLING], ids=["rising", "falling"])
def test_fit_recovers_a_known_curve(truth):
    fit = fit_curve(SIZES, noisy(truth, sd=0.005))
    a, b, c = truth
    assert fit.a == pytest.approx(a, abs=0.01)
    assert fit.b == pytest.approx(b, rel=0.25)
    assert fit.c == pytest.approx(c, abs=0.08)
    assert fit.increasing == (b > 0)
    assert fit.cov.shape == (3, 3) and np.all(np.diag(fit.cov) > 0)


def test_weights_make_the_residual_scatter_that_of_the_largest_size():
    # Noise sd 0.02 at 100 notes, shrinking as 1/sqrt(n): 0.02 * sqrt(100 / 3200) at the largest.
    scatter = np.mean([fit_curve(SIZES, noisy(RISING, seed=seed)).residual_sd for seed in range(50)])
    assert scatter == pytest.approx(0.02 * np.sqrt(100 / 3200), rel=0.15)  # unweighted: ~3x larger


def test_band_at_the_largest_size_covers_the_truth_at_about_95_percent():
    truth = curve(SIZES.max(), *RISING)
    covered = []
    for seed in range(200):
        low, high = fit_curve(SIZES, noisy(RISING, seed=seed), seed=seed).band([SIZES.max()])
        covered.append(low[0] <= truth <= high[0])
    assert 0.88 <= np.mean(covered) <= 0.99, np.mean(covered)


@pytest.mark.parametrize(
    "sizes",
    [SIZES, np.repeat([250, 500, 1000, 2000], 3).astype(float)],  # a sweep's usual 4 sizes: 3 fitted
    ids=["6 sizes", "4 sizes"],
)
def test_backtest_interval_covers_the_observed_mean_at_about_95_percent(sizes):
    results = []
    for seed in range(200):
        try:
            results.append(backtest(sizes, noisy(RISING, sizes, seed=seed), seed=seed))
        except ForecastError:  # a few noisy draws show no curve on 3 sizes
            pass
    assert len(results) >= 180 and all(r.size == sizes.max() and r.seeds == 3 for r in results)
    coverage = np.mean([r.covered for r in results])
    assert 0.88 <= coverage <= 0.99, coverage
    assert np.median([r.error for r in results]) < 0.01


def test_size_for_a_reachable_target():
    fit = fit_curve(SIZES, noisy(RISING, sd=0.01))
    target = curve(2500, *RISING)  # inside the sweep: well determined
    size = size_for_target(fit, target)
    assert size.n == pytest.approx(2500, rel=0.3) and size.low < size.n < size.high
    assert size.n == pytest.approx((fit.b / (fit.a - target)) ** (1 / fit.c))  # n* = (b / (a - T))^(1/c)
    (line,) = describe(forecast_rank(16, SIZES, noisy(RISING, sd=0.01), target, False), "micro_f1")
    assert re.fullmatch(
        rf"rank 16: about [\d,]+ notes \(95% interval [\d,]+–[\d,]+\) to reach micro_f1 {target:.3g}", line
    )


@pytest.mark.parametrize("size", [800, 6400], ids=["inside the sweep", "beyond it"])
def test_size_interval_covers_the_true_size_at_about_95_percent(size):
    target, covered = curve(size, *RISING), []
    for seed in range(200):
        found = size_for_target(fit_curve(SIZES, noisy(RISING, sd=0.01, seed=seed), seed=seed), target)
        covered.append(found.low <= size and (found.high is None or size <= found.high))
    assert 0.85 <= np.mean(covered) <= 0.99, np.mean(covered)


def test_a_target_beyond_the_plateau_is_beyond_reach():
    values = noisy(RISING)
    fit = fit_curve(SIZES, values)
    size = size_for_target(fit, fit.a + 0.01)
    assert size.n is None and size.high is None
    (line,) = describe(forecast_rank(4, SIZES, values, fit.a + 0.01, False), "micro_f1")
    assert line.startswith(f"rank 4: micro_f1 {fit.a + 0.01:.3g} lies beyond the fitted plateau a = ")
    # Just short of the plateau: the estimate reaches it, but the band's lower side never does.
    close = size_for_target(fit, fit.a - 0.002)
    assert close.n is not None and close.high is None
    (line,) = describe(forecast_rank(4, SIZES, values, fit.a - 0.002, False), "micro_f1")
    assert re.search(r"\(95% interval [\d,]+–beyond reach\)", line)


def test_a_falling_metric_reaches_targets_above_its_plateau_only():
    fit = fit_curve(SIZES, noisy(FALLING, sd=0.01))
    assert size_for_target(fit, 0.10).n == pytest.approx(1600, rel=0.3)  # 0.05 + 2 / sqrt(1600)
    assert size_for_target(fit, fit.a - 0.01).n is None  # below the plateau of a falling curve
    found = size_for_target(fit, 0.10)
    assert found.low < found.n < found.high  # the interval of a falling metric brackets its forecast


@pytest.mark.parametrize(
    "sizes, values",
    [([100, 200, 400], [0.5, 0.6, 0.65]), ([100, 100, 200, 200], [0.5, 0.52, 0.6, 0.61])],
    ids=["3 points", "2 sizes"],
)
def test_too_few_points_say_so(sizes, values):
    with pytest.raises(ForecastError, match="at least 4 points at 3 or more training-set sizes"):
        fit_curve(sizes, values)
    forecast = forecast_rank(8, sizes, values, 0.85, with_backtest=True)
    assert forecast.fit is None
    assert describe(forecast, "micro_f1") == [
        f"rank 8: no forecast of micro_f1: {forecast.error}",
        f"rank 8: no backtest of micro_f1: {forecast.backtest_error}",
    ]


def test_points_without_a_learning_curve_say_so():
    with pytest.raises(ForecastError, match="may not follow a learning curve"):
        fit_curve([100, 100, 200, 200, 400, 400], [0.5] * 6)


def test_sizes_are_rounded_to_two_significant_figures():
    assert [round_size(n) for n in (3237, 847, 12_345, 4.2)] == [3200, 850, 12_000, 10]


# A fake sweep folder, as src.train -m leaves one: job folders with .hydra/, metrics.json and status.json.


def write_sweep(sweep_dir: Path, curves: dict[int, tuple], logger: dict | None = None, sd=0.01) -> Path:
    """One job per (size, seed, rank) on SIZES; curves: {rank: (a, b, c) of micro-F1}. Every job also
    reports audit_failure_rate, falling as 1 - micro-F1 does, and the base model's 0.40."""
    logger = logger or {"_target_": None}
    sizes, seeds = np.unique(SIZES), 3
    job = 0
    for rank, params in curves.items():
        values = noisy(params, np.repeat(sizes, seeds), sd=sd, seed=rank).reshape(len(sizes), seeds)
        for size, per_seed in zip(sizes, values, strict=True):
            for seed, value in enumerate(per_seed):
                folder = sweep_dir / f"{job}-r{rank}-n{int(size)}-s{seed}"
                (folder / ".hydra").mkdir(parents=True)
                config = {
                    "task": {"name": "coding", "main_metric": "micro_f1"},
                    "model": {"short_name": "minilm"},
                    "data": {"train_size": int(size)},
                    "lora": {"r": rank},
                    "seed": seed,
                    "logger": logger,
                }
                overrides = [f"data.train_size={int(size)}", f"lora.r={rank}", f"seed={seed}"]
                (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
                (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
                tuned = {"micro_f1": float(value), "audit_failure_rate": float(1 - value)}
                base = {"micro_f1": 0.36, "audit_failure_rate": 0.40}
                metrics = {
                    "base": base,
                    "tuned": tuned,
                    "delta": {k: 100 * (tuned[k] - base[k]) for k in base},
                    "base_reused_from": None if job == 0 else str(sweep_dir / "base" / "x.json"),
                    "intervals": {"tuned": {k: [v - 0.03, v + 0.03] for k, v in tuned.items()}},
                    "timing": {"data_s": 5.0, "base_eval_s": 30.0 if job == 0 else 0.0, "train_s": 60.0},
                }
                (folder / "metrics.json").write_text(json.dumps(metrics))
                (folder / "status.json").write_text(json.dumps({"status": "complete", "wall_s": 100.0}))
                job += 1
    return sweep_dir


def run_report(sweep_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m src.report` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "src.report", str(sweep_dir), *args],
        cwd=ROOT,
        env={**os.environ, "WANDB_SILENT": "true"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def report_main(capsys, sweep_dir: Path, *args: str) -> tuple[int, str, str]:
    """The same in this process (no second start-up): exit status, stdout, stderr."""
    try:
        main([str(sweep_dir), *args])
        code = 0
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_forecasts_each_rank_and_writes_the_files(tmp_path):
    # Rank 16 levels off at 0.88, rank 4 at 0.80: a target of 0.85 is beyond rank 4's reach.
    sweep_dir = write_sweep(tmp_path / "sweep", {4: (0.80, 3.0, 0.5), 16: RISING})
    result = run_report(sweep_dir, "--target", "0.85", "--target-audit-drop", "0.40", "--backtest")
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert re.search(
        r"rank 16: about [\d,]+ notes \(95% interval [\d,]+–([\d,]+|beyond reach)\) to reach micro_f1 0.85\n",
        out,
    )
    assert re.search(
        r"rank 4: micro_f1 0.85 lies beyond the fitted plateau a = 0.8\d* \(95% interval of a ", out
    )
    # Audit failures: 40% below the base model's 0.40 is 0.24, which both ranks reach (1 - 0.80 = 0.20).
    assert re.search(
        r"rank 4: about [\d,]+ notes .* to reach audit_failure_rate 0.24 \(40% below the base model's 0.4\)",
        out,
    )
    for rank in (4, 16):
        assert re.search(
            rf"rank {rank}: backtest at 3,200 notes, fitted on the smaller sizes: predicted micro_f1 [\d.]+ "
            r"\(95% interval [\d.]+–[\d.]+\), observed [\d.]+ \(mean of 3 seed\(s\)\), "
            r"absolute error [\d.e-]+, (inside|outside) the interval",
            out,
        )

    forecast = json.loads((sweep_dir / "forecast.json").read_text())
    assert set(forecast) == {"micro_f1", "audit_failure_rate"}
    assert forecast["audit_failure_rate"]["target"] == pytest.approx(0.24)
    rank4, rank16 = forecast["micro_f1"]["ranks"]
    assert (rank4["rank"], rank16["rank"]) == (4, 16)
    assert rank4["forecast"]["beyond_reach"] and rank4["forecast"]["n"] is None
    assert not rank16["forecast"]["beyond_reach"] and rank16["forecast"]["n"] > 0
    assert len(rank16["points"]) == 18 and np.array(rank16["covariance"]).shape == (3, 3)
    assert rank16["a"] == pytest.approx(0.88, abs=0.02) and rank16["c"] > 0
    assert set(rank16["backtest"]) >= {"predicted", "interval", "observed", "abs_error", "covered"}

    markdown = (sweep_dir / "forecast.md").read_text()
    assert "- rank 4: micro_f1 0.85 lies beyond the fitted plateau" in markdown
    assert "| rank | points | a | b | c |" in markdown
    for metric in forecast:
        assert (sweep_dir / "plots" / f"forecast_{metric}.png").read_bytes()[:4] == b"\x89PNG"
        assert f"plots/forecast_{metric}.png" in markdown
    assert not (sweep_dir / "forecast").exists()  # the jobs ran without W&B: no forecast run


def test_cli_states_the_sweeps_cost(tmp_path, capsys):
    sweep_dir = write_sweep(tmp_path / "sweep", {16: RISING})
    code, out, err = report_main(capsys, sweep_dir)
    assert code == 0, err
    # 18 jobs of 100 s wall, 60 s training each: 1,800 s, 1,080 s training, 720 s (40%) beyond.
    cost = "18 finished job(s): 1,800 s wall time summed over the jobs, 1,080 s of it training. Overhead "
    cost += "beyond training, sum of (wall - training): 720 s, 40% of the wall time"
    once = "the other 17 job(s) read the base from the sweep folder's base/"
    table = (sweep_dir / "results.md").read_text()
    for text in (
        cost,
        once,
        "Paid once: tokenization (cached) and the base evaluation (30 s in 0-r16-n100-s0)",
    ):
        assert text in out and text in table
    assert "| 0-r16-n100-s0 | complete | `data.train_size=100 lora.r=16 seed=0` | 100 | 60 |  |" in table
    assert "0-r16-n100-s0: wall 100 s, training 60 s" in out
    assert not (sweep_dir / "forecast.json").exists()  # no --target: no forecast


def test_cli_with_too_few_sizes_says_so_and_still_writes(tmp_path, capsys):
    sweep_dir = write_sweep(tmp_path / "sweep", {8: RISING})

    def fail(size: int) -> None:  # the jobs of that size ran out of memory
        for job in sweep_dir.glob(f"*-n{size}-*"):
            (job / "status.json").write_text(json.dumps({"status": "failed", "error": "oom"}))

    for size in (400, 800, 1600):
        fail(size)
    # 100, 200 and 3200 notes: enough to forecast, but the backtest has only 100 and 200.
    code, out, err = report_main(capsys, sweep_dir, "--target", "0.85", "--backtest")
    assert code == 0, err
    assert re.search(r"rank 8: about [\d,]+ notes", out)
    needs = "; a forecast needs at least 4 points at 3 or more training-set sizes"
    assert f"rank 8: no backtest of micro_f1: 6 point(s) at 2 size(s){needs}" in out

    fail(200)
    code, out, err = report_main(capsys, sweep_dir, "--target", "0.85")
    assert code == 0, err
    assert f"rank 8: no forecast of micro_f1: 6 point(s) at 2 size(s){needs}" in out
    (rank,) = json.loads((sweep_dir / "forecast.json").read_text())["micro_f1"]["ranks"]
    assert rank["error"].startswith("6 point(s) at 2 size(s)") and "forecast" not in rank
    assert (sweep_dir / "plots" / "forecast_micro_f1.png").exists()  # the points, without a curve


def test_target_audit_drop_needs_the_audit_metric(tmp_path, capsys):
    sweep_dir = write_sweep(tmp_path / "sweep", {16: RISING})
    for path in sweep_dir.glob("*/metrics.json"):
        metrics = json.loads(path.read_text())
        del metrics["base"]["audit_failure_rate"]
        path.write_text(json.dumps(metrics))
    code, _, err = report_main(capsys, sweep_dir, "--target-audit-drop", "0.4")
    assert code == 2 and "--target-audit-drop: the jobs report no audit_failure_rate" in err
    code, _, err = report_main(capsys, sweep_dir, "--target-audit-drop", "40")  # a fraction, not a percentage
    assert code == 2 and "--target-audit-drop is a fraction between 0 and 1" in err
