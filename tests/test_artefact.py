"""The run's compliance artefact: manifest.json, MODEL_CARD.md, W&B lineage, verify, no PHI."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, coding_rows, write_jsonl
from wandb_offline import find_offline_runs, read_offline_run

from src.signing import keygen, load_private_key, sign

# Stand-ins for PHI: if any of these reaches a file of the run dir, note text leaked.
CANARIES = ["Zebulon Quarrington", "MRN-7Q3X-CANARY", "4471 Brindlewood Lane"]


def with_canaries(rows: list[dict]) -> list[dict]:
    return [
        {**row, "text": f"{row['text']} Patient {CANARIES[0]}, {CANARIES[1]}, lives at {CANARIES[2]}."}
        for row in rows
    ]


def train_on(
    train_file: Path, eval_file: Path, run_dir: Path, *overrides: str, **env: str
) -> subprocess.CompletedProcess:
    cache = run_dir.parent / f"{run_dir.name}-cache"
    return subprocess.run(
        [
            *(sys.executable, "-m", "src.train", f"hydra.run.dir={run_dir}"),
            *(f"data.path={train_file}", f"data.eval_path={eval_file}", "data.train_size=null"),
            *("trainer.max_epochs=1", "model.max_length=64", *overrides),
        ],
        cwd=ROOT,
        env={**os.environ, "MEDTUNE_CACHE_DIR": str(cache), "WANDB_DIR": str(run_dir.parent), **env},
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def artefact_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("artefact")
    train_file = write_jsonl(tmp / "train.jsonl", with_canaries(coding_rows(48, "t")))
    eval_file = write_jsonl(tmp / "eval.jsonl", with_canaries(coding_rows(16, "e")))
    private_key, _ = keygen(tmp / "keys")  # the run signs its own manifest
    result = train_on(train_file, eval_file, tmp / "run", MEDTUNE_SIGNING_KEY=str(private_key))
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp / "run", train_file, eval_file, result


def verify(run_dir: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "src.verify", str(run_dir), *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_manifest_records_inputs_code_environment_and_metrics(artefact_run):
    run_dir, train_file, eval_file, _ = artefact_run
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["config"]["lora"]["r"] == 16 and manifest["seed"] == 0
    assert manifest["started_at"] <= manifest["finished_at"]
    files = manifest["data"]["files"]
    assert files["train"]["sha256"] == hashlib.sha256(train_file.read_bytes()).hexdigest()
    assert files["eval"]["sha256"] == hashlib.sha256(eval_file.read_bytes()).hexdigest()
    splits = manifest["data"]["splits"]
    assert splits["train"]["n"] + splits["val"]["n"] == 48 and splits["eval"]["n"] == 16
    eval_ids = "\n".join(f"e{i}" for i in range(16))  # the eval file is scored whole, in order
    assert splits["eval"]["ids_sha256"] == hashlib.sha256(eval_ids.encode()).hexdigest()
    assert manifest["labels"] == sorted(manifest["data"]["label_counts"]["train"])
    weights = manifest["base_model"]["weights_sha256"]
    assert "model.safetensors" in weights and len(weights["model.safetensors"]) == 64
    assert set(manifest["adapter"]["sha256"]) >= {
        "adapter_model.safetensors",
        "adapter_config.json",
        "medtune.json",
    }
    assert len(manifest["code"]["git_commit"]) == 40 and isinstance(manifest["code"]["dirty"], bool)
    assert {"python", "torch", "transformers", "peft", "lightning", "datasets"} <= set(manifest["versions"])
    assert manifest["hardware"]["cpu_count"] >= 1
    metrics = manifest["metrics"]
    for part in ("base", "tuned", "delta"):
        for key in ("micro_f1", "exact_match"):
            low, high = metrics["intervals"][part][key]
            assert low - 1e-9 <= metrics[part][key] <= high + 1e-9, (part, key)


def test_model_card_summarises_the_manifest(artefact_run):
    run_dir, *_ = artefact_run
    card = (run_dir / "MODEL_CARD.md").read_text()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for heading in (
        "## Intended use",
        "## Data",
        "## Training settings",
        "## Results",
        "## Known limitations",
        "## How to use it",
        "## Lineage",
    ):
        assert heading in card
    tuned = manifest["metrics"]["tuned"]["micro_f1"]
    low, high = manifest["metrics"]["intervals"]["tuned"]["micro_f1"]
    assert "| micro_f1 |" in card and f"{tuned:.3f} [{low:.3f}, {high:.3f}]" in card
    assert manifest["data"]["files"]["train"]["sha256"] in card


def test_wandb_holds_adapter_and_data_artifacts(artefact_run):
    run_dir, *_ = artefact_run
    (offline,) = find_offline_runs(run_dir)
    artifacts = read_offline_run(offline).artifacts
    assert "coding-data" in artifacts
    assert any(name.endswith("-adapter") for name in artifacts)


def test_no_note_text_anywhere_in_the_run_dir(artefact_run):
    run_dir, *_ = artefact_run
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any("wandb" in p.parts for p in files)  # the W&B offline run is scanned too
    leaks = [(str(p), c) for p in files for c in CANARIES if c.encode() in p.read_bytes()]
    assert not leaks


def test_verify_passes_an_intact_run_and_names_a_tampered_adapter(artefact_run, tmp_path):
    run_dir, *_ = artefact_run
    ok = verify(run_dir)
    assert ok.returncode == 0 and "intact" in ok.stdout, ok.stdout + ok.stderr

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    weights = copy / "adapter" / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    (copy / "adapter" / "extra.bin").write_bytes(b"x")
    bad = verify(copy)
    assert bad.returncode == 1
    assert "adapter/adapter_model.safetensors: changed" in bad.stdout
    assert "adapter/extra.bin: not in the manifest" in bad.stdout


def test_manifest_covers_every_file_the_run_wrote(artefact_run):
    run_dir, *_ = artefact_run
    files = json.loads((run_dir / "manifest.json").read_text())["files"]
    assert {
        "metrics.json",
        "MODEL_CARD.md",
        "errors.md",  # the per-code error report of a coding run
        "errors.json",
        ".hydra/resolved.yaml",
        "adapter/adapter_model.safetensors",
    } <= set(files)
    assert files["metrics.json"] == hashlib.sha256((run_dir / "metrics.json").read_bytes()).hexdigest()
    assert not any(name.startswith("wandb/") for name in files)  # W&B's store keeps changing after


def tamper(run_dir: Path, tmp_path: Path, change) -> subprocess.CompletedProcess:
    """verify on a copy of the run with one change made by change(copy)."""
    copy = tmp_path / "copy"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(run_dir, copy)
    change(copy)
    return verify(copy)


def edit_one_digit(path: Path) -> None:
    text = path.read_text()
    at = next(i for i, c in enumerate(text) if c.isdigit() and text[i - 2 : i] == "0.")
    path.write_text(text[:at] + str((int(text[at]) + 1) % 10) + text[at + 1 :])


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda run: edit_one_digit(run / "metrics.json"), "metrics.json: changed"),
        (lambda run: edit_one_digit(run / "MODEL_CARD.md"), "MODEL_CARD.md: changed"),
        (
            lambda run: (run / "predictions.jsonl").write_text("{}\n"),
            "predictions.jsonl: not in the manifest",
        ),
        (lambda run: (run / ".hydra" / "resolved.yaml").unlink(), ".hydra/resolved.yaml: missing"),
    ],
    ids=["edited metric", "edited card", "added file", "removed file"],
)
def test_verify_names_each_change_to_the_run(artefact_run, tmp_path, change, expected):
    run_dir, *_ = artefact_run
    result = tamper(run_dir, tmp_path, change)
    assert result.returncode == 1 and f"FAILED  {expected}" in result.stdout, result.stdout + result.stderr


def test_a_moved_run_verifies_with_its_signature(artefact_run, tmp_path):
    run_dir, *_ = artefact_run
    public_key = run_dir.parent / "keys" / "signing_key.pub.pem"
    moved = tmp_path / "review-share" / "run"
    shutil.copytree(run_dir, moved)
    result = subprocess.run(  # from another working directory too
        [sys.executable, "-m", "src.verify", str(moved), "--public-key", str(public_key)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "signed by key" in result.stdout and "the given public key" in result.stdout


def test_verify_refuses_a_signature_by_another_key_or_of_another_manifest(artefact_run, tmp_path):
    run_dir, *_ = artefact_run
    public_key = str(run_dir.parent / "keys" / "signing_key.pub.pem")
    other_key, _ = keygen(tmp_path / "other")
    signed_by_other = tamper(run_dir, tmp_path, lambda run: sign(run, load_private_key(other_key)))
    assert signed_by_other.returncode == 0  # a valid signature, by somebody...
    result = verify(tmp_path / "copy", "--public-key", public_key)
    assert result.returncode == 1 and "not by" in result.stdout  # ...who is not the expected signer

    def rewrite_manifest(run: Path) -> None:  # metrics and manifest edited together, hash updated
        edit_one_digit(run / "metrics.json")
        manifest = json.loads((run / "manifest.json").read_text())
        manifest["files"]["metrics.json"] = hashlib.sha256((run / "metrics.json").read_bytes()).hexdigest()
        manifest["metrics"] = {
            k: v
            for k, v in json.loads((run / "metrics.json").read_text()).items()
            if k in manifest["metrics"]
        }
        (run / "manifest.json").write_text(json.dumps(manifest))

    tamper(run_dir, tmp_path, rewrite_manifest)
    result = verify(tmp_path / "copy", "--public-key", public_key)
    assert result.returncode == 1 and "manifest.json: does not match its signature" in result.stdout


def test_verify_names_a_changed_data_file(artefact_run):
    run_dir, train_file, *_ = artefact_run
    original = train_file.read_bytes()
    try:
        train_file.write_bytes(original + b'{"id": "late", "text": "added later", "codes": ["I10"]}\n')
        bad = verify(run_dir)
    finally:
        train_file.write_bytes(original)
    assert bad.returncode == 1 and f"data train {train_file}: changed since training" in bad.stdout


def test_verify_without_manifest_is_a_clear_error(tmp_path):
    result = verify(tmp_path)
    assert result.returncode == 2 and "manifest.json not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_note_text_reaches_wandb_only_on_opt_in(artefact_run, tiny_bert, tmp_path):
    """The opt-in logs an examples table, and the canary scan above does see it then."""
    _, train_file, eval_file, _ = artefact_run
    run_dir = tmp_path / "run"
    options = (f"model.name_or_path={tiny_bert}", "model.lora_top_layers=null", "logger.log_examples=true")
    result = train_on(train_file, eval_file, run_dir, *options)
    assert result.returncode == 0, result.stderr[-3000:]
    (offline,) = find_offline_runs(run_dir)
    read_offline_run(offline)  # waits until wandb-core has written everything
    blob = b"".join(p.read_bytes() for p in offline.rglob("*") if p.is_file())
    assert CANARIES[0].encode() in blob
