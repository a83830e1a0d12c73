"""What a run prints: the config tree, the base-vs-tuned summary and its scrapeable lines."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table
from rich.tree import Tree

console = Console(soft_wrap=True)  # long paths in messages stay on one line: copyable, greppable

GROUPS = ("task", "model", "lora", "data", "loop", "trainer", "callbacks", "logger", "paths")


def print_config(cfg: DictConfig) -> None:
    tree = Tree("[bold]config[/bold]")
    for group in GROUPS:
        branch = tree.add(f"[bold cyan]{group}[/bold cyan]")
        branch.add(
            Syntax(OmegaConf.to_yaml(cfg[group], resolve=True).rstrip(), "yaml", background_color="default")
        )
    rest = {k: v for k, v in OmegaConf.to_container(cfg, resolve=True).items() if k not in GROUPS}
    tree.add(Syntax(OmegaConf.to_yaml(OmegaConf.create(rest)).rstrip(), "yaml", background_color="default"))
    console.print(tree)


def print_results(title: str, metrics: dict) -> None:
    reference = metrics.get("reference")  # absent from runs made before it existed
    table = Table(title=title)
    columns = ["metric", "base", "tuned", "delta (pp)", *(["reference"] if reference else [])]
    for column in columns:
        table.add_column(column, justify="right" if column != "metric" else "left")
    for key, base in metrics["base"].items():
        cells = [key, f"{base:.4f}", f"{metrics['tuned'][key]:.4f}", f"{metrics['delta'][key]:+.2f}"]
        if reference:  # blank where the reference has no such metric (unparseable_rate)
            value = reference["metrics"].get(key)
            cells.append("" if value is None else f"{value:.4f}")
        table.add_row(*cells)
    console.print(table)
    if reference:
        main = metrics["main_metric"]
        low, high = reference["intervals"]["delta"].get(main, [float("nan")] * 2)
        console.print(
            f"reference (no model): {reference['name']}; tuned - reference {main}: "
            f"{reference['delta'][main]:+.2f} pp (95% interval {low:+.2f} to {high:+.2f})"
        )
    change = metrics["delta"].get("audit_failure_relative_change")
    if change is not None:
        console.print(f"audit failures: {100 * change:+.1f}% relative to the base model")
    change = metrics["delta"].get("code_error_relative_change")
    if change is not None:
        console.print(
            f"code errors (codes an auditor deletes or adds): {metrics['base']['code_error_rate']:.3f} -> "
            f"{metrics['tuned']['code_error_rate']:.3f}, {100 * change:+.1f}% relative to the base model"
        )
    print_review(metrics)


def print_review(metrics: dict) -> None:
    """Calibration and the review queue's operating point, for a task that reports them (coding)."""
    calibration, review = metrics.get("calibration"), metrics.get("review")
    if calibration:
        ece = calibration["eval_ece"]
        console.print(
            f"calibration ({calibration['method']}, fitted on the validation slice): expected calibration "
            f"error {ece['before']:.4f} -> {ece['after']:.4f} on the evaluation split"
        )
    if review:  # the curve's first and last points; the operating point is printed last
        top, every = review["coverage_risk"][0], review["coverage_risk"][-1]
        console.print(
            f"review queue, code level: the {top['coverage']:.0%} most confident evaluation notes have "
            f"{top['code_risk']:.1%} of their codes wrong or missing, all notes {every['code_risk']:.1%}"
        )
    if review and review["validation"]["accepted"] == 0:
        console.print(
            f"review queue: no confidence threshold kept {review['bounds']} <= "
            f"{review['target']:.0%} on the validation slice; every note goes to review"
        )
    elif review:
        point = review["eval"]
        console.print(
            f"review queue: auto-accept notes with confidence >= {review['threshold']:.4g} (set on the "
            f"validation slice for {review['bounds']} <= {review['target']:.0%}); evaluation split: "
            f"{point['coverage']:.1%} of notes auto-accepted, {point['risk']:.1%} of them fail the audit, "
            f"{point['code_risk']:.1%} of their codes wrong or missing"
        )


METRIC_LINE_PREFIX = "medtune-metric"


def print_metric_lines(metrics: dict) -> None:
    """One `medtune-metric <base|tuned|delta>/<name>=<value>` line per final metric, for log
    scrapers such as SageMaker metric definitions (README: Training on AWS SageMaker). Plain
    print, not rich: no wrapping or colour codes, and the value as metrics.json holds it."""
    for part in ("base", "tuned", "delta"):
        for key, value in metrics[part].items():
            print(f"{METRIC_LINE_PREFIX} {part}/{key}={float(value)!r}", flush=True)
