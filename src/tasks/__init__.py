"""Clinical tasks, one package each (coding/, eligibility/, summarization/): nothing outside a
task's package names it. conf/task/<name>.yaml registers a task by naming its classes:
task._target_ for the classifier family, task.generative_target for causal_lm / seq2seq."""

from __future__ import annotations

from hydra.utils import get_class
from omegaconf import DictConfig

from src.errors import MedtuneError
from src.tasks.base import Task

GENERATIVE_MODELS = (
    "a generative model: model=minilm_seq2seq (embedded), model=tiny_llama (random, a smoke test), "
    "or a causal_lm / seq2seq checkpoint such as model=qwen2_5_1_5b or model=flan_t5_base"
)


def _import(key: str, target: str) -> type[Task]:
    try:
        cls = get_class(target)
    except Exception as err:  # hydra wraps import errors in several types
        raise MedtuneError(f"task.{key}={target!r} cannot be imported: {err}") from None
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise MedtuneError(f"task.{key}={target!r} is not a Task subclass (src/tasks/base.py)")
    return cls


def task_class(task_cfg: DictConfig, family: str | None = None, model: str = "") -> type[Task]:
    """The class conf/task/<name>.yaml names for a model family (`model`: its config's name, for
    messages); family=None: any of the task's classes (they share the package's config schemas)."""
    keys = ("_target_", "generative_target")
    if family is not None:
        keys = ("_target_",) if family == "classifier" else ("generative_target",)
    for key in keys:
        target = task_cfg.get(key)
        if target:
            return _import(key, target)
    if family is None:
        raise MedtuneError(
            "task: neither task._target_ nor task.generative_target names a task class (conf/task/)"
        )
    fits = (
        f"a classifier (e.g. model=minilm), or model.family=classifier to read {model} as an encoder"
        if family != "classifier"
        else GENERATIVE_MODELS
    )
    raise MedtuneError(
        f"task={task_cfg.name} cannot run on model.family={family} (model={model}): choose {fits}"
    )


def make_task(cfg: DictConfig) -> Task:
    """The task object for the model's family."""
    return task_class(cfg.task, cfg.model.family, cfg.model.short_name)(cfg)
