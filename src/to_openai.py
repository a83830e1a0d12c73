"""python -m src.to_openai task=<name> [overrides] out=<folder>: a task's splits as OpenAI chat
fine-tuning files, for a hosted fine-tune of the same data a local run trains on.

The rows are the ones `python -m src.train <overrides>` uses: the task's own reading and
splitting (Task.check_data), so data.train_size, data.eval_size, data.seed... pick the same
training subset, validation slice and evaluation split. Each row becomes one conversation: an
optional system turn (system=...), the user turn the generative task's prompt (task.prompt filled
as training fills it), the assistant turn its completion (summary, sorted code list, decision
word), and the row's "id". train.jsonl and validation.jsonl are a hosted job's training and
validation files; eval.jsonl is the evaluation split, held out, to score the tuned model on.

out=, overwrite= and system= are this tool's own options, taken off the command line before Hydra
composes the rest: they are no config keys, so the config stays strict (a typo still fails) and
the overrides read exactly as for src.train.

An entry point beside src.train rather than in src/data: it drives a task (Task.check_data and
its prompts), and data/ sits below tasks/ (DESIGN.md: nothing lower imports anything higher).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from rich.table import Table

from src.config import compose_config, validate
from src.console import console
from src.data.openai_chat import read_conversations
from src.errors import MedtuneError, exit_on_user_error
from src.models.build import load_tokenizer
from src.paths import as_flag, keep_private
from src.tasks import task_class
from src.tasks.generative import GenerativeTask

FILES = {"train": "train.jsonl", "val": "validation.jsonl", "eval": "eval.jsonl"}  # split -> file
OPTIONS = ("out", "overwrite", "system")
USAGE = "python -m src.to_openai task=<name> [overrides] out=<folder> [overwrite=true] [system=<text>]"


def split_options(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """(this tool's options, the Hydra overrides)."""
    options, overrides = {}, []
    for arg in argv:
        key, _, value = arg.partition("=")
        if key in OPTIONS:
            options[key] = value
        else:
            overrides.append(arg)
    if not options.get("out"):
        raise MedtuneError(f"out=<folder> is missing: where {', '.join(FILES.values())} go ({USAGE})")
    return options, overrides


def targets(out: Path, overwrite: bool) -> dict[str, Path]:
    """split -> file to write; refuses existing files unless overwrite."""
    if out.exists() and not out.is_dir():
        raise MedtuneError(
            f"out={out} is a file, not a folder: choose a folder for {', '.join(FILES.values())}"
        )
    paths = {split: out / name for split, name in FILES.items()}
    existing = [str(path) for path in paths.values() if path.exists()]
    if existing and not overwrite:
        raise MedtuneError(
            f"{existing[0]} exists (of {len(existing)} already there); choose another out= folder or add "
            "overwrite=true to replace them"
        )
    return paths


def conversation(task: GenerativeTask, row: dict, system: str) -> dict:
    """One training example in OpenAI's chat format, with the row's id."""
    if "messages" in row:  # data.format=openai_chat: the conversation as it was read
        if system:
            raise MedtuneError(
                "system= adds a system turn to prompts built from task.prompt; data.format=openai_chat "
                "conversations bring their own turns: drop system="
            )
        turns = [
            {"role": m["role"], "content": m["content"], **({"weight": 0} if m["weight"] == 0 else {})}
            for m in row["messages"]
        ]
    else:
        turns = [
            *([{"role": "system", "content": system}] if system else []),
            {"role": "user", "content": task.fill_prompt(row, task.note_text(row))},
            {"role": "assistant", "content": task.completion(row)},
        ]
    return {"id": row["id"], "messages": turns}


def write_jsonl(path: Path, records: list[dict]) -> None:
    """Written whole to a temporary file, then renamed: an interruption leaves no half file, and
    a replaced file gets the mode the umask gives (owner-only when paths.private)."""
    staging = path.with_name(f".{path.name}.tmp")
    with staging.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    os.replace(staging, path)


def token_counts(path: Path, tokenizer) -> dict[str, int]:
    """The written file read back with medtune's OpenAI chat reader (which checks every line:
    roles, non-empty contents, the assistant's turn last, unique ids), and its tokens."""
    conversations = [
        m for _, _, m in read_conversations(path, OmegaConf.create({"id_column": "id"}), Counter())
    ]
    contents = [m["content"] for messages in conversations for m in messages]
    # verbose=False: no warning that a note is longer than the model reads; it is counted whole.
    sizes = iter(map(len, tokenizer(contents, add_special_tokens=False, verbose=False)["input_ids"]))
    counts = {
        "examples": len(conversations),
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "longest_example": 0,
    }
    for messages in conversations:
        example = Counter()
        for message in messages:
            example["completion_tokens" if message["role"] == "assistant" else "prompt_tokens"] += next(sizes)
        counts["prompt_tokens"] += example["prompt_tokens"]
        counts["completion_tokens"] += example["completion_tokens"]
        counts["longest_example"] = max(counts["longest_example"], example.total())
    return counts


def run(argv: list[str]) -> dict[str, dict[str, int]]:
    """Writes the three files; returns each file's counts."""
    options, overrides = split_options(argv)
    paths = targets(Path(options["out"]), as_flag(options.get("overwrite", "false"), "overwrite"))
    cfg: DictConfig = validate(compose_config(overrides))
    keep_private(cfg.paths.private, cfg.paths.cache_dir)  # before the embedded data is generated
    # The generative class writes prompts and completions; its rows are every class's (same reader).
    task = task_class(cfg.task, family="causal_lm")(cfg)
    task.check_data()
    system = options.get("system", "")
    records = {
        split: [conversation(task, row, system) for row in getattr(task.rows, split)] for split in paths
    }
    tokenizer = load_tokenizer(cfg.model)  # before writing: a refusal or a missing tokenizer leaves no files
    counts = {}
    for split, path in paths.items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_jsonl(path, records[split])
        except OSError as err:
            raise MedtuneError(
                f"out={path.parent}: cannot write {path.name} ({err}); choose a writable folder"
            ) from None
        counts[path.name] = token_counts(path, tokenizer)
    print_summary(cfg, Path(options["out"]), counts)
    return counts


def print_summary(cfg: DictConfig, out: Path, counts: dict[str, dict[str, int]]) -> None:
    table = Table(title=f"task={cfg.task.name}: OpenAI chat files in {out} (tokens: prompt, completion)")
    for column in ("file", "examples", "prompt", "completion", "longest example"):
        table.add_column(column, justify="left" if column == "file" else "right", no_wrap=True)
    for name, c in counts.items():
        row = (c["examples"], c["prompt_tokens"], c["completion_tokens"], c["longest_example"])
        table.add_row(name, *(f"{n:,}" for n in row))
    console.print(table)
    tokenizer = cfg.model.get("tokenizer") or cfg.model.name_or_path
    console.print(
        f"Each line checked with medtune's OpenAI chat reader. Tokens: message contents counted with "
        f"the run's tokenizer ({tokenizer}, model={cfg.model.short_name}), without special tokens; a "
        "hosted model's tokenizer and its per-message overhead count somewhat differently."
    )
    console.print(
        f"Upload {FILES['train']} as the training file and {FILES['val']} as the validation file; "
        f"{FILES['eval']} is the evaluation split, held out to score the tuned model on."
    )


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    # The compose API, not @hydra.main: writing files should not create a run directory.
    run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
