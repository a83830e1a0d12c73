"""python -m src.report multirun/<sweep dir>: compare the jobs of a sweep, no W&B needed.

Writes into the sweep dir: results.csv (one row per job: overrides, status, base / tuned /
delta metrics, wall time, error), results.md (a table per data size with the best
configuration in bold; coding sweeps add each job's tuned micro-F1 by the codes' training
frequency) and, in plots/, PNG plots: the main metric against training-set size with one line
per LoRA rank and the base model dashed, a rank x size heatmap, and the delta against the base
per job. With several seeds per configuration, points are means with a 95% t-interval.

--target / --target-audit-drop / --backtest add a labelling-budget forecast per LoRA rank
(src/forecast.py): forecast.md, forecast.json and plots/forecast_<metric>.png, logged to the
sweep's W&B group too when its jobs logged to W&B. --wandb-report then also saves a W&B Report of
the sweep's runs (src/wandb_report.py), once they are synced to a W&B server.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from scipy import stats  # noqa: E402

from src.console import console  # noqa: E402
from src.errors import MedtuneError, exit_on_user_error  # noqa: E402
from src.forecast_report import forecast, forecast_targets  # noqa: E402
from src.paths import keep_private, private_from_env  # noqa: E402
from src.schemas import WANDB_LOGGER  # noqa: E402

PLOTS = ("metric_vs_train_size.png", "rank_size_heatmap.png", "delta_per_job.png")
TIMING = ("data_s", "base_eval_s", "train_s")  # from each job's metrics.json, for the sweep's cost
BAND_PREFIX = "tuned_micro_f1_train_"  # + a frequency band of metrics.json's errors, e.g. "20+"


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def collect(sweep_dir: Path) -> pd.DataFrame:
    """One row per job folder (those holding .hydra/overrides.yaml), in job order."""
    jobs = sorted(
        (p.parent.parent for p in sweep_dir.glob("*/.hydra/overrides.yaml")),
        key=lambda p: (
            int(p.name.split("-", 1)[0]) if p.name.split("-", 1)[0].isdigit() else math.inf,
            p.name,
        ),
    )
    if not jobs:
        raise MedtuneError(
            f"{sweep_dir}: no job folders (*/.hydra/overrides.yaml); give the folder a "
            "`python -m src.train -m ...` sweep printed, e.g. multirun/<date>/<time>"
        )
    rows = []
    for job in jobs:
        cfg = OmegaConf.load(job / ".hydra" / "config.yaml")
        metrics = _read_json(job / "metrics.json") or {}
        status = _read_json(job / "status.json") or {"status": "unfinished"}
        row = {
            "job": job.name,
            "status": status["status"],
            "overrides": " ".join(OmegaConf.load(job / ".hydra" / "overrides.yaml")),
            "task": cfg.task.name,
            # null: the whole training file, whose size the job's data stats give
            "train_size": cfg.data.train_size or metrics.get("data", {}).get("n_train"),
            "lora_r": cfg.lora.r,
            "seed": cfg.seed,
            "main_metric": cfg.task.main_metric,
        }
        for part in ("base", "tuned", "delta"):
            row.update({f"{part}_{key}": value for key, value in metrics.get(part, {}).items()})
        for key, (low, high) in metrics.get("intervals", {}).get("tuned", {}).items():
            row[f"tuned_{key}_low"], row[f"tuned_{key}_high"] = low, high  # 95% bootstrap
        reference = metrics.get("reference") or {}  # absent from runs made before it existed
        row["reference_name"] = reference.get("name")
        row.update({f"reference_{key}": value for key, value in reference.get("metrics", {}).items()})
        # coding runs: the tuned model's micro-F1 by the codes' training frequency (errors.md)
        for band, values in metrics.get("errors", {}).get("bands", {}).items():
            row[f"{BAND_PREFIX}{band}"] = values["f1"]
        row["wall_s"] = status.get("wall_s")
        row.update({key: metrics.get("timing", {}).get(key) for key in TIMING})
        row["base_reused"] = metrics.get("base_reused_from") is not None if metrics else None
        row["error"] = status.get("error", "")
        rows.append(row)
    return pd.DataFrame(rows)


def _mean_ci(values: pd.Series) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval (0 for a single value)."""
    values = values.dropna()
    if len(values) < 2:
        return float(values.mean()) if len(values) else math.nan, 0.0
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return float(values.mean()), float(half)


def _int(value):
    """Sizes and ranks print as 500, not 500.0 (pandas turns a column with a gap into floats)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Finished jobs grouped by (train_size, lora_r): mean and 95% interval over seeds."""
    done = results[results.status == "complete"]
    if done.empty:
        return pd.DataFrame()
    metric = done.main_metric.iloc[0]
    out = []
    for (size, rank), group in done.groupby(["train_size", "lora_r"], dropna=False):
        tuned, tuned_ci = _mean_ci(group[f"tuned_{metric}"])
        base, _ = _mean_ci(group[f"base_{metric}"])
        column = f"reference_{metric}"
        reference = _mean_ci(group[column])[0] if column in group else math.nan
        out.append(
            {
                "train_size": size,
                "lora_r": rank,
                "seeds": len(group),
                "tuned": tuned,
                "ci": tuned_ci,
                "base": base,
                "reference": reference,
                "reference_name": _names(group.get("reference_name")),
            }
        )
    return pd.DataFrame(out).sort_values(["train_size", "lora_r"])


def _names(values: pd.Series | None) -> str:
    """The distinct non-empty names of a column, in order, joined ('' for none)."""
    return " / ".join(dict.fromkeys(values.dropna())) if values is not None else ""


def write_markdown(results: pd.DataFrame, summary: pd.DataFrame, path: Path) -> None:
    metric = results.main_metric.iloc[0]
    lines = [f"# Sweep results: {metric}", ""]
    if not summary.empty:
        lines += [
            "Mean over seeds (± half-width of the 95% interval); **bold**: the best rank for each data size. "
            "Reference: the task's naive reference (no model) on the same evaluation split.",
            "",
            f"| train_size | lora_r | seeds | base {metric} | tuned {metric} | delta (pp) "
            f"| reference {metric} |",
            "|---|---|---|---|---|---|---|",
        ]
        for size, group in summary.groupby("train_size", dropna=False):
            best = group.tuned.idxmax()
            for row in group.itertuples():  # iterrows would turn every cell into a float
                tuned = f"{row.tuned:.4f}" + (f" ± {row.ci:.4f}" if row.seeds > 1 else "")
                cells = [
                    size,
                    row.lora_r,
                    row.seeds,
                    f"{row.base:.4f}",
                    tuned,
                    f"{100 * (row.tuned - row.base):+.2f}",
                    "" if pd.isna(row.reference) else f"{row.reference:.4f} ({row.reference_name})",
                ]
                text = [str(c) for c in cells]
                if row.Index == best:
                    text = [f"**{c}**" for c in text]
                lines.append("| " + " | ".join(text) + " |")
        lines.append("")
    lines += band_table(results)
    cost = sweep_cost(results)
    if cost:
        lines += ["## Sweep cost", "", *cost, ""]
    lines += [
        "## Jobs",
        "",
        "| job | status | overrides | wall (s) | training (s) | error |",
        "|---|---|---|---|---|---|",
    ]
    for row in results.itertuples():
        wall, train = ("" if pd.isna(value) else f"{value:.0f}" for value in (row.wall_s, row.train_s))
        error = " ".join(str(row.error).split())  # one table row, even for a multi-line message
        lines.append(f"| {row.job} | {row.status} | `{row.overrides}` | {wall} | {train} | {error} |")
    path.write_text("\n".join(lines) + "\n")


def band_table(results: pd.DataFrame) -> list[str]:
    """Tuned micro-F1 per job by how many training notes carry the code (coding runs' errors.md);
    none when no job reports it."""
    columns = [c for c in results.columns if c.startswith(BAND_PREFIX)]
    if not columns:
        return []
    bands = [c.removeprefix(BAND_PREFIX) for c in columns]
    lines = [
        "## Tuned micro-F1 by training examples per code",
        "",
        "Codes grouped by how many training notes carry them; – : no such code in the evaluation "
        "split or the predictions. Each job's errors.md has per-code figures and its top errors.",
        "",
        "| job | overrides | " + " | ".join(bands) + " |",
        "|---|---|" + "---|" * len(bands),
    ]
    for _, row in results.iterrows():
        cells = ["–" if pd.isna(row[c]) else f"{row[c]:.4f}" for c in columns]
        lines.append(f"| {row.job} | `{row.overrides}` | " + " | ".join(cells) + " |")
    return [*lines, ""]


def sweep_cost(results: pd.DataFrame) -> list[str]:
    """The finished jobs' wall and training time, and what the sweep spent beyond training."""
    done = results[results.status == "complete"].dropna(subset=["wall_s", "train_s"])
    if done.empty:
        return []
    wall, train = done.wall_s.sum(), done.train_s.sum()
    lines = [
        f"{len(done)} finished job(s): {wall:,.0f} s wall time summed over the jobs, {train:,.0f} s of "
        f"it training. Overhead beyond training, sum of (wall - training): {wall - train:,.0f} s, "
        f"{(wall - train) / wall:.0%} of the wall time (data, model set-up, evaluations, saving)."
    ]
    reused = done[done.base_reused.astype(bool)]
    if len(reused):
        evaluated = done[~done.base_reused.astype(bool)]
        lines.append(
            f"Paid once: tokenization (cached) and the base evaluation ({evaluated.base_eval_s.sum():.0f} s "
            f"in {', '.join(evaluated.job)}); the other {len(reused)} job(s) read the base from the "
            "sweep folder's base/ (`base_reused_from` in their metrics.json)."
        )
    return lines


def plot(results: pd.DataFrame, summary: pd.DataFrame, out_dir: Path) -> None:
    metric = results.main_metric.iloc[0]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for rank, group in summary.groupby("lora_r"):
        ax.errorbar(
            group.train_size, group.tuned, yerr=group.ci, marker="o", capsize=3, label=f"LoRA r={rank}"
        )
    base = summary.groupby("train_size").base.mean()
    if len(base) > 1:
        ax.plot(base.index, base.values, "k--", label="base model (zero-shot)")
    else:
        ax.axhline(base.iloc[0], color="k", linestyle="--", label="base model (zero-shot)")
    ax.set(xlabel="training examples", ylabel=metric, title=f"{metric} vs training-set size")
    if summary.train_size.nunique() > 2:
        ax.set_xscale("log")  # sizes grow by factors (500, 1000, 2000, 5000)
    sizes = sorted(summary.train_size.dropna().unique())
    ax.set_xticks(sizes, [str(size) for size in sizes])
    ax.minorticks_off()
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / PLOTS[0], dpi=120)
    plt.close(fig)

    grid = summary.pivot_table(index="lora_r", columns="train_size", values="tuned")
    fig, ax = plt.subplots(figsize=(1.4 + 1.2 * grid.shape[1], 1.2 + 0.8 * grid.shape[0]))
    image = ax.imshow(grid.values, cmap="viridis", aspect="auto")
    ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [str(i) for i in grid.index])
    for (i, j), value in np.ndenumerate(grid.values):
        ax.text(j, i, f"{value:.3f}", ha="center", va="center", color="w")
    ax.set(xlabel="training examples", ylabel="LoRA rank", title=f"tuned {metric}")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(out_dir / PLOTS[1], dpi=120)
    plt.close(fig)

    done = results[results.status == "complete"]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.5 * len(done) + 2), 4.0))
    ax.bar(range(len(done)), done[f"delta_{metric}"])
    ax.set_xticks(
        range(len(done)), [f"n={s}\nr={r}" for s, r in zip(done.train_size, done.lora_r, strict=True)]
    )
    ax.axhline(0, color="k", linewidth=0.8)
    ax.set(ylabel=f"{metric}: tuned - base (pp)", title="gain over the base model per job")
    fig.tight_layout()
    fig.savefig(out_dir / PLOTS[2], dpi=120)
    plt.close(fig)


def report(sweep_dir: Path) -> pd.DataFrame:
    if not sweep_dir.is_dir():
        raise MedtuneError(f"{sweep_dir}: not a directory; give a sweep folder under multirun/")
    results = collect(sweep_dir)
    results.to_csv(sweep_dir / "results.csv", index=False)
    summary = summarise(results)
    write_markdown(results, summary, sweep_dir / "results.md")
    if not summary.empty:
        (sweep_dir / "plots").mkdir(exist_ok=True)
        plot(results, summary, sweep_dir / "plots")
    counts = results.status.value_counts().to_dict()
    console.print(
        f"{sweep_dir}: {len(results)} jobs {counts}; wrote results.csv, results.md"
        + (", plots" if not summary.empty else "")
    )
    for row in results.dropna(subset=["wall_s"]).itertuples():
        train = "" if pd.isna(row.train_s) else f", training {row.train_s:,.0f} s"
        console.print(f"  {row.job}: wall {row.wall_s:,.0f} s{train}")
    for line in sweep_cost(results):
        console.print(line)
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m src.report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a sweep folder, e.g. multirun/<date>/<time>")
    parser.add_argument(
        "--target",
        type=float,
        help="forecast the training-set size each LoRA rank needs to reach this value of the main "
        "metric (writes forecast.md, forecast.json, plots/forecast_<metric>.png)",
    )
    parser.add_argument(
        "--target-audit-drop",
        type=float,
        metavar="FRACTION",
        help="also forecast the size that brings audit_failure_rate (where the task reports it) to "
        "(1 - FRACTION) x the base model's, e.g. 0.40 for 40%% fewer audit failures",
    )
    parser.add_argument(
        "--backtest",
        action="store_true",
        help="check the forecast: fit the sizes below the largest and predict the largest",
    )
    parser.add_argument(
        "--wandb-report",
        action="store_true",
        help="also save a W&B Report of the sweep's runs (needs `wandb login` and the runs synced)",
    )
    parser.add_argument(
        "--entity",
        help="W&B entity of the runs (default: the jobs' logger.entity, WANDB_ENTITY, your default entity)",
    )
    parser.add_argument(
        "--project", help="W&B project of the runs (default: the jobs' logger.project, WANDB_PROJECT)"
    )
    args = parser.parse_args(argv)
    if args.target_audit_drop is not None and not 0 < args.target_audit_drop < 1:
        parser.error("--target-audit-drop is a fraction between 0 and 1, e.g. 0.40")
    return args


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    keep_private(private_from_env())
    args = parse_args(argv)
    results = report(args.sweep_dir)
    targets = forecast_targets(results, args.target, args.target_audit_drop, args.backtest)
    if targets:
        logged = forecast(args.sweep_dir, results, targets, args.backtest)
        log_forecast(args.sweep_dir, results, logged)
    if args.wandb_report:  # last: a W&B failure leaves the local report written
        wandb_report = _wandb_report()
        sweep = wandb_report.sweep_runs(args.sweep_dir, results.job)
        url = wandb_report.publish(args.sweep_dir, sweep, entity=args.entity, project=args.project)
        console.print(f"W&B report: {url}")


def _wandb_report():
    try:
        from src import wandb_report  # wandb-workspaces is only needed here
    except ModuleNotFoundError as err:
        if err.name != "wandb_workspaces":
            raise
        raise MedtuneError("--wandb-report needs wandb-workspaces: pip install wandb-workspaces") from None
    return wandb_report


def log_forecast(sweep_dir: Path, results: pd.DataFrame, logged: dict) -> None:
    """The forecast's plots and table in the sweep's W&B group, when its jobs logged to W&B. Never
    fatal: the forecast files are written already."""
    loggers = [OmegaConf.load(sweep_dir / job / ".hydra" / "config.yaml").logger for job in results.job]
    if not any(logger.get("_target_") == WANDB_LOGGER for logger in loggers):
        return  # checked before importing src.wandb_report, which loads Lightning and torch
    try:
        run_dir = _wandb_report().log_forecast(sweep_dir, results.job, logged)
    except Exception as err:  # W&B raises many types (network, credentials); the files are what matter
        console.print(f"W&B: forecast not logged ({type(err).__name__}: {err})")
        return
    console.print(f"W&B: forecast logged to {run_dir}")


if __name__ == "__main__":
    main()
