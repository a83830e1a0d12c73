"""No note text anywhere a run writes: every task, a sweep, an HPO study, predict and export.

Each input field carries its own made-up name (a canary). Every command is a real subprocess with
its own cache, W&B, Hugging Face and temp folders under one root, and afterwards every byte of
every file under that root (but its input data) and its console output are scanned for each
canary, case-insensitively: an uncased tokenizer decodes text in lower case. The opt-in
(logger.log_examples=true) shows the scan finds text where the user allowed it. The canaries'
token ids may be kept by the tokenization cache only.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, coding_rows, write_jsonl
from datasets import Dataset
from transformers import AutoTokenizer

# One canary per field, so that a leak names the field it came from.
CANARIES = {
    "coding train note": "Zebulon Quarrington",
    "coding eval note": "Ottoline Vashkevich",
    "patient record": "Leopold Ashcombe",
    "criterion": "Cressida Fenwhistle",
    "report": "Barnaby Thistlewood",
    "reference summary": "Perpetua Oakenshott",
    "note to code": "Philippa Grimsditch",
}
ONE_EPOCH = ("trainer.max_epochs=1", "data.train_size=null")


@dataclass
class Scenario:
    """What one scenario's commands printed and wrote: everything under root but root/data."""

    root: Path
    console: str = ""
    outputs: list[Path] = field(default_factory=list)  # medtune's own: run, sweep, cache, exports
    opt_in: tuple[Path, ...] = ()  # where the user asked for note text to go
    tokenized: tuple[str, ...] = ()  # canaries whose token ids the cache must hold
    seconds: float = 0.0

    def __post_init__(self) -> None:
        (self.root / "tmp").mkdir(mode=0o700, parents=True)
        (self.root / "data").mkdir()
        wandb_home = str(self.root / "wandb_home")  # W&B's caches and staged artifacts
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "MEDTUNE_PRIVATE"},  # the default: private
            **dict.fromkeys(("WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"), wandb_home),
            "WANDB_ARTIFACT_DIR": f"{wandb_home}/artifacts",
            "WANDB_DIR": str(self.root / "wandb_dir"),
            "HF_HOME": str(self.root / "hf_home"),
            "TMPDIR": str(self.root / "tmp"),
            "MEDTUNE_CACHE_DIR": str(self.root / "cache"),
        }

    def command(self, module: str, *argv: str) -> None:
        result = subprocess.run(
            [sys.executable, "-m", module, *argv],
            cwd=ROOT,
            env=self.env,
            umask=0o022,  # as a shell usually has: owner-only only if medtune makes it so
            capture_output=True,
            text=True,
            timeout=600,
        )
        self.console += result.stdout + result.stderr
        assert result.returncode == 0, f"{module} {argv}: {result.stderr[-3000:]}"

    def train(self, files: Callable[[Path], tuple[str, str]], *overrides: str) -> Path:
        run_dir = self.root / "run"
        self.command(
            "src.train", f"hydra.run.dir={run_dir}", *files(self.root / "data"), *ONE_EPOCH, *overrides
        )
        self.outputs += [run_dir, self.root / "cache"]
        return run_dir

    def files(self) -> list[Path]:
        found = (p for p in self.root.rglob("*") if p.is_file() and not p.is_symlink())
        return [p for p in found if p.relative_to(self.root).parts[0] != "data"]


# -- inputs --------------------------------------------------------------------------------------
def coding_files(data: Path) -> tuple[str, str]:
    plant = {"t": CANARIES["coding train note"], "e": CANARIES["coding eval note"]}
    paths = {
        prefix: write_jsonl(
            data / f"{prefix}.jsonl",
            [{**row, "text": f"{row['text']} Seen by {plant[prefix]}."} for row in coding_rows(n, prefix)],
        )
        for prefix, n in (("t", 24), ("e", 8))
    }
    return f"data.path={paths['t']}", f"data.eval_path={paths['e']}"


def eligibility_files(data: Path) -> tuple[str, str]:
    criteria = (
        f"Inclusion Criteria:\n* Age 18-75 years\n* Referred by {CANARIES['criterion']}\n\n"
        "Exclusion Criteria:\n* Active hepatitis B"
    )

    def rows(n: int, prefix: str) -> list[dict]:
        return [
            {
                "id": f"{prefix}{i}",
                "patient": f"{30 + i} y/o F, {CANARIES['patient record']}.\nLabs:\n- eGFR {60 + i} mL/min",
                "criteria": criteria,
                "label": "eligible" if i % 2 else "excluded",
            }
            for i in range(n)
        ]

    train = write_jsonl(data / "train.jsonl", rows(24, "t"))
    return f"data.path={train}", f"data.eval_path={write_jsonl(data / 'eval.jsonl', rows(8, 'e'))}"


def summary_files(data: Path) -> tuple[str, str]:
    def rows(n: int, prefix: str) -> list[dict]:
        return [
            {
                "id": f"{prefix}{i}",
                "text": f"FINDINGS: Left pleural effusion, {i + 5} mm. Read by {CANARIES['report']}.",
                "summary": f"1. Left pleural effusion, {i + 5} mm.\n2. Per {CANARIES['reference summary']}.",
            }
            for i in range(n)
        ]

    train = write_jsonl(data / "train.jsonl", rows(16, "t"))
    return f"data.path={train}", f"data.eval_path={write_jsonl(data / 'eval.jsonl', rows(6, 'e'))}"


# -- scenarios -----------------------------------------------------------------------------------
def coding(s: Scenario, bert: Path) -> None:
    """A classifier run (W&B offline), then src.predict and src.export on it."""
    run_dir = s.train(coding_files, f"model.name_or_path={bert}", "model.max_length=32")
    notes = write_jsonl(s.root / "data" / "notes.jsonl", [{"id": "p0", "text": CANARIES["note to code"]}])
    s.command("src.predict", f"run={run_dir}", f"input={notes}", f"output={s.root / 'predicted.jsonl'}")
    s.command("src.export", f"run={run_dir}", f"out={s.root / 'export'}")
    s.outputs += [s.root / "predicted.jsonl", s.root / "export"]
    s.tokenized = ("coding train note", "coding eval note")


def opt_in(s: Scenario, bert: Path) -> None:
    run_dir = s.train(
        coding_files, f"model.name_or_path={bert}", "model.max_length=32", "logger.log_examples=true"
    )
    # The W&B run, and W&B's staged copy of its examples table, kept there until `wandb sync`.
    s.opt_in = (run_dir / "wandb", s.root / "wandb_home" / "artifacts" / "staging")


def eligibility(s: Scenario, bert: Path) -> None:
    s.train(
        eligibility_files,
        "task=eligibility",
        f"model.name_or_path={bert}",
        "task.max_length=64",
        "data.val_size=8",
    )
    s.tokenized = ("patient record", "criterion")


def summary(s: Scenario, bert: Path) -> None:
    s.train(
        summary_files,
        *("task=summarize_radiology", "model=tiny_t5", "model.max_length=64"),
        *("task.max_target_length=24", "task.max_new_tokens=8"),
    )


def generative_coding(s: Scenario, bert: Path) -> None:
    s.train(coding_files, "task=coding", "model=tiny_llama", "model.max_length=64", "task.max_new_tokens=8")


def sweep(s: Scenario, bert: Path) -> None:
    """Two jobs in one sweep: their run dirs and the base result they share, <sweep>/base."""
    sweep_dir = s.root / "sweep"
    files = coding_files(s.root / "data")
    model = (f"model.name_or_path={bert}", "model.max_length=32")
    s.command(
        "src.train",
        "-m",
        f"hydra.sweep.dir={sweep_dir}",
        *files,
        *model,
        "trainer.max_epochs=1",
        "data.train_size=null",  # src.report then reads each job's size from its data stats
        "lora.r=4,8",
    )
    s.command("src.report", str(sweep_dir))
    s.outputs += [sweep_dir, s.root / "cache"]


def hpo(s: Scenario, bert: Path) -> None:
    """One Optuna trial with the study in an SQLite database."""
    sweep_dir = s.root / "hpo"
    files = coding_files(s.root / "data")
    storage = f"hydra.sweeper.storage=sqlite:///{s.root / 'study.db'}"
    model = (f"model.name_or_path={bert}", "model.max_length=32", "hydra.sweeper.n_trials=1")
    s.command(
        "src.train",
        "-m",
        "experiment=hpo",
        f"hydra.sweep.dir={sweep_dir}",
        storage,
        *files,
        *model,
        *ONE_EPOCH,
    )
    s.outputs += [sweep_dir, s.root / "cache"]


SCENARIOS = {f.__name__: f for f in (coding, opt_in, eligibility, summary, generative_coding, sweep, hpo)}


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory, tiny_bert) -> dict[str, Scenario]:
    def play(name: str) -> Scenario:
        start = time.perf_counter()
        s = Scenario(tmp_path_factory.mktemp(name))
        SCENARIOS[name](s, tiny_bert)
        s.seconds = time.perf_counter() - start
        return s

    with ThreadPoolExecutor(max_workers=2) as pool:  # two commands at a time: most of each is start-up
        played = dict(zip(SCENARIOS, pool.map(play, SCENARIOS), strict=True))
    print("seconds per scenario:", {name: round(s.seconds) for name, s in played.items()})  # with -s
    return played


# -- scans ---------------------------------------------------------------------------------------
def canaries_in(blob: bytes) -> list[str]:
    lowered = blob.lower()
    return [name for name, canary in CANARIES.items() if canary.lower().encode() in lowered]


@pytest.mark.parametrize("name", SCENARIOS)
def test_no_canary_anywhere_but_the_opt_in(scenarios, name):
    s = scenarios[name]
    files = s.files()
    assert len(files) > 10 and s.console  # something was written and printed
    outside = [p for p in files if not any(where in p.parents for where in s.opt_in)]
    leaks = {str(p.relative_to(s.root)): found for p in outside if (found := canaries_in(p.read_bytes()))}
    assert not leaks
    assert not canaries_in(s.console.encode())


def test_the_opt_in_puts_the_evaluation_notes_in_the_wandb_run_only(scenarios):
    s = scenarios["opt_in"]
    opted = [p for p in s.files() if any(where in p.parents for where in s.opt_in)]
    assert any(canaries_in(p.read_bytes()) for p in opted if "wandb_home" not in p.parts)  # the run's own
    found = {name for p in opted for name in canaries_in(p.read_bytes())}
    assert found == {"coding eval note"}  # an examples table of evaluation notes, never training notes


def token_ids(tiny_bert: Path, name: str) -> list[int]:
    return AutoTokenizer.from_pretrained(tiny_bert)(CANARIES[name], add_special_tokens=False)["input_ids"]


def holds(values, ids: list[int]) -> bool:
    """Whether a (nested) list of ints holds ids as a contiguous run."""
    if not isinstance(values, list):
        return False
    if values and isinstance(values[0], int):
        n = len(ids)
        return any(values[i : i + n] == ids for i in range(len(values) - n + 1))
    return any(holds(v, ids) for v in values)


def as_raw_bytes(ids: list[int]) -> tuple[bytes, bytes]:
    return np.array(ids, "<i4").tobytes(), np.array(ids, "<i8").tobytes()


@pytest.mark.parametrize("name", SCENARIOS)
def test_token_ids_only_in_the_cache(scenarios, tiny_bert, name):
    s = scenarios[name]
    arrow = sorted((s.root / "cache").rglob("*.arrow"))
    for canary in s.tokenized:  # the cache holds them (so the searches below can find them)...
        ids = token_ids(tiny_bert, canary)
        assert any(
            holds(column, ids) for p in arrow for column in Dataset.from_file(str(p)).to_dict().values()
        )
        assert any(any(raw in p.read_bytes() for raw in as_raw_bytes(ids)) for p in arrow)
    cache = s.root / "cache"
    for canary in CANARIES:  # ...and nothing else does, as int32 or int64
        raw = as_raw_bytes(token_ids(tiny_bert, canary))
        leaks = [p for p in s.files() if cache not in p.parents and any(r in p.read_bytes() for r in raw)]
        assert not leaks, canary


@pytest.mark.parametrize("name", SCENARIOS)
def test_what_medtune_writes_is_owner_only(scenarios, name):
    s = scenarios[name]
    found = [p for out in s.outputs for p in (out, *out.rglob("*")) if not p.is_symlink()]
    wrong = {
        str(p): oct(stat.S_IMODE(p.stat().st_mode))
        for p in found
        if stat.S_IMODE(p.stat().st_mode) != (0o700 if p.is_dir() else 0o600)
    }
    assert not wrong
    assert any(p.suffix == ".arrow" for p in found) or name in ("summary", "generative_coding")
