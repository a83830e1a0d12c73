"""Metrics every task shares: deltas in percentage points, percentile bootstrap intervals, and
which metrics are lower-is-better.

Each task's own metrics live in its package (src/tasks/<task>/metrics.py or screening.py).
"""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig

from src.errors import MedtuneError

# Rates where less is better. Deltas stay tuned - base (negative: an improvement); what selects
# on task.main_metric (best epoch, early stopping, the reference, sweep tables) takes the highest,
# so these cannot be the main metric (src.preflight).
LOWER_IS_BETTER = frozenset({"audit_failure_rate", "code_error_rate", "unsupported_fact_rate"})


def check_main_metric(task_cfg: DictConfig) -> None:
    main = task_cfg.main_metric
    if main in LOWER_IS_BETTER:
        raise MedtuneError(
            f"task.main_metric={main} is lower-is-better, but the best epoch, early stopping and the "
            "reference are chosen on the highest main metric: keep the task's default main metric "
            f"({main} is reported beside it in metrics.json)"
        )


def metric_delta(base: dict[str, float], tuned: dict[str, float]) -> dict[str, float]:
    """tuned - base in percentage points, for every metric of base."""
    return {key: round(100.0 * (tuned[key] - base[key]), 4) for key in base}


def percentile_intervals(samples: dict[str, dict], level: float = 0.95) -> dict[str, dict[str, list[float]]]:
    """{part: {metric: resampled values}} -> {part: {metric: [low, high]}}, the central `level`
    of each metric's values; NaN values (metrics undefined on a resample) are left out."""
    tail = 100.0 * (1.0 - level) / 2.0
    return {
        part: {
            k: [float(np.nanpercentile(v, tail)), float(np.nanpercentile(v, 100.0 - tail))]
            for k, v in values.items()
        }
        for part, values in samples.items()
    }


def reference_block(
    name: str, description: str, metrics: dict[str, float], tuned: dict[str, float], paired: dict, **more
) -> dict:
    """metrics.json's `reference`: a naive reference's metrics on the evaluation split, tuned -
    reference in percentage points, and `paired`, the bootstrap intervals of (reference as the
    base side, tuned), as {"reference": its own interval, "delta": tuned - reference}."""
    return {
        "name": name,
        "description": description,
        "metrics": metrics,
        "delta": metric_delta(metrics, tuned),
        "intervals": {"reference": paired["base"], "delta": paired["delta"]},
        **more,
    }
