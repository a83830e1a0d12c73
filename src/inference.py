"""Using a trained adapter: find the task class that trained a run dir or an export, and let
it load its predictor (Task.read_meta, Task.load_predictor; a task that serves none says so).

A run dir (python -m src.train) holds adapter/medtune.json and an export (python -m src.export)
medtune.json; both name the task class ("task_class") whose package knows how to load them.
Every task's predictor has the shape of `Predictor` below, so src.predict, src.serve, src.export
and src.evaluate never need to know which task they hold.
"""

from __future__ import annotations

import json
import logging
from dataclasses import fields
from pathlib import Path
from typing import Protocol

import torch
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from safetensors.torch import save_file

from src.data.chunking import tokenizer_versions
from src.errors import MedtuneError

log = logging.getLogger(__name__)

META_FILE = "medtune.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"  # peft's file name; the only adapter format loaded


class Predictor(Protocol):
    """A trained model ready for new inputs, as every task's load_predictor returns it.

    meta["data"]["columns"] maps each input field the task reads (coding and summaries: "text";
    eligibility: "patient" and "criteria") to its column in the run's data files, and
    meta["data"]["id_column"] names the id column; src.predict lets the user rename both.
    """

    meta: dict  # the run's or export's medtune.json, completed with what prediction needs
    device: torch.device

    def predictions(
        self, inputs: list[dict[str, str]], batch_size: int = 32, progress: bool = False
    ) -> list[dict]:
        """One JSON-ready prediction per input (a dict of field -> text), in input order, by the
        decision rule tuned at training; never echoes the input text."""
        ...

    def save(self, out: Path, exported_from: Path) -> None:
        """Writes the standalone model of python -m src.export into the empty dir `out`."""
        ...


def trained_by(path: Path) -> type:
    """The task class recorded in the medtune.json of a run dir or an export."""
    if not path.is_dir():
        raise MedtuneError(
            f"run={path}: directory not found; give the run dir that python -m src.train printed "
            "('run dir: ...') or a dir written by python -m src.export"
        )
    meta_file = path / META_FILE if (path / META_FILE).is_file() else path / "adapter" / META_FILE
    if not meta_file.is_file():
        raise MedtuneError(
            f"run={path} is neither a finished training run (no adapter/{META_FILE}, which a run writes "
            f"when training ends) nor an export (no {META_FILE}); give a finished run dir or an export dir"
        )
    target = read_json(meta_file).get("task_class")
    if not target:
        raise MedtuneError(
            f"{meta_file} names no task_class (written by an older medtune); retrain the adapter, or add "
            '"task_class" with the class its run\'s conf/task file names (task._target_)'
        )
    try:
        return get_class(target)
    except Exception as err:  # hydra wraps import errors in several types
        raise MedtuneError(f"{meta_file}: task_class={target!r} cannot be imported: {err}") from None


def read_meta(path: Path) -> dict:
    """The settings of a run dir or an export that prediction needs; cheap, loads no weights."""
    return trained_by(path).read_meta(path)


def load_predictor(path: str | Path, device: str = "auto") -> Predictor:
    """The trained model of a run dir or an export, on `device` (auto: the GPU when there is one)."""
    path = Path(path)
    return trained_by(path).load_predictor(path, resolve_device(device))


def load_predictors(named_paths: dict[str, str | Path], device: str = "auto") -> dict[str, Predictor]:
    """Several runs or exports by name (src.serve), on one device; each task class loads its own
    runs together, so runs on one base model can share it (Task.load_predictors)."""
    paths = {name: Path(path) for name, path in named_paths.items()}
    target = resolve_device(device)
    by_task: dict[type, dict[str, Path]] = {}
    for name, path in paths.items():
        by_task.setdefault(trained_by(path), {})[name] = path
    loaded = {}
    for task, group in by_task.items():
        loaded.update(task.load_predictors(group, target))
    return {name: loaded[name] for name in paths}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise MedtuneError(f"device={name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise MedtuneError(f"device={name}: no CUDA GPU is visible here; use device=cpu")
    return device


def parse_args(schema: type, argv: list[str], usage: str) -> DictConfig:
    """key=value command-line arguments checked against a dataclass: an unknown key, a wrong
    type or a missing required key is a MedtuneError naming the key."""
    for arg in argv:
        if "=" not in arg:
            raise MedtuneError(f"arguments are key=value, got {arg!r}; usage: {usage}")
    try:
        args = OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.from_dotlist(argv))
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        known = ", ".join(f"{field.name}=" for field in fields(schema))
        raise MedtuneError(f"{key}: {str(err).splitlines()[0]} (arguments: {known})") from None
    missing = sorted(OmegaConf.missing_keys(args))
    if missing:
        raise MedtuneError(f"missing {', '.join(f'{key}=' for key in missing)}; usage: {usage}")
    return args


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise MedtuneError(f"{path} not found: the dir is incomplete; give a whole run dir or export dir")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise MedtuneError(f"{path} is not valid JSON ({err.msg}): the file was damaged") from None


def read_run(run_dir: Path, head: str | None = None) -> tuple[DictConfig, dict]:
    """(resolved config, adapter/medtune.json) of a finished run dir, after checking its adapter is
    safetensors (a .bin pickle can run code) and, for a classifier, that it saved the trained `head`."""
    adapter = run_dir / "adapter"
    if not (adapter / ADAPTER_WEIGHTS).is_file():
        raise MedtuneError(
            f"{adapter / ADAPTER_WEIGHTS} not found: only safetensors adapters are loaded "
            "(a .bin pickle can run code); re-save the adapter with peft's save_pretrained"
        )
    if head and head not in (read_json(adapter / "adapter_config.json").get("modules_to_save") or []):
        raise MedtuneError(
            f"{adapter}: the adapter holds no trained {head} head (the run's lora.modules_to_save "
            f"lacked '{head}'); retrain with lora.modules_to_save=[{head}]"
        )
    resolved = run_dir / ".hydra" / "resolved.yaml"
    if not resolved.is_file():
        raise MedtuneError(f"{resolved} not found: the run dir is incomplete; give the whole run dir")
    return OmegaConf.load(resolved), read_json(adapter / META_FILE)


def save_encoder_export(model, tokenizer, meta: dict, out: Path, exported_from: Path, head_file: str) -> None:
    """A classifier-family export without peft (python -m src.export): the merged encoder (loadable
    with transformers.AutoModel, a T5 encoder with AutoModelForTextEncoding), its tokenizer, the
    trained head in head_file and medtune.json naming the run it came from."""
    model.encoder.save_pretrained(out)  # safetensors in transformers 5
    tokenizer.save_pretrained(out)
    save_file(
        {name: tensor.contiguous() for name, tensor in model.classifier.state_dict().items()}, out / head_file
    )
    meta = {**meta, "exported_from": str(exported_from.resolve())}
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def warn_other_versions(path: Path, meta: dict, effect: str) -> None:
    """Warns when the tokenizer libraries differ from those the run was trained with (meta["versions"]):
    `effect` says what may then differ."""
    trained_with, here = meta.get("versions"), tokenizer_versions()
    if trained_with and trained_with != here:
        log.warning(
            "%s was trained with %s; this is %s: %s. Install the versions in the run's manifest for "
            "identical predictions",
            path,
            _versions_text(trained_with),
            _versions_text(here),
            effect,
        )


def _versions_text(versions: dict[str, str]) -> str:
    return ", ".join(f"{name} {version}" for name, version in sorted(versions.items()))
