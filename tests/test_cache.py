"""Caches hold no note text, everything a run writes is owner-only, and `python -m src.cache`
lists and purges cache entries by what they derive from."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from conftest import NOTES, ROOT, compose_config, write_jsonl
from datasets import Dataset
from transformers import AutoTokenizer

from src.base_once import evaluate_base
from src.cache import main as cache_main
from src.data.caches import record_sources, sidecar_path
from src.errors import MedtuneError
from src.paths import as_flag, keep_private
from src.tasks.eligibility.evidence import criterion_sequences
from src.tasks.eligibility.pairs import tokenize_pairs

CANARY = "QX7-CANARY-NOTE-TEXT"  # planted in every note: no cache byte may hold it
CRITERIA = f"Inclusion Criteria:\n* Age 18-75 years {CANARY}\n\nExclusion Criteria:\n* Active hepatitis B"


def canary_rows(n: int, prefix: str) -> list[dict]:
    return [
        {
            "id": f"{prefix}{i}",
            "text": f"{NOTES[i % len(NOTES)][0]} {CANARY}",
            "codes": NOTES[i % len(NOTES)][1],
        }
        for i in range(n)
    ]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def coding_run(tmp_path_factory, tiny_bert) -> Path:
    """A tiny coding run (W&B offline, checkpoint kept) started with umask 022, as a shell
    usually has: what it writes is owner-only only if medtune makes it so."""
    tmp = tmp_path_factory.mktemp("cache")
    train = write_jsonl(tmp / "train.jsonl", canary_rows(40, "t"))
    evaluation = write_jsonl(tmp / "eval.jsonl", canary_rows(16, "e"))
    env = {k: v for k, v in os.environ.items() if k != "MEDTUNE_PRIVATE"}
    env.update(MEDTUNE_CACHE_DIR=str(tmp / "cache"), WANDB_MODE="offline")
    for var in ("WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        env[var] = str(tmp / "_wandb_home")
    overrides = [
        *(f"data.path={train}", f"data.eval_path={evaluation}", "data.train_size=null"),
        *(f"model.name_or_path={tiny_bert}", "model.max_length=32", "trainer.max_epochs=1"),
        *("callbacks.checkpoint.keep=true", f"hydra.run.dir={tmp / 'run'}"),
    ]
    result = subprocess.run(
        [sys.executable, "-m", "src.train", *overrides],
        cwd=ROOT,
        env=env,
        umask=0o022,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp


def test_tokenization_cache_holds_token_ids_but_no_text(coding_run):
    assert CANARY.encode() in (coding_run / "train.jsonl").read_bytes()  # the scan below can fail
    caches = sorted((coding_run / "cache" / "tokenized").glob("*.arrow"))
    assert len(caches) == 3  # train, val and eval splits
    for cache in caches:
        assert CANARY.encode() not in cache.read_bytes(), cache
        assert set(Dataset.from_file(str(cache)).column_names) == {"id", "codes", "chunks", "n_chunks_total"}


def test_every_file_of_the_run_and_the_cache_is_owner_only(coding_run):
    run_dir = coding_run / "run"
    assert (run_dir / "wandb").is_dir() and (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / ".hydra" / "config.yaml").is_file() and (run_dir / "adapter").is_dir()
    found = [run_dir, coding_run / "cache", *(run_dir.rglob("*")), *(coding_run / "cache").rglob("*")]
    modes = {path: stat.S_IMODE(path.lstat().st_mode) for path in found if not path.is_symlink()}
    wrong = {str(p): oct(m) for p, m in modes.items() if m != (0o700 if p.is_dir() else 0o600)}
    assert not wrong
    assert len(modes) > 30  # hydra files, adapter, checkpoint, W&B, caches and sidecars


def test_list_names_each_entry_with_the_fingerprint_of_its_data(coding_run, capsys):
    cache_main(["list", "--cache-dir", str(coding_run / "cache")])
    out = capsys.readouterr().out
    for cache in (coding_run / "cache" / "tokenized").glob("*.arrow"):
        (line,) = [line for line in out.splitlines() if cache.name in line]
        assert f"train train.jsonl (sha256 {sha256(coding_run / 'train.jsonl')[:12]})" in line
        assert f"eval eval.jsonl (sha256 {sha256(coding_run / 'eval.jsonl')[:12]})" in line
    assert "holds 3 entries" in out


def test_eligibility_caches_hold_no_criteria_or_record_text(tmp_path, tiny_bert):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    rows = Dataset.from_list(
        [
            {
                "criteria": CRITERIA,
                "patient": f"Labs:\n- eGFR 66 {CANARY}\nAge 40",
                "label": True,
                "criteria_met": None,
            }
            for _ in range(3)
        ]
    )
    pairs, _ = tokenize_pairs(rows, tokenizer, ("criteria", "patient"), 64, "only_second", tmp_path, "fp", {})
    assert set(pairs.column_names) == {"label", "criteria_met", "chunks", "n_tokens_total", "cut_both_sides"}

    def embed(texts: list[str]) -> torch.Tensor:
        return torch.nn.functional.normalize(torch.randn(len(texts), 8), dim=-1)

    criteria, _ = criterion_sequences(rows, tokenizer, embed, 2, 64, True, tmp_path, ["fp"], {})
    assert {"criteria", "patient"}.isdisjoint(criteria.column_names)
    caches = list((tmp_path / "tokenized").glob("*.arrow"))
    assert len(caches) == 2
    assert all(CANARY.encode() not in cache.read_bytes() for cache in caches)


def test_a_kept_base_result_names_its_data_files(tmp_path, capsys):
    class Generative:  # the calls base_once makes of a task
        def base_dependencies(self) -> dict:
            return {}

        def evaluate_base(self, data) -> dict:
            return {"rouge_l": 0.5}

        def base_state(self) -> dict:
            return {"outputs": ["a generated summary"]}

    train = write_jsonl(tmp_path / "train.jsonl", canary_rows(4, "t"))
    rows = SimpleNamespace(val=canary_rows(1, "v"), eval=canary_rows(2, "e"), files={"train": str(train)})
    store = tmp_path / "cache" / "base"
    evaluate_base(Generative(), compose_config(), SimpleNamespace(rows=rows), store)
    cache_main(["list", "--cache-dir", str(tmp_path / "cache")])
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("base/")]
    assert f"from train train.jsonl (sha256 {sha256(train)[:12]})" in line


@pytest.fixture
def cache_dir(tmp_path) -> tuple[Path, Path, Path]:
    """A cache with entries of two data files a and b: tokenized (a), tokenized (b), a base
    result of a with its lock, and a synthetic folder."""
    a = write_jsonl(tmp_path / "a.jsonl", canary_rows(2, "a"))
    b = write_jsonl(tmp_path / "b.jsonl", canary_rows(3, "b"))
    cache = tmp_path / "cache"
    for entry, files in (
        ("tokenized/chunks-aaa.arrow", {"train": a}),
        ("tokenized/chunks-bbb.arrow", {"train": b, "eval": a.with_name("gone.jsonl")}),
        ("base/key1.json", {"train": a, "eval": b}),
    ):
        (cache / entry).parent.mkdir(parents=True, exist_ok=True)
        (cache / entry).write_bytes(b"x" * 100)
        record_sources(cache / entry, {role: str(path) for role, path in files.items()})
    (cache / "base" / "key1.json.lock").touch()
    (cache / "synthetic" / "coding-v3").mkdir(parents=True)
    (cache / "synthetic" / "coding-v3" / "train.jsonl").write_bytes(b"y" * 50)
    record_sources(
        cache / "synthetic" / "coding-v3", {}, generator="coding", version="3", seed=0, n_train=1, n_eval=1
    )
    return cache, a, b


def names(cache: Path) -> set[str]:
    return {
        str(p.relative_to(cache))
        for kind in ("tokenized", "base", "synthetic")
        for p in (cache / kind).iterdir()
    }


def test_purge_by_data_file_removes_only_its_entries(cache_dir, capsys):
    cache, a, b = cache_dir
    cache_main(["purge", "--data", str(b), "--cache-dir", str(cache)])
    out = capsys.readouterr().out
    assert names(cache) == {"tokenized/chunks-aaa.arrow", "synthetic/coding-v3"}
    assert "removed tokenized/chunks-bbb.arrow" in out and "removed base/key1.json" in out
    assert not sidecar_path(cache / "base" / "key1.json").exists()  # sidecar and lock go with it
    assert sidecar_path(cache / "tokenized" / "chunks-aaa.arrow").exists()
    cache_main(["purge", "--data", str(a), "--cache-dir", str(cache)])
    assert names(cache) == {"synthetic/coding-v3"}  # generated data derives from no file


def test_extracts_and_description_embeddings_are_listed_and_purged_with_their_data(cache_dir, capsys):
    cache, a, _ = cache_dir
    for entry, files in (("extracts/ex1.json", {"train": str(a)}), ("descriptions/d1.npy", {})):
        (cache / entry).parent.mkdir(parents=True, exist_ok=True)
        (cache / entry).write_bytes(b"z" * 10)
        record_sources(cache / entry, files)
    cache_main(["list", "--cache-dir", str(cache)])
    out = capsys.readouterr().out
    assert "extracts/ex1.json" in out and "descriptions/d1.npy" in out
    cache_main(["purge", "--data", str(a), "--cache-dir", str(cache)])
    assert not (cache / "extracts" / "ex1.json").exists()  # quotes a's notes: goes with a
    assert (cache / "descriptions" / "d1.npy").exists()  # derives from no data file


def test_purge_older_than_respects_ages(cache_dir, capsys):
    cache, _, _ = cache_dir
    old = time.time() - 10 * 86400
    for entry in ("tokenized/chunks-bbb.arrow", "synthetic/coding-v3"):
        os.utime(cache / entry, (old, old))
    cache_main(["list", "--older-than", "9.5", "--cache-dir", str(cache)])
    listed = capsys.readouterr().out
    assert "chunks-bbb" in listed and "coding-v3" in listed and "chunks-aaa" not in listed
    assert "generated: coding v3, seed 0" in listed
    cache_main(["purge", "--older-than", "11", "--cache-dir", str(cache)])
    assert len(names(cache)) == 5
    cache_main(["purge", "--older-than", "9", "--cache-dir", str(cache)])
    assert names(cache) == {"tokenized/chunks-aaa.arrow", "base/key1.json", "base/key1.json.lock"}
    cache_main(["purge", "--cache-dir", str(cache)])
    assert names(cache) == set() and not list((cache / ".sources").rglob("*.json"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["purge", "--older-than", "-1"], "argument --older-than: '-1' is not a number of days"),
        (["purge", "--older-than", "soon"], "give one like --older-than 30"),
        (["purge", "--data", "missing.jsonl"], "--data missing.jsonl: no such file"),
        (["prune"], "invalid choice: 'prune'"),
        (
            ["list", "--cache-dir", "no/such/dir"],
            "cache dir no/such/dir does not exist; give the cache's folder",
        ),
    ],
)
def test_bad_arguments_name_the_flag_and_the_fix(args, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        cache_main(args)
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


def test_privacy_setting_is_a_clear_flag_and_closes_an_older_cache_dir(tmp_path):
    assert as_flag("false", "paths.private") is False and as_flag(True, "paths.private") is True
    with pytest.raises(MedtuneError, match="paths.private='maybe': set it to true"):
        as_flag("maybe", "paths.private")
    older = tmp_path / "cache"
    older.mkdir(mode=0o755)
    older.chmod(0o755)
    before = os.umask(0o022)
    try:
        keep_private(False, older)
        assert stat.S_IMODE(older.stat().st_mode) == 0o755 and os.umask(0o022) == 0o022
        keep_private(True, older)
        assert stat.S_IMODE(older.stat().st_mode) == 0o700 and os.umask(0o022) == 0o077
    finally:
        os.umask(before)
