"""What every task provides to the training loop. Tasks know nothing about Lightning."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from omegaconf import DictConfig

from src.data.synthetic import SyntheticSource
from src.errors import MedtuneError
from src.metrics import metric_delta
from src.model_card import CardText
from src.ranks import local_rank


@dataclass(frozen=True)
class TaskPackage:
    """What a task's package declares once for all its classes (each names it as `package`)."""

    task_schema: type  # its schema.py classes: src/config.py checks the task and data configs
    data_schema: type
    embedded: SyntheticSource | None = None  # the data read when data.path is empty


class Task(ABC):
    """One clinical task: its data, model head, loss, decision rule and metrics."""

    package: ClassVar[TaskPackage]

    def __init__(self, cfg: DictConfig):
        self.cfg = cfg
        self.rows: Any = None  # what check_data read: .train, .val, .eval, .files, .stats
        # The tuned model's metrics on the validation slice, set by evaluate_tuned: what a
        # hyperparameter search may select on without looking at the evaluation split.
        self.validation: dict[str, float] = {}

    @property
    def device(self) -> torch.device:
        """Where evaluation runs: the GPU when the trainer config asks for one and it exists (each
        process of a multi-GPU run its own)."""
        wants_gpu = self.cfg.trainer.accelerator in ("gpu", "cuda", "auto")
        if wants_gpu and torch.cuda.is_available():
            return torch.device("cuda", local_rank())
        return torch.device("cpu")

    @classmethod
    def class_path(cls) -> str:
        """The dotted path conf/task/<name>.yaml names this class by."""
        return f"{cls.__module__}.{cls.__qualname__}"

    def synthetic(self) -> SyntheticSource | None:
        """The embedded data read when data.path is empty (python -m src.generate writes it);
        None: the task embeds none."""
        return self.package.embedded

    @abstractmethod
    def check_data(self) -> None:
        """Reads and validates the data files into self.rows (MedtuneError on a problem), before
        any heavy work; the embedded data is generated here on first use."""

    @abstractmethod
    def load_data(self) -> Any:
        """Reads, validates, splits and tokenizes the data; returns the task's data bundle."""

    @abstractmethod
    def evaluate_base(self, data: Any) -> dict[str, float]:
        """Scores the untuned base model on the evaluation split (the zero-shot reference)."""

    @abstractmethod
    def base_state(self) -> dict:
        """What evaluate_base leaves for the later stages, as JSON: a sweep's other jobs reuse it."""

    @abstractmethod
    def restore_base(self, state: dict) -> None:
        """Takes back a base_state instead of evaluating the base model again."""

    def base_cache_dir(self) -> Path | None:
        """Where base results are kept for later runs (keyed by what they depend on, base_once.py);
        None: evaluated in every run (a sweep's jobs still share one)."""
        return None

    def base_dependencies(self) -> dict:
        """What the base result depends on besides the config and the data rows (base_once.py)."""
        return {}

    def delta(self, base: dict[str, float], tuned: dict[str, float]) -> dict[str, float]:
        """tuned - base in percentage points, plus the task's relative changes."""
        return metric_delta(base, tuned)

    @abstractmethod
    def build_model(self, data: Any) -> torch.nn.Module:
        """The peft-wrapped model to train."""

    @abstractmethod
    def training_sets(self, model: torch.nn.Module, data: Any) -> tuple[Any, Any]:
        """The (train, validation) datasets the training loop batches with `collate`."""

    @abstractmethod
    def collate(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        """Batches dataset rows into model inputs (with targets)."""

    @abstractmethod
    def step(self, model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
        """(loss, outputs kept for epoch metrics) for one batch."""

    @abstractmethod
    def epoch_metrics(self, model: torch.nn.Module, outputs: list[dict]) -> dict[str, float]:
        """Validation metrics of one epoch (logged as curves), from the step outputs (and the model,
        for what steps do not give: generated text). They include the task's main metric computed
        as evaluate_tuned computes it on the validation slice: callbacks.best_epoch selects on it."""

    @abstractmethod
    def evaluate_tuned(self, model: torch.nn.Module, data: Any) -> dict[str, float]:
        """Scores the trained model on the same evaluation split as evaluate_base."""

    @abstractmethod
    def intervals(self, data: Any) -> dict:
        """95% bootstrap intervals for base, tuned and delta, from the last two evaluations."""

    @abstractmethod
    def evaluate_reference(self, data: Any) -> dict:
        """Scores the task's naive reference (no model: a rule, a constant, a copy of the input) on
        the evaluation split, after evaluate_tuned, as src.metrics.reference_block: name,
        description, metrics, tuned - reference and its paired 95% bootstrap interval."""

    def write_reports(self, data: Any, run_dir: Path) -> dict:
        """Writes the task's own reports on the tuned model's evaluation outputs into run_dir, after
        evaluate_tuned (the manifest seals them with the other run files); returns what metrics.json
        adds of them, by key (empty: the task writes none)."""
        return {}

    @abstractmethod
    def lineage(self, data: Any) -> dict:
        """What the manifest records about the data: files, splits (rows with ids), labels,
        label_counts per split. Never text."""

    @abstractmethod
    def examples(self, data: Any, n: int) -> list[dict]:
        """The first n evaluation examples with gold, base and tuned outputs, text included:
        logged only when the user opts in (logger.log_examples=true)."""

    @abstractmethod
    def save_adapter(self, model: torch.nn.Module, data: Any, out_dir: Path) -> None:
        """Writes the adapter and what is needed to use it (label space, decision rule)."""

    def card(self, manifest: dict) -> CardText:
        """What MODEL_CARD.md says about this task: intended use, limitations, how to use it."""
        return CardText()

    @classmethod
    def read_meta(cls, path: Path) -> dict:
        """The settings src.predict / src.export need from a run dir or an export; loads no weights."""
        raise MedtuneError(
            f"run={path} holds a {cls.__name__} adapter, which src.predict and src.export do not serve "
            "yet; load it with plain peft (README: Where results land)"
        )

    @classmethod
    def load_predictor(cls, path: Path, device: torch.device) -> Any:
        """The trained model of a run dir or an export, ready to score new inputs (src.inference)."""
        cls.read_meta(path)
        raise NotImplementedError  # read_meta refused; a serving task overrides both

    @classmethod
    def load_predictors(cls, paths: dict[str, Path], device: torch.device) -> dict[str, Any]:
        """Predictors by name for several runs of this task served together (src.serve); each on
        its own here, a task whose runs can share one base model overrides it."""
        return {name: cls.load_predictor(path, device) for name, path in paths.items()}

    # -- scoring outputs made elsewhere (src.evaluate) ---------------------------------------------
    # An output is what the task's metrics take per evaluation row (a code list, a summary...);
    # a task that implements these three can have a hosted model's predictions scored beside its own.
    no_answer = "no answer"  # how src.evaluate scores a row without a line (its report says so)

    def prediction_output(self, record: dict | None, where: str) -> Any:
        """The output in one src.predict line (MedtuneError naming `where` and the field when it
        is malformed); None: the row has no line, scored as `no_answer` says."""
        raise MedtuneError(
            f"task={self.cfg.task.name}: src.evaluate does not score {type(self).__name__} predictions "
            "yet; score them with the task's metrics by hand (README: Hosted fine-tune interop)"
        )

    def score(self, rows: list[dict], outputs: list) -> dict[str, float]:
        """The metrics of evaluate_tuned for `outputs`, one per row (prediction_output's form)."""
        raise NotImplementedError  # prediction_output refused first

    def score_intervals(self, rows: list[dict], base: list, tuned: list) -> dict:
        """95% bootstrap intervals for base, tuned and tuned - base, paired over rows (as `intervals`)."""
        raise NotImplementedError  # prediction_output refused first
