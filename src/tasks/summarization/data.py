"""Summarisation examples: canonical rows {id, text, summary, specialty, facts}, and their splits.

`facts` are the reference summary's key facts (src/tasks/summarization/facts.py) that fact recall checks.
The embedded synthetic rows carry them, recorded by the generator; for any other file they are
extracted from the summary by the same extractor the metric uses, so the metric works on real
data too. `specialty` (radiology | discharge | operative) picks the summary form the structure
metric expects: data.specialty for every row, or a per-row data.specialty_column.

data.format=openai_chat reads OpenAI chat fine-tuning files instead (src/data/openai_chat.py): the
reference summary is the last assistant turn, `text` the user turns (for examples and logs),
the specialty data.specialty, and the row keeps its `messages`, which training encodes whole.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig

from src.data import splits
from src.data.openai_chat import read_conversations
from src.data.records import READ_COUNTS, is_missing, note_text, table_rows
from src.data.synthetic import data_files
from src.errors import MedtuneError
from src.tasks.summarization.facts import FACT_KINDS, extract_facts
from src.tasks.summarization.synthetic import SPECIALTIES, synthetic_source


@dataclass
class SummaryRows:
    train: list[dict]
    val: list[dict]
    eval: list[dict]
    files: dict[str, str]  # role -> path
    stats: dict = field(default_factory=dict)


def load_rows(path: str | Path, data_cfg: DictConfig, stats: Counter) -> list[dict]:
    rows = (
        chat_summary_rows(path, data_cfg, stats)
        if data_cfg.format == "openai_chat"
        else table_summary_rows(path, data_cfg, stats)
    )
    if not rows:
        raise MedtuneError(f"{path}: no rows; the file holds only blank lines or a header")
    return rows


def table_summary_rows(path: str | Path, data_cfg: DictConfig, stats: Counter) -> list[dict]:
    rows = []
    columns = ("text_column", "summary_column", "specialty_column")
    for where, example_id, raw in table_rows(path, data_cfg, columns, stats):
        summary = note_text(raw[data_cfg.summary_column], data_cfg.summary_column, where).strip()
        facts = _given_facts(raw.get("facts"), where)
        rows.append(
            {
                "id": example_id,
                "text": note_text(raw[data_cfg.text_column], data_cfg.text_column, where),
                "summary": summary,
                "specialty": _specialty(raw, data_cfg, where),
                "facts": extract_facts(summary) if facts is None else facts,
            }
        )
    return rows


def chat_summary_rows(path: str | Path, data_cfg: DictConfig, stats: Counter) -> list[dict]:
    rows = []
    for _, example_id, messages in read_conversations(path, data_cfg, stats):
        summary = messages[-1]["content"]
        rows.append(
            {
                "id": example_id,
                "text": "\n\n".join(m["content"] for m in messages if m["role"] == "user"),
                "summary": summary,
                "specialty": data_cfg.specialty,
                "facts": extract_facts(summary),
                "messages": messages,
            }
        )
    return rows


def _specialty(raw: dict, data_cfg: DictConfig, where: str) -> str:
    if not data_cfg.specialty_column:
        return data_cfg.specialty
    value = raw[data_cfg.specialty_column]
    text = "" if is_missing(value) else str(value).strip().lower()
    if text not in SPECIALTIES:
        raise MedtuneError(
            f"{where}: unknown specialty {value!r} in column '{data_cfg.specialty_column}'; expected one "
            f"of {', '.join(SPECIALTIES)} (or set data.specialty_column=null: every row is data.specialty)"
        )
    return text


def _given_facts(value: object, where: str) -> list[dict[str, str]] | None:
    """A `facts` list in the generator's form, checked; None when the row has none."""
    if value is None or (not isinstance(value, list) and is_missing(value)):
        return None
    if hasattr(value, "tolist"):  # numpy arrays from Parquet
        value = value.tolist()
    ok = isinstance(value, list) and all(
        isinstance(f, dict) and f.get("kind") in FACT_KINDS and isinstance(f.get("text"), str) for f in value
    )
    if not ok:
        raise MedtuneError(
            f"{where}: 'facts' must be a list of {{\"kind\": one of {', '.join(FACT_KINDS)}, "
            '"text": ...}; fix it, or drop the column to have facts extracted from the summary'
        )
    return [{"kind": f["kind"], "text": f["text"]} for f in value]


def load_summary_rows(data_cfg: DictConfig, cache_dir: str) -> SummaryRows:
    """The split rules every task shares (splits.split_examples); data.specialty names the embedded data."""
    if data_cfg.format == "openai_chat" and data_cfg.path is None:
        raise MedtuneError(
            "data.format=openai_chat reads your own file, but data.path is empty (the embedded "
            "synthetic data is a table): set data.path=<file>.jsonl"
        )
    files = data_files(synthetic_source(data_cfg.specialty), data_cfg, cache_dir)
    stats: Counter = Counter()
    pool = load_rows(files["train"], data_cfg, stats)
    eval_rows = load_rows(files["eval"], data_cfg, stats) if "eval" in files else None
    pool, train, val, eval_rows = splits.split_examples(pool, eval_rows, files, data_cfg)
    return SummaryRows(
        train=train,
        val=val,
        eval=eval_rows,
        files=files,
        stats={
            **splits.split_counts(pool, train, val, eval_rows),
            "facts_per_summary_eval": round(sum(len(r["facts"]) for r in eval_rows) / len(eval_rows), 3),
            "eval_summaries_without_facts": sum(not r["facts"] for r in eval_rows),
            **{key: stats[key] for key in READ_COUNTS},
        },
    )
