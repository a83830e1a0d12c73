"""src/wandb_report.py: the W&B Report of a sweep, built without a server, checked against what a
real (offline) sweep job logs, and `src.report --wandb-report` failing clearly without W&B; the
forecast's extra run and its panels."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import wandb_workspaces.reports.v2 as wr
from conftest import ROOT
from test_forecast import RISING, write_sweep
from test_sweep import sweep
from wandb_offline import find_offline_runs, finished_records, read_offline_run
from wandb_workspaces import expr

from src import wandb_report
from src.errors import MedtuneError
from src.report import collect
from src.training.loggers import summary_key
from src.wandb_report import COMPARED_KEYS, FORECAST_TABLE, build_report, publish, sweep_runs

GROUP = "coding-minilm-grid"
SWEEP = {"group": GROUP, "task": "coding", "model": "minilm", "main_metric": "micro_f1", "n_jobs": 4}


@pytest.fixture(scope="module")
def sweep_dir(sweep_data, tiny_bert):
    """A one-job sweep run as a user runs it, W&B offline (the default logger)."""
    result = sweep(sweep_data, sweep_data / "grid", tiny_bert, "data.train_size=40")
    assert result.returncode == 0, result.stderr[-3000:]
    return sweep_data / "grid"


def grids(report: wr.Report) -> list[wr.PanelGrid]:
    return [block for block in report.blocks if isinstance(block, wr.PanelGrid)]


def referenced_keys(report: wr.Report) -> tuple[set[str], set[str]]:
    """The config and summary keys the report reads, from the accessors it sends to W&B."""
    keys = {"config": set(), "summary": set()}

    def add(accessor: str) -> None:  # "config:train_size.value", "summary:tuned/micro_f1"
        section, name = accessor.split(":", 1)
        keys[section].add(name.removesuffix(".value"))

    for grid in grids(report):
        for runset in grid.runsets:
            for accessor in runset.pinned_columns + [g.replace(".", ":", 1) for g in runset.groupby]:
                add(accessor)
        for panel in grid.panels:
            config = panel._to_model().config  # panels serialize offline; runsets look the project up
            if isinstance(panel, wr.ParallelCoordinatesPlot):
                accessors = [column.accessor for column in config.columns]
            elif isinstance(panel, wr.ScatterPlot):
                accessors = [config.x_axis, config.y_axis]
            else:  # bar plots take a plain key: the run's summary value
                accessors = [f"summary:{metric}" for metric in config.metrics]
            for accessor in accessors:
                add(accessor)
    return keys["config"], keys["summary"]


def test_report_has_the_sweep_panels():
    report = build_report("lab", "medtune", **SWEEP)
    assert GROUP in report.title and (report.entity, report.project) == ("lab", "medtune")
    intro = report.blocks[0].text
    assert all(word in intro for word in ("coding", "minilm", "4 jobs", "micro_f1"))
    runs, by_configuration = grids(report)
    assert [type(p) for p in runs.panels] == [wr.ParallelCoordinatesPlot, wr.ScatterPlot, wr.BarPlot]
    assert [type(p) for p in by_configuration.panels] == [wr.BarPlot]
    # The runs table shows the keys sweeps are compared by and the main metric first.
    (runset,) = runs.runsets
    assert runset.pinned_columns[: len(COMPARED_KEYS)] == [f"config:{k}.value" for k in COMPARED_KEYS]


def test_every_panel_shows_only_the_sweeps_group():
    for grid in grids(build_report("lab", "medtune", **SWEEP)):
        for runset in grid.runsets:
            assert (runset.entity, runset.project) == ("lab", "medtune")
            f = expr.expr_to_filters(runset.filters)
            assert (f.key.section, f.key.name, f.op, f.value) == ("run", "group", "=", GROUP)


def test_metric_against_train_size_by_lora_r():
    runs, by_configuration = grids(build_report("lab", "medtune", **SWEEP))
    parallel, scatter, delta = runs.panels
    assert [c._to_model().accessor for c in parallel.columns] == [
        "config:train_size.value",
        "config:lora_r.value",
        "config:seed.value",
        "summary:tuned/micro_f1",
    ]
    axes = scatter._to_model().config
    assert (axes.x_axis, axes.y_axis) == ("config:train_size.value", "summary:tuned/micro_f1")
    assert delta.metrics == ["delta/micro_f1"]
    # Mean over seeds per (train_size, lora_r): the runs grouped by the two config keys.
    (grouped,) = by_configuration.runsets
    assert [expr.groupby_str_to_key(g) for g in grouped.groupby] == [
        expr.Key(section="config", name="train_size.value"),
        expr.Key(section="config", name="lora_r.value"),
    ]
    (bars,) = by_configuration.panels
    assert bars.metrics == ["tuned/micro_f1"] and bars.groupby_aggfunc == "mean"


def test_report_reads_the_keys_a_sweep_job_logs(sweep_dir):
    (run,) = [read_offline_run(path) for path in find_offline_runs(sweep_dir)]
    sweep = sweep_runs(sweep_dir, collect(sweep_dir).job)
    assert sweep.group == run.group  # what the runset filters on
    assert (sweep.project, sweep.n_jobs, sweep.main_metric) == (run.project, 1, "micro_f1")
    report = build_report("lab", sweep.project, sweep.group, sweep.task, sweep.model, sweep.main_metric, 1)
    config, summary = referenced_keys(report)
    assert config == set(COMPARED_KEYS) and config <= set(run.config)
    assert summary == {summary_key(part, "micro_f1") for part in ("base", "tuned", "delta")}
    assert summary <= set(run.summary)


def test_offline_never_reaches_the_server(sweep_dir, monkeypatch):
    import wandb

    def no_network(*args, **kwargs):
        raise AssertionError("a W&B request was attempted")

    monkeypatch.setattr(wandb, "Api", no_network)
    monkeypatch.setattr(wr.Report, "save", no_network)
    monkeypatch.setenv("WANDB_MODE", "offline")
    with pytest.raises(MedtuneError, match="WANDB_MODE=offline"):
        publish(sweep_dir, sweep_runs(sweep_dir, collect(sweep_dir).job))


@pytest.mark.parametrize(
    "mode, reason", [("offline", "W&B is off (WANDB_MODE=offline)"), (None, "no W&B credentials")]
)
def test_without_wandb_the_local_report_is_written_and_the_error_says_how(sweep_dir, tmp_path, mode, reason):
    for name in ("results.csv", "results.md"):
        (sweep_dir / name).unlink(missing_ok=True)
    # No key anywhere wandb looks (env, ~/.netrc, settings); stdin closed: no login prompt.
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_") and k != "NETRC"}
    env.update(HOME=str(tmp_path), WANDB_CONFIG_DIR=str(tmp_path / "wandb"), WANDB_SILENT="true")
    if mode:
        env["WANDB_MODE"] = mode
    result = subprocess.run(
        [sys.executable, "-m", "src.report", str(sweep_dir), "--wandb-report"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,  # a prompt or a network retry fails the test instead of hanging it
    )
    assert result.returncode == 2, result.stderr[-3000:]
    (message,) = result.stderr.strip().splitlines()
    sync = f"wandb sync {sweep_dir}/*/wandb/offline-run-*"
    assert message.startswith(f"medtune: error: W&B report not created: {reason}")
    assert "wandb login" in message and sync in message
    assert list(sweep_dir.glob("*/wandb/offline-run-*"))  # the command given finds the runs
    assert (sweep_dir / "results.csv").exists() and (sweep_dir / "results.md").exists()


# The labelling-budget forecast in W&B: one extra run of the sweep's group, and its panels.

WANDB_JOBS = {
    "_target_": "src.training.loggers.wandb_logger",
    "project": "medtune",
    "entity": None,
    "mode": "offline",
    "group": None,
    "tags": [],
    "log_examples": False,
}


def test_report_shows_the_forecast_run():
    report = build_report("lab", "medtune", **SWEEP, forecast_metrics=["micro_f1", "audit_failure_rate"])
    *_, forecast = grids(report)
    (runset,) = forecast.runsets
    f = expr.expr_to_filters(runset.filters)
    assert [(g.key.name, g.op, g.value) for g in f.filters] == [
        ("group", "=", GROUP),
        ("jobType", "=", "forecast"),
    ]
    images, table = forecast.panels[:2], forecast.panels[2]
    assert [p.media_keys for p in images] == [["forecast_micro_f1"], ["forecast_audit_failure_rate"]]
    assert isinstance(table, wr.WeavePanelSummaryTable) and table.table_name == FORECAST_TABLE
    assert len(grids(build_report("lab", "medtune", **SWEEP))) == 2  # no forecast: no forecast panels


def test_forecast_is_logged_to_an_offline_run_of_the_sweeps_group(tmp_path):
    sweep_dir = write_sweep(tmp_path / "grid", {4: (0.80, 3.0, 0.5), 16: RISING}, logger=WANDB_JOBS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(HOME=str(tmp_path), WANDB_CONFIG_DIR=str(tmp_path / "wandb"), WANDB_SILENT="true")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "src.report",
            str(sweep_dir),
            "--target",
            "0.85",
            "--target-audit-drop",
            "0.4",
        ],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = find_offline_runs(sweep_dir / "forecast")
    assert f"W&B: forecast logged to {run_dir}" in result.stdout
    # `wandb sync <sweep>/*/wandb/offline-run-*`, as the README and error messages say, finds it.
    assert run_dir in [Path(p) for p in glob.glob(f"{sweep_dir}/*/wandb/offline-run-*")]
    run = read_offline_run(run_dir)
    (wandb_file,) = run_dir.glob("run-*.wandb")
    job_types = {r.run.job_type for r in finished_records(wandb_file) if r.WhichOneof("record_type") == "run"}
    assert run.group == sweep_runs(sweep_dir, collect(sweep_dir).job).group and job_types == {"forecast"}

    # What the report's forecast panels read: an image per metric and the table, in the summary.
    report = build_report(
        "lab", "medtune", **SWEEP, forecast_metrics=json.loads((sweep_dir / "forecast.json").read_text())
    )
    *_, forecast = grids(report)
    for panel in forecast.panels[:-1]:
        (key,) = panel.media_keys
        assert run.summary[key]["_type"] == "image-file"
        assert (run_dir / "files" / run.summary[key]["path"]).read_bytes()[:4] == b"\x89PNG"
    logged = run.summary[forecast.panels[-1].table_name]
    assert logged["_type"] == "table-file"
    table = json.loads((run_dir / "files" / logged["path"]).read_text())
    assert table["columns"][:3] == ["metric", "rank", "points"] and len(table["data"]) == 4
    rows = {(row[0], row[1]): dict(zip(table["columns"], row, strict=True)) for row in table["data"]}
    assert rows["micro_f1", 4]["notes"] is None and rows["micro_f1", 16]["notes"] > 3200  # 0.85: beyond r=4
    assert rows["audit_failure_rate", 16]["target"] == pytest.approx(0.24)


def test_published_report_has_the_forecast_panels_once_a_forecast_exists(tmp_path, monkeypatch):
    import wandb

    sweep_dir = write_sweep(tmp_path / "grid", {16: RISING}, logger=WANDB_JOBS)
    sweep = sweep_runs(sweep_dir, collect(sweep_dir).job)

    class Server:  # the runs are on it
        default_entity = "lab"

        def runs(self, *args, **kwargs):
            return [object()]

    saved = []
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setattr(wandb, "login", lambda **kwargs: True)
    monkeypatch.setattr(wandb, "Api", Server)
    monkeypatch.setattr(wandb_report, "save_report", lambda report: saved.append(report) or "url")
    publish(sweep_dir, sweep)
    (sweep_dir / "forecast.json").write_text(json.dumps({"micro_f1": {}}))
    publish(sweep_dir, sweep)
    assert [len(grids(report)) for report in saved] == [2, 3]
    assert grids(saved[1])[-1].panels[0].media_keys == ["forecast_micro_f1"]
