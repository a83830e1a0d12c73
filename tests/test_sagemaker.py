"""paths=sagemaker: a SageMaker training job, its SM_* folders played by temp folders."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
import torch
from conftest import ROOT, coding_rows, write_jsonl
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

# 40 training notes less a tenth for the validation slice, batch 8: 5 steps per epoch, 2 epochs.
ARGS = [
    "paths=sagemaker",
    "data.train_size=null",
    "trainer.max_epochs=2",
    "model.max_length=32",
    "logger=none",
    "callbacks.checkpoint.every_n_steps=2",
]


@pytest.fixture(scope="module")
def job(tmp_path_factory, tiny_bert) -> SimpleNamespace:
    """The channels (as SageMaker mounts them under /opt/ml/input/data) and the run command."""
    folder = tmp_path_factory.mktemp("sagemaker")
    (folder / "train").mkdir()
    (folder / "eval").mkdir()
    write_jsonl(folder / "train" / "train.jsonl", coding_rows(40, "t"))
    write_jsonl(folder / "eval" / "eval.jsonl", coding_rows(16, "e"))
    # Fail fast, before a run lands in outputs/, if the preset lost to conf/config.yaml's own keys.
    with mock.patch.dict(os.environ, {"SM_MODEL_DIR": str(folder / "probe")}):
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            cfg = compose(config_name="config", overrides=["paths=sagemaker"], return_hydra_config=True)
        assert (cfg.hydra.run.dir, cfg.resume) == (str(folder / "probe"), "auto"), (
            "paths=sagemaker must set hydra.run.dir and resume: conf/config.yaml lists paths after _self_"
        )
    return SimpleNamespace(folder=folder, args=[*ARGS, f"model.name_or_path={tiny_bert}"])


def launch(job, model_dir: Path, checkpoint_dir: Path, interrupt: tuple[str, int] | None = None):
    """The container's command; interrupt=(signal, step): it signals itself (tests/interrupt_run.py)."""
    entry = ["tests/interrupt_run.py", *map(str, interrupt)] if interrupt else ["-m", "src.train"]
    env = {
        **os.environ,
        "SM_MODEL_DIR": str(model_dir),
        "SM_CHANNEL_TRAIN": str(job.folder / "train"),
        "SM_CHANNEL_EVAL": str(job.folder / "eval"),
        "SM_OUTPUT_DATA_DIR": str(job.folder / "output" / "data"),
        "SM_CHECKPOINT_DIR": str(checkpoint_dir),
        "MEDTUNE_CACHE_DIR": str(job.folder / "cache"),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, *entry, *job.args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def uninterrupted(job) -> SimpleNamespace:
    model_dir, checkpoint_dir = job.folder / "model", job.folder / "checkpoints"
    result = launch(job, model_dir, checkpoint_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return SimpleNamespace(model_dir=model_dir, checkpoint_dir=checkpoint_dir, stdout=result.stdout)


def readme_metric_definitions() -> list[dict]:
    """The metric_definitions list of the README's SageMaker section (its first json block)."""
    section = (ROOT / "README.md").read_text().split("## Training on AWS SageMaker", 1)[1]
    return json.loads(re.search(r"```json\n(.*?)```", section, re.DOTALL).group(1))


def test_a_job_writes_its_results_to_the_model_dir(job, uninterrupted):
    model_dir = uninterrupted.model_dir
    for name in ("adapter/adapter_model.safetensors", "metrics.json", "manifest.json", "MODEL_CARD.md"):
        assert (model_dir / name).is_file(), name
    for name in ("config.yaml", "overrides.yaml", "resolved.yaml"):
        assert (model_dir / ".hydra" / name).is_file(), name
    resolved = OmegaConf.load(model_dir / ".hydra" / "resolved.yaml")
    assert resolved.data.path == str(job.folder / "train" / "train.jsonl")
    assert resolved.data.eval_path == str(job.folder / "eval" / "eval.jsonl")
    # The checkpoint folder is emptied once the adapter is written; it stays (SageMaker's own).
    assert uninterrupted.checkpoint_dir.is_dir() and not any(uninterrupted.checkpoint_dir.iterdir())


def test_metric_lines_match_metrics_json_and_the_readme_definitions(uninterrupted):
    metrics = json.loads((uninterrupted.model_dir / "metrics.json").read_text())
    lines = re.findall(r"^medtune-metric (\w+)/(\w+)=(\S+)$", uninterrupted.stdout, re.MULTILINE)
    assert {(part, key) for part, key, _ in lines} == {
        (part, key) for part in ("base", "tuned", "delta") for key in metrics[part]
    }
    for part, key, value in lines:
        assert float(value) == metrics[part][key]
    definitions = readme_metric_definitions()
    assert len(definitions) >= 3
    for definition in definitions:
        part, key = definition["Name"].split(":")
        found = re.search(definition["Regex"], uninterrupted.stdout)
        assert found, definition
        assert float(found.group(1)) == metrics[part][key], definition


def test_a_spot_restart_resumes_from_the_checkpoint_folder_in_a_fresh_model_dir(job, uninterrupted):
    checkpoint_dir = job.folder / "spot-checkpoints"
    # SIGTERM, as a spot interruption sends: step 6 finishes, is checkpointed, and the job stops.
    stopped = launch(job, job.folder / "model-1", checkpoint_dir, interrupt=("TERM", 5))
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    assert not (job.folder / "model-1" / "metrics.json").exists()
    assert torch.load(checkpoint_dir / "last.ckpt", weights_only=True)["global_step"] == 6
    assert (checkpoint_dir / "resolved.yaml").is_file()

    # The restarted job: a new, empty model dir; only the checkpoint folder was restored.
    model_dir = job.folder / "model-2"
    resumed = launch(job, model_dir, checkpoint_dir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming {model_dir} from {checkpoint_dir / 'last.ckpt'}" in resumed.stdout
    metrics = json.loads((model_dir / "metrics.json").read_text())
    expected = json.loads((uninterrupted.model_dir / "metrics.json").read_text())
    assert metrics["resumed_at_step"] == 6
    assert metrics["tuned"] == expected["tuned"]
    weights = "adapter/adapter_model.safetensors"
    assert (model_dir / weights).read_bytes() == (uninterrupted.model_dir / weights).read_bytes()
    assert (model_dir / ".hydra" / "resolved.yaml").is_file()
    assert not any(checkpoint_dir.iterdir())
