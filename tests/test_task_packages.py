"""The layout of src/: one package per task, registered by its YAML alone, and layers that point one way.

The first test adds a task the way a new engineer would, as a package and two YAML files that
live outside the repository (a folder on PYTHONPATH, a Hydra search path), and trains it end to
end: if any table of task names crept back into src/, the run would fail.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path

import pytest
from conftest import ROOT, train_run

SRC = ROOT / "src"
TASKS = ("coding", "eligibility", "summarization")
ENTRY_POINTS = ("train", "predict", "export", "report", "verify", "generate", "to_openai", "evaluate")

TOY_SCHEMA = """
from dataclasses import dataclass

from omegaconf import MISSING

from src.schemas import DataConfig


@dataclass
class FeverDataConfig(DataConfig):
    text_column: str = MISSING
"""

# A complete task: notes that do or do not report a fever, the majority class as the base model,
# a one-output classifier head on the encoder as the tuned one, accuracy as the metric.
TOY_TASK = """
import json
from collections import Counter
from functools import partial
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from src.schemas import TaskConfig
from src.data.chunking import collate_chunks
from src.data.records import table_rows
from src.data.splits import split_counts, split_examples
from src.data.synthetic import SyntheticSource, data_files
from src.metrics import reference_block
from src.models import build
from src.tasks.base import Task, TaskPackage
from toy_fever.schema import FeverDataConfig


TEXTS = {True: "Fever 39.1, chills.", False: "Afebrile, well."}


def write(folder, seed, n_train, n_eval):
    for split, n in (("train", n_train), ("eval", n_eval)):
        rows = [
            {"id": f"{split}{i}", "text": TEXTS[i % 3 == 0], "fever": i % 3 == 0}
            for i in range(n)
        ]
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\\n" for r in rows))


class FeverTask(Task):
    package = TaskPackage(TaskConfig, FeverDataConfig, SyntheticSource("toy_fever", "1", write))

    def check_data(self):
        cfg = self.cfg.data
        files = data_files(self.synthetic(), cfg, self.cfg.paths.cache_dir)
        stats = Counter()

        def read(path):
            return [
                {"id": i, "text": raw[cfg.text_column], "label": bool(raw["fever"])}
                for _, i, raw in table_rows(path, cfg, ("text_column",), stats)
            ]

        pool, train, val, ev = split_examples(read(files["train"]), read(files["eval"]), files, cfg)
        self.rows = SimpleNamespace(
            train=train, val=val, eval=ev, files=files, stats=split_counts(pool, train, val, ev)
        )

    def load_data(self):
        tokenizer = build.load_tokenizer(self.cfg.model)
        self.pad = tokenizer.pad_token_id

        def encode(rows):
            return [{"chunks": [tokenizer(r["text"])["input_ids"]], "label": float(r["label"])} for r in rows]

        splits = {name: encode(getattr(self.rows, name)) for name in ("train", "val", "eval")}
        return SimpleNamespace(rows=self.rows, tokenization={"reused_cache": False}, **splits)

    def _accuracy(self, predicted, rows):
        return {"accuracy": sum(p == r["label"] for p, r in zip(predicted, rows)) / len(rows)}

    def evaluate_base(self, data):
        self.majority = sum(r["label"] for r in data.rows.train) * 2 > len(data.rows.train)
        return self._accuracy([self.majority] * len(data.rows.eval), data.rows.eval)

    def base_state(self):
        return {"majority": self.majority}

    def restore_base(self, state):
        self.majority = state["majority"]

    def build_model(self, data):
        base = build.classifier_base(build.load_encoder(self.cfg.model), 1, self.cfg.model)
        return build.wrap_with_lora(base, self.cfg.lora)

    def training_sets(self, model, data):
        return data.train, data.val

    def collate(self, rows):
        batch = collate_chunks(rows, self.pad)
        batch["labels"] = torch.tensor([r["label"] for r in rows])
        return batch

    def step(self, model, batch):
        logits = model(**batch)[:, 0]
        loss = F.binary_cross_entropy_with_logits(logits, batch["labels"])
        return loss, {"correct": ((logits > 0) == batch["labels"].bool()).float()}

    def epoch_metrics(self, model, outputs):
        return {"accuracy": float(torch.cat([o["correct"] for o in outputs]).mean())}

    def evaluate_tuned(self, model, data):
        model.eval()
        with torch.inference_mode():
            predicted = model(**self.collate(data.eval))[:, 0] > 0
        self.tuned = self._accuracy(predicted.tolist(), data.rows.eval)
        return self.tuned

    def intervals(self, data):
        return {}

    def evaluate_reference(self, data):
        metrics = self._accuracy([False] * len(data.rows.eval), data.rows.eval)
        paired = {"base": {}, "delta": {}}  # no bootstrap in a toy
        return reference_block("no fever", "every note read as afebrile", metrics, self.tuned, paired)

    def lineage(self, data):
        splits = {name: getattr(data.rows, name) for name in ("train", "val", "eval")}
        return {"files": data.rows.files, "splits": splits, "labels": [False, True], "label_counts": {}}

    def examples(self, data, n):
        return []

    def save_adapter(self, model, data, out_dir):
        model.save_pretrained(out_dir)
"""

TOY_TASK_YAML = """
_target_: toy_fever.task.FeverTask
generative_target: null
name: toy_fever
main_metric: accuracy
prompt: "{text}"
max_target_length: 8
max_new_tokens: 8
"""

TOY_DATA_YAML = """
name: synthetic_toy_fever
path: null
eval_path: null
eval_fraction: 0.2
id_column: id
text_column: text
train_size: 24
eval_size: null
val_size: null
seed: 0
subset_seed: null
synthetic:
  n_train: 40
  n_eval: 12
  eval_size: null
  val_size: 8
  seed: 0
"""


def git_status() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def test_a_new_task_is_a_package_and_two_yaml_files(tmp_path, tiny_bert, monkeypatch):
    package = tmp_path / "code" / "toy_fever"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""A toy task: does the note report a fever?"""\n')
    (package / "schema.py").write_text(textwrap.dedent(TOY_SCHEMA))
    (package / "task.py").write_text(textwrap.dedent(TOY_TASK))
    conf = tmp_path / "conf"
    for group, text in (("task", TOY_TASK_YAML), ("data", TOY_DATA_YAML)):
        (conf / group).mkdir(parents=True)
        (conf / group / "toy_fever.yaml").write_text(text)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "code"))
    before = git_status()
    metrics = train_run(
        tmp_path,
        tmp_path / "run",
        "task=toy_fever",
        f"hydra.searchpath=[file://{conf}]",
        f"model.name_or_path={tiny_bert}",
        "logger=none",
        "trainer.max_epochs=2",
        timeout=600,
    )
    assert metrics["task"] == "toy_fever" and metrics["main_metric"] == "accuracy"
    assert metrics["data"]["n_train"] == 24 and metrics["data"]["n_eval"] == 12
    assert 0.0 <= metrics["tuned"]["accuracy"] <= 1.0
    assert metrics["delta"]["accuracy"] == pytest.approx(
        100 * (metrics["tuned"]["accuracy"] - metrics["base"]["accuracy"]), abs=1e-3
    )
    assert metrics["reference"]["name"] == "no fever" and "reference_eval_s" in metrics["timing"]
    run = tmp_path / "run"
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
    assert "See the task's documentation." in (run / "MODEL_CARD.md").read_text()  # no card text of its own
    assert git_status() == before  # nothing in the repository was written or edited


STATEMENT_ENDS = (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)


def _code_tokens(path: Path):
    """NAME and STRING tokens of a module, docstrings and comments left out."""
    previous = None
    for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        statement_start = previous is None or previous.type in (
            tokenize.NEWLINE,
            tokenize.INDENT,
            tokenize.DEDENT,
        )
        if token.type == tokenize.NAME or (token.type == tokenize.STRING and not statement_start):
            yield token
        if token.type not in (tokenize.NL, tokenize.COMMENT):
            previous = token


def test_no_task_is_named_outside_its_package():
    names = re.compile(r"(?<![a-z])coding|eligibility|summariz", re.IGNORECASE)
    found = []
    for path in sorted(SRC.rglob("*.py")):
        inside = path.relative_to(SRC).parts
        if len(inside) > 2 and inside[0] == "tasks" and inside[1] in TASKS:
            continue
        found += [
            f"{path.relative_to(ROOT)}:{t.start[0]} {t.string[:60]}"
            for t in _code_tokens(path)
            if names.search(t.string)
        ]
    assert not found, "task names outside their package:\n" + "\n".join(found)


def _runtime_imports(path: Path) -> set[str]:
    """Modules a file imports when it runs (imports under `if TYPE_CHECKING:` left out)."""
    tree = ast.parse(path.read_text())
    skipped = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test).endswith("TYPE_CHECKING")
        for node in ast.walk(block)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name.startswith("src")}


def _layer(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


@pytest.mark.parametrize(
    "lower, higher",
    [
        ("src.training", "src.tasks"),
        ("src.tasks", "src.training"),
        ("src.data", "src.tasks"),
        ("src.data", "src.training"),
        ("src.data", "src.metrics"),
        ("src.models", "src.tasks"),
        ("src.models", "src.training"),
        ("src.tasks.base", "src.tasks.coding"),
    ],
)
def test_layers_point_one_way(lower, higher):
    offenders = [
        f"{_layer(path)} imports {name}"
        for path in SRC.rglob("*.py")
        if _layer(path).startswith(lower)
        for name in _runtime_imports(path)
        if name == higher or name.startswith(higher + ".")
    ]
    assert not offenders, "\n".join(offenders)


def test_only_entry_points_import_entry_points():
    entry = {f"src.{name}" for name in ENTRY_POINTS}
    offenders = [
        f"{_layer(path)} imports {name}"
        for path in SRC.rglob("*.py")
        if _layer(path) not in entry
        for name in _runtime_imports(path)
        if name in entry
    ]
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_entry_points_stay_where_python_m_finds_them(entry):
    assert (SRC / f"{entry}.py").is_file()
    done = subprocess.run(
        [sys.executable, "-c", f"import importlib.util; assert importlib.util.find_spec('src.{entry}')"],
        cwd=ROOT,
    )
    assert done.returncode == 0


def test_modules_stay_small_except_data_catalogues():
    """A reader finds a concept in a module of one job; only tables (catalogue*.py) run long."""
    long = [
        f"{path.relative_to(ROOT)}: {n} lines"
        for path in SRC.rglob("*.py")
        if not path.name.startswith("catalogue") and (n := len(path.read_text().splitlines())) > 400
    ]
    assert not long, "\n".join(long)
