"""Every option of every config group composes with every task and passes the schemas, and every
default lives in conf/ only: a broken YAML or a second copy of a default fails here, without training."""

from __future__ import annotations

import dataclasses
import typing

import pytest
from conftest import ROOT, compose_config
from omegaconf import MISSING, OmegaConf

from src.config import compose_config as compose_raw
from src.config import schema_for
from src.schemas import MedtuneConfig

CONF = ROOT / "conf"
TASKS = sorted(path.stem for path in (CONF / "task").glob("*.yaml"))
# Groups whose option is picked per run; data follows the task (conf/config.yaml: data: ${task}).
GROUPS = sorted(
    path.name for path in CONF.iterdir() if path.is_dir() and path.name not in ("hydra", "task", "data")
)


def options(group: str) -> list[str]:
    """A group's selectable options: files starting with _ are bases other options build on."""
    return sorted(path.stem for path in (CONF / group).glob("*.yaml") if not path.name.startswith("_"))


CASES = [(task, group, option) for task in TASKS for group in GROUPS for option in options(group)]


@pytest.fixture(autouse=True)
def sagemaker_env(monkeypatch, tmp_path):
    """paths=sagemaker reads the channel folders SageMaker sets."""
    for name in ("SM_CHANNEL_TRAIN", "SM_CHANNEL_EVAL", "SM_MODEL_DIR"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))


@pytest.mark.parametrize("task, group, option", CASES, ids=[f"{t}-{g}={o}" for t, g, o in CASES])
def test_every_option_composes_with_every_task(task, group, option):
    # callbacks: the checkpoint and the best epoch are in every composition; the others are
    # added (+callbacks=...)
    override = f"+{group}={option}" if group == "callbacks" else f"{group}={option}"
    always = {("callbacks", "checkpoint"), ("callbacks", "best_epoch")}
    cfg = compose_config(f"task={task}", *([override] if (group, option) not in always else []))
    assert cfg.task.name == task
    assert OmegaConf.missing_keys(cfg) == set()


@pytest.mark.parametrize("task", TASKS)
def test_every_data_config_key_and_task_key_has_a_schema_field(task):
    """validate would reject an unknown key anyway; this says which file holds it."""
    raw = compose_raw([f"task={task}"])
    schema = schema_for(raw)
    for group in ("task", "data"):
        fields = {f.name for f in dataclasses.fields(OmegaConf.get_type(schema[group]))}
        stray = set(raw[group]) - fields
        assert not stray, f"conf/{group}/{task}.yaml keys without a schema field: {sorted(stray)}"


def _schemas(cls: type) -> list[type]:
    """cls and every schema dataclass nested in it."""
    found = [cls]
    for item in dataclasses.fields(cls):
        hint = typing.get_type_hints(cls)[item.name]
        if dataclasses.is_dataclass(hint):
            found += _schemas(hint)
    return found


def test_schemas_hold_no_defaults():
    """Every default lives in conf/: a schema field may only be required (MISSING) or a nested schema."""
    task_schemas = {
        OmegaConf.get_type(schema_for(compose_raw([f"task={task}"]))[group])
        for task in TASKS
        for group in ("task", "data")
    }
    schemas = {s for cls in (MedtuneConfig, *task_schemas) for s in _schemas(cls)}
    with_defaults = [
        f"{schema.__name__}.{item.name} = {item.default!r}"
        for schema in schemas
        for item in dataclasses.fields(schema)
        if item.default is not dataclasses.MISSING and item.default != MISSING
    ]
    assert not with_defaults, "schema defaults (move them to conf/): " + ", ".join(sorted(with_defaults))
