"""A W&B Report for one sweep (`python -m src.report <sweep dir> --wandb-report`), from wandb-workspaces.

`build_report` only assembles the report (no network); `publish` checks that W&B can be reached,
that the sweep's runs are on the server, then saves it and returns its URL.

W&B line plots take their x from logged history, never from config (wandb/wandb#3423, #4658), and
the sweep's metrics exist only in each run's summary. So "tuned metric vs train_size by lora_r" is
a scatter of the runs plus a bar chart of the runs grouped by (train_size, lora_r); the local
report's plots/metric_vs_train_size.png draws it as lines.

The labelling-budget forecast (`src.report --target ...`) is no run's metric either: `log_forecast`
logs its plots and table to one extra run of the sweep's group (job type "forecast"), and the
report shows them from that run. That run has no train_size or lora_r, so the sweep's panels
leave it out by themselves; the runs table lists it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import wandb_workspaces.reports.v2 as wr
from omegaconf import OmegaConf
from wandb_workspaces import expr

from src.errors import MedtuneError
from src.training.loggers import group_name, is_wandb, summary_key

# The top-level config keys src.training.loggers.flat_config gives every run.
COMPARED_KEYS = ("task", "model", "train_size", "lora_r", "seed")
OFFLINE_MODES = ("offline", "dryrun", "disabled")
FORECAST_JOB_TYPE = "forecast"
FORECAST_TABLE = "forecast_table"


def forecast_image_key(metric: str) -> str:
    return f"forecast_{metric}"


@dataclass(frozen=True)
class SweepRuns:
    """Where a sweep's W&B runs are and what they measured, as its jobs' configs say."""

    entity: str | None  # None: WANDB_ENTITY or the account's default entity
    project: str | None
    group: str
    task: str
    model: str
    main_metric: str
    n_jobs: int


def _wandb_configs(sweep_dir: Path, jobs: Iterable[str]) -> list:
    configs = [OmegaConf.load(sweep_dir / job / ".hydra" / "config.yaml") for job in jobs]
    return [cfg for cfg in configs if is_wandb(cfg.logger)]


def sweep_runs(sweep_dir: Path, jobs: Iterable[str]) -> SweepRuns:
    """jobs: the job folder names src.report collected."""
    configs = _wandb_configs(sweep_dir, jobs)
    if not configs:
        raise MedtuneError(f"{sweep_dir}: no job logged to W&B (they ran with logger=none or csv)")
    # Named as the jobs' logger named it; a sweep folder renamed since training no longer
    # matches, and `publish` then finds no runs.
    targets = {
        SweepRuns(
            entity=cfg.logger.entity,
            project=cfg.logger.project,
            group=cfg.logger.group or group_name(cfg, sweep_dir),
            task=cfg.task.name,
            model=cfg.model.short_name,
            main_metric=cfg.task.main_metric,
            n_jobs=len(configs),
        )
        for cfg in configs
    }
    if len(targets) > 1:
        groups = ", ".join(sorted(f"{t.group} ({t.task}/{t.model})" for t in targets))
        raise MedtuneError(f"{sweep_dir}: the jobs span several W&B groups ({groups}); a report covers one")
    return targets.pop()


def log_forecast(sweep_dir: Path, jobs: Iterable[str], logged: dict[str, tuple[Path, list[dict]]]) -> Path:
    """Logs the forecast ({metric: (plot, table rows)}) to the sweep's forecast run, offline into
    <sweep>/forecast/wandb unless the jobs ran online; returns the run's folder."""
    import wandb

    jobs = list(jobs)
    sweep = sweep_runs(sweep_dir, jobs)
    folder = sweep_dir / "forecast"  # under <sweep>/*/wandb, where `wandb sync` is told to look
    folder.mkdir(exist_ok=True)
    rows = [{"metric": metric, **row} for metric, (_, table) in logged.items() for row in table]
    run = wandb.init(
        project=sweep.project,
        entity=sweep.entity,
        group=sweep.group,
        job_type=FORECAST_JOB_TYPE,
        name=f"{sweep.group}-forecast",
        # One forecast run per group, whatever characters the group holds: a new forecast resumes it.
        id="forecast-" + hashlib.sha256(sweep.group.encode()).hexdigest()[:16],
        resume="allow",
        dir=folder,
        mode="online" if _wandb_configs(sweep_dir, jobs)[0].logger.mode == "online" else "offline",
        settings=wandb.Settings(console="off"),
        reinit="create_new",
    )
    with run:
        run.log(
            {forecast_image_key(metric): wandb.Image(str(plot)) for metric, (plot, _) in logged.items()}
            | {FORECAST_TABLE: wandb.Table(columns=list(rows[0]), data=[list(row.values()) for row in rows])}
        )
    return Path(run.dir).parent


def build_report(
    entity: str,
    project: str,
    group: str,
    task: str,
    model: str,
    main_metric: str,
    n_jobs: int,
    forecast_metrics: Iterable[str] = (),
) -> wr.Report:
    """forecast_metrics: the metrics of the forecast run (forecast.json), shown after the sweep."""
    base, tuned, delta = (summary_key(part, main_metric) for part in ("base", "tuned", "delta"))

    def runset(*filters, **kwargs) -> wr.Runset:
        return wr.Runset(
            entity=entity,
            project=project,
            name=group,
            filters=[expr.Metric("Group") == group, *filters],
            **kwargs,
        )

    runs = runset(
        # The runs table: the keys sweeps are compared by first, then the main metric.
        pinned_columns=[f"config:{key}.value" for key in COMPARED_KEYS]
        + [f"summary:{key}" for key in (base, tuned, delta)],
    )
    by_configuration = runset(groupby=["config.train_size", "config.lora_r"])
    intro = (
        f"LoRA sweep of **{task}** on **{model}**: {n_jobs} jobs, their runs in the W&B group `{group}`, "
        f"compared by `train_size`, `lora_r` and `seed`. Main metric: **{main_metric}** "
        f"(`{tuned}` for the fine-tuned model, `{base}` for the base model, `{delta}` the gain in "
        "percentage points). `python -m src.report` draws the same sweep locally (results.md, plots/)."
    )
    forecast = [
        wr.MarkdownBlock(
            text="Labelling-budget forecast (`python -m src.report <sweep folder> --target ...`; "
            "forecast.md there explains it): per LoRA rank, the learning curve a - b n^-c fitted to "
            "the jobs, its 95% band and the training-set size that reaches the target."
        ),
        wr.PanelGrid(
            runsets=[runset(expr.Metric("JobType") == FORECAST_JOB_TYPE)],
            panels=[
                wr.MediaBrowser(
                    title=f"{metric} forecast",
                    media_keys=[forecast_image_key(metric)],
                    layout=wr.Layout(w=12, h=10),
                )
                for metric in forecast_metrics
            ]
            + [wr.WeavePanelSummaryTable(table_name=FORECAST_TABLE, layout=wr.Layout(w=24, h=8))],
        ),
    ]
    return wr.Report(
        entity=entity,
        project=project,
        title=f"Sweep {group}",
        description=f"{main_metric} against training-set size and LoRA rank",
        width="fluid",
        blocks=[
            wr.MarkdownBlock(text=intro),
            wr.PanelGrid(
                runsets=[runs],
                panels=[
                    wr.ParallelCoordinatesPlot(
                        columns=[
                            wr.ParallelCoordinatesPlotColumn(metric=wr.Config(key))
                            for key in ("train_size", "lora_r", "seed")
                        ]
                        + [wr.ParallelCoordinatesPlotColumn(metric=wr.SummaryMetric(tuned))],
                        title=f"train_size, lora_r, seed -> tuned {main_metric}",
                        layout=wr.Layout(w=24, h=8),
                    ),
                    wr.ScatterPlot(
                        title=f"tuned {main_metric} vs train_size",
                        x=wr.Config("train_size"),
                        y=wr.SummaryMetric(tuned),
                        log_x=True,  # sizes grow by factors (500, 1000, 2000, 5000)
                        layout=wr.Layout(w=12, h=8),
                    ),
                    wr.BarPlot(
                        title=f"{main_metric}: tuned - base (pp) per run",
                        metrics=[delta],
                        layout=wr.Layout(w=12, h=8),
                    ),
                ],
            ),
            wr.PanelGrid(
                runsets=[by_configuration],
                panels=[
                    wr.BarPlot(
                        title=f"tuned {main_metric} by train_size and lora_r (mean, stderr over seeds)",
                        metrics=[tuned],
                        groupby_aggfunc="mean",
                        groupby_rangefunc="stderr",
                        layout=wr.Layout(w=24, h=8),
                    ),
                ],
            ),
            *(forecast if forecast_metrics else []),
        ],
    )


def save_report(report: wr.Report) -> str:
    report.save()
    return report.url


def _cannot(sweep_dir: Path, reason: str) -> MedtuneError:
    return MedtuneError(
        f"W&B report not created: {reason}. The local report is written. To create the W&B one: "
        "log in (`wandb login` or WANDB_API_KEY; unset WANDB_MODE=offline), upload the sweep's "
        f"offline runs with `wandb sync {sweep_dir}/*/wandb/offline-run-*`, then run "
        f"`python -m src.report {sweep_dir} --wandb-report` again"
    )


@contextmanager
def _server_errors(sweep_dir: Path):
    try:
        yield
    except Exception as err:  # the W&B client raises many types for a network or server refusal
        raise _cannot(sweep_dir, f"{type(err).__name__}: {str(err).rstrip('.')}") from None


def publish(sweep_dir: Path, sweep: SweepRuns, entity: str | None = None, project: str | None = None) -> str:
    """Saves the sweep's report to W&B and returns its URL. entity/project: where the runs were synced."""
    import wandb

    # Checked before any request: offline, the W&B client would prompt or retry instead of failing.
    mode = os.environ.get("WANDB_MODE", "")
    if mode in OFFLINE_MODES:
        raise _cannot(sweep_dir, f"W&B is off (WANDB_MODE={mode})")
    if not wandb.login(prompt=False, verify=False):
        raise _cannot(sweep_dir, "no W&B credentials (or W&B set offline with `wandb offline`)")
    project = project or sweep.project or os.environ.get("WANDB_PROJECT")
    if not project:
        raise MedtuneError("W&B report not created: no project; give --project or set WANDB_PROJECT")
    with _server_errors(sweep_dir):
        api = wandb.Api()
        entity = entity or sweep.entity or os.environ.get("WANDB_ENTITY") or api.default_entity
        found = len(api.runs(f"{entity}/{project}", filters={"group": sweep.group}, per_page=1))
    if not found:  # an empty report is no use: the runs were not synced, or went elsewhere
        raise _cannot(
            sweep_dir,
            f"no runs of group {sweep.group} in {entity}/{project} (elsewhere? give --entity, --project)",
        )
    forecast = sweep_dir / "forecast.json"  # written by src.report --target, logged to the forecast run
    forecast_metrics = list(json.loads(forecast.read_text())) if forecast.exists() else []
    report = build_report(
        entity,
        project,
        sweep.group,
        sweep.task,
        sweep.model,
        sweep.main_metric,
        sweep.n_jobs,
        forecast_metrics,
    )
    with _server_errors(sweep_dir):
        return save_report(report)
