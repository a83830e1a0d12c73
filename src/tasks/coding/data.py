"""Coding examples: canonical rows {id, text, codes}, splits and label space."""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from src.data import records, splits
from src.data.records import is_missing, note_text, table_rows
from src.data.synthetic import SyntheticSource, data_files
from src.errors import MedtuneError
from src.tasks.base import TaskPackage
from src.tasks.coding import synthetic
from src.tasks.coding.codes import code_description, normalize_code
from src.tasks.coding.schema import CodingDataConfig, CodingTaskConfig
from src.tasks.coding.unseen import candidate_codes

log = logging.getLogger(__name__)
# The embedded notes (with code_descriptions.json beside them) when data.path is empty.
SYNTHETIC = SyntheticSource("coding", synthetic.GENERATOR_VERSION, synthetic.generate_coding_dataset)
PACKAGE = TaskPackage(CodingTaskConfig, CodingDataConfig, SYNTHETIC)  # both task classes'

# Counted while reading the files (repairs and oddities, see src.data.records); always in stats.
READ_COUNTS = ("invalid_codes_dropped", "rows_without_codes", *records.READ_COUNTS)


@dataclass
class CodingRows:
    """Canonical rows of every split, the label space and where they came from."""

    train: list[dict]
    val: list[dict]
    eval: list[dict]
    labels: list[str]
    descriptions: dict[str, str]
    files: dict[str, str]  # role -> path
    stats: dict = field(default_factory=dict)
    # The base model's label space: codes of the whole training pool, not of the training
    # subset, so the base model is the same for every train_size of a sweep. Empty: `labels`.
    base_labels: list[str] = field(default_factory=list)
    # Codes of data.label_space outside `labels`, scored from their descriptions (unseen.py).
    unseen_candidates: list[str] = field(default_factory=list)


def load_rows(path: str | Path, data_cfg: DictConfig, stats: Counter) -> list[dict]:
    """Canonical rows from one file; invalid codes raise or are dropped and counted."""
    rows = []
    for where, example_id, raw in table_rows(path, data_cfg, ("text_column", "codes_column"), stats):
        text = note_text(raw[data_cfg.text_column], data_cfg.text_column, where)
        codes = _valid_codes(raw[data_cfg.codes_column], where, data_cfg, stats)
        if not codes:
            stats["rows_without_codes"] += 1
        rows.append({"id": example_id, "text": text, "codes": codes})
    if not rows:
        raise MedtuneError(f"{path}: no rows; the file holds only blank lines or a header")
    return rows


def _valid_codes(value: object, where: str, data_cfg: DictConfig, stats: Counter) -> list[str]:
    """Sorted canonical codes of a cell; invalid ones raise or, with on_invalid_code=warn, are counted."""
    codes = []
    for raw_code in parse_code_list(value, where, data_cfg.codes_separator):
        code = normalize_code(raw_code)
        if code is None:
            if data_cfg.on_invalid_code == "error":
                raise MedtuneError(
                    f"{where}: {raw_code!r} is not a valid ICD-10-CM or CPT code; fix the row, or set "
                    f"data.on_invalid_code=warn to drop such codes" + _separator_hint(raw_code, data_cfg)
                )
            stats["invalid_codes_dropped"] += 1
            continue
        codes.append(code)
    return sorted(set(codes))


def parse_code_list(value: Any, where: str, separator: str = ";") -> list[str]:
    """Codes from a list, a JSON list in a string ('["I10"]') or a separated string ('I10;E11.9')."""
    if is_missing(value):
        return []
    if hasattr(value, "tolist"):  # numpy arrays from Parquet
        value = value.tolist()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise MedtuneError(
                    f"{where}: codes look like a JSON list but do not parse: {text[:60]!r}; "
                    f"fix the list or separate the codes with data.codes_separator"
                ) from None
        else:
            return [part.strip() for part in text.split(separator) if part.strip()]
    if not isinstance(value, list):
        raise MedtuneError(
            f"{where}: codes must be a list of strings, got {type(value).__name__}; "
            f'write them as ["I10", "E11.9"] or as one separated string "I10;E11.9"'
        )
    wrong = [code for code in value if not isinstance(code, str)]
    if wrong:
        raise MedtuneError(
            f"{where}: codes must be a list of strings, got a list holding {type(wrong[0]).__name__} "
            f'{wrong[0]!r}; quote each code ("I10")'
        )
    return [code.strip() for code in value if code.strip()]


def _separator_hint(raw_code: str, data_cfg: DictConfig) -> str:
    """Points at data.codes_separator when an 'invalid code' is really several codes."""
    for separator in (",", "|", " "):
        if separator != data_cfg.codes_separator and separator in raw_code:
            return f" (or, if it lists several codes, set data.codes_separator='{separator}')"
    return ""


def resolve_files(data_cfg: DictConfig, cache_dir: str) -> dict[str, str]:
    """Paths of the training file, evaluation file (if any) and descriptions file (if any)."""
    files = data_files(SYNTHETIC, data_cfg, cache_dir)
    if data_cfg.path is None:
        files["descriptions"] = str(Path(files["train"]).parent / "code_descriptions.json")
    elif data_cfg.descriptions_path:
        files["descriptions"] = str(data_cfg.descriptions_path)
    return files


def load_coding_rows(data_cfg: DictConfig, cache_dir: str) -> CodingRows:
    files = resolve_files(data_cfg, cache_dir)
    stats: Counter = Counter()
    pool = load_rows(files["train"], data_cfg, stats)
    eval_rows = load_rows(files["eval"], data_cfg, stats) if "eval" in files else None
    pool, train, val, eval_rows = splits.split_examples(pool, eval_rows, files, data_cfg)

    def label_space(rows: list[dict]) -> list[str]:
        counts = Counter(code for row in rows for code in row["codes"])
        return sorted(code for code, n in counts.items() if n >= data_cfg.min_code_count)

    labels, base_labels = label_space(train), label_space(pool)
    if not labels:
        raise MedtuneError(
            f"the label space is empty: no code occurs {data_cfg.min_code_count}+ times in the "
            f"{len(train)} training notes; lower data.min_code_count or add data"
        )
    if stats["invalid_codes_dropped"]:
        log.warning("dropped %d invalid codes (data.on_invalid_code=warn)", stats["invalid_codes_dropped"])
    noted = {key: stats[key] for key in READ_COUNTS if stats[key] and key != "invalid_codes_dropped"}
    if noted:
        log.warning("counted while reading the data (see README, Troubleshooting): %s", noted)
    eval_codes = Counter(code for row in eval_rows for code in row["codes"])
    unseen = sum(n for code, n in eval_codes.items() if code not in set(labels))
    candidates = candidate_codes(data_cfg.label_space, labels)
    reachable = set(labels) | set(candidates)
    return CodingRows(
        train=train,
        val=val,
        eval=eval_rows,
        labels=labels,
        descriptions=label_descriptions(base_labels, files.get("descriptions")),
        base_labels=base_labels,
        unseen_candidates=candidates,
        files=files,
        stats={
            **splits.split_counts(pool, train, val, eval_rows),
            "n_labels": len(labels),
            **{key: stats[key] for key in READ_COUNTS},
            # Gold codes of the evaluation split the model can never predict (not in training).
            "eval_codes_outside_label_space": unseen,
            "label_space": data_cfg.label_space,
            "n_unseen_candidates": len(candidates),  # scored from descriptions (data.label_space)
            # ... of which no candidate either (CPT, non-billable, not in the file): never predicted.
            "eval_codes_unreachable": sum(n for code, n in eval_codes.items() if code not in reachable),
        },
    )


def label_descriptions(labels: list[str], descriptions_file: str | None) -> dict[str, str]:
    """A text for each code, used by the zero-shot base model: file first, then ICD-10-CM."""
    given = {}
    if descriptions_file:
        try:
            given = json.loads(Path(descriptions_file).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise MedtuneError(f"data.descriptions_path: cannot read {descriptions_file}: {err}") from None
    out, missing = {}, 0
    for code in labels:
        text = given.get(code) or code_description(code)
        if not text:
            missing += 1
            text = code
        out[code] = text
    if missing:
        log.warning("%d codes have no description (CPT?); the base model sees the bare code", missing)
    return out


def coding_lineage(rows: CodingRows) -> dict:
    """The coding tasks' Task.lineage: files, split rows, label space, code counts per split."""
    return {
        "files": rows.files,
        "splits": {"train": rows.train, "val": rows.val, "eval": rows.eval},
        "labels": rows.labels,
        "label_counts": {
            split: dict(Counter(code for row in getattr(rows, split) for code in row["codes"]))
            for split in ("train", "eval")
        },
    }
