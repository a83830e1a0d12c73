"""experiment=hpo: the Optuna sweeper samples lr, rank, alpha and dropout in their ranges, runs each
trial as a sweep job and writes the best trial (main metric on the validation slice) to the sweep dir."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from test_sweep import sweep

pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="hydra-optuna-sweeper is not installed")

# The search space the preset declares (conf/experiment/hpo.yaml).
RANKS, ALPHAS = {4, 8, 16, 32}, {8, 16, 32, 64}


def hpo(folder: Path, sweep_dir: Path, model: Path, *overrides: str) -> subprocess.CompletedProcess:
    """A two-trial study: test_sweep's sweep command with the preset."""
    return sweep(
        folder, sweep_dir, model, "experiment=hpo", "logger=none", "hydra.sweeper.n_trials=2", *overrides
    )


def test_the_preset_selects_the_optuna_sweeper_and_takes_overrides():
    from hydra import compose, initialize_config_dir

    from src.paths import CONF_DIR

    overrides = ["experiment=hpo", "task=eligibility", "seed=7", "hydra.sweeper.n_trials=3"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.sampler._target_.endswith("TPESampler")
    assert (sweeper.direction, sweeper.n_trials, sweeper.n_jobs, sweeper.storage) == ("maximize", 3, 1, None)
    assert sweeper.sampler.seed == 7  # follows ${seed}: a rerun proposes the same trials
    assert sweeper.study_name == "hpo-eligibility-minilm"
    assert cfg.hydra.sweep.dir == "multirun/hpo-eligibility-minilm"
    assert set(sweeper.params) == {"loop.lr", "lora.r", "lora.alpha", "lora.dropout"}


def test_trials_sample_the_declared_ranges_and_the_best_is_the_highest_validation_metric(
    sweep_data, tiny_bert
):
    sweep_dir = sweep_data / "study"
    result = hpo(sweep_data, sweep_dir, tiny_bert, "data.train_size=40")
    assert result.returncode == 0, result.stderr[-3000:]

    jobs = sorted(p.parent for p in sweep_dir.glob("*/status.json"))
    assert len(jobs) == 2  # hydra.sweeper.n_trials=2 overrides the preset's 20
    trials = []
    for job in jobs:
        cfg = OmegaConf.load(job / ".hydra" / "resolved.yaml")  # what the job trained with
        metrics = json.loads((job / "metrics.json").read_text())
        params = {
            "loop.lr": cfg.loop.lr,
            "lora.r": cfg.lora.r,
            "lora.alpha": cfg.lora.alpha,
            "lora.dropout": cfg.lora.dropout,
        }
        assert 1e-4 <= params["loop.lr"] <= 1e-2 and 0.0 <= params["lora.dropout"] <= 0.3
        assert params["lora.r"] in RANKS and params["lora.alpha"] in ALPHAS
        assert metrics["main_metric"] == "micro_f1"
        trials.append((metrics["validation"]["micro_f1"], params))  # never the eval split
    assert trials[0][1] != trials[1][1]  # sampled, not one fixed setting

    results = OmegaConf.to_container(OmegaConf.load(sweep_dir / "optimization_results.yaml"))
    best_value, best_params = max(trials, key=lambda t: t[0])
    assert math.isclose(results["best_value"], best_value)  # direction: maximize
    assert results["best_params"].keys() == best_params.keys()
    assert all(math.isclose(results["best_params"][k], v) for k, v in best_params.items())


@pytest.mark.parametrize(("overrides", "expected"), [(["experiment=hpo"], -math.inf), ([], math.nan)])
def test_a_failed_trial_is_the_worst_value_for_optuna_and_nan_otherwise(overrides, expected):
    # Optuna stops the whole study on a NaN objective; Hydra's basic sweeper ignores the value.
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig

    from src.paths import CONF_DIR
    from src.train import failed_value

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    value = failed_value()
    assert value == expected or (math.isnan(expected) and math.isnan(value))
