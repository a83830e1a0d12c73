"""Coding examples: canonical rows {id, text, codes}, splits and label space."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig

from src.data import splits
from src.data.codes import code_description, normalize_code
from src.data.records import is_missing, parse_code_list, read_table
from src.data.synthetic import ensure_synthetic_coding
from src.errors import MedtuneError

log = logging.getLogger(__name__)


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


def load_rows(path: str | Path, data_cfg: DictConfig, stats: Counter) -> list[dict]:
    """Canonical rows from one file; invalid codes raise or are dropped and counted."""
    rows, seen = [], {}
    for line, raw in read_table(path):
        where = f"{path}:{line}"
        for column in (data_cfg.text_column, data_cfg.codes_column):
            if column not in raw:
                raise MedtuneError(
                    f"{where}: no '{column}' column (found: {', '.join(map(str, raw))}); "
                    f"set data.text_column / data.codes_column"
                )
        text = raw[data_cfg.text_column]
        if is_missing(text) or not str(text).strip():
            raise MedtuneError(f"{where}: empty text in column '{data_cfg.text_column}'")
        row_id = raw.get(data_cfg.id_column)
        row_id = f"{Path(path).stem}:{line}" if is_missing(row_id) else str(row_id)
        if row_id in seen:
            raise MedtuneError(f"{where}: duplicate id {row_id!r} (first seen on line {seen[row_id]})")
        seen[row_id] = line
        codes = []
        for raw_code in parse_code_list(raw[data_cfg.codes_column], where, data_cfg.codes_separator):
            code = normalize_code(raw_code)
            if code is None:
                if data_cfg.on_invalid_code == "error":
                    raise MedtuneError(
                        f"{where}: {raw_code!r} is not a valid ICD-10-CM or CPT code; fix the row, "
                        f"or set data.on_invalid_code=warn to drop such codes"
                    )
                stats["invalid_codes_dropped"] += 1
                continue
            codes.append(code)
        rows.append({"id": row_id, "text": str(text), "codes": sorted(set(codes))})
    if not rows:
        raise MedtuneError(f"{path}: no rows")
    return rows


def resolve_files(data_cfg: DictConfig, cache_dir: str) -> dict[str, str]:
    """Paths of the training file, evaluation file (if any) and descriptions file (if any)."""
    if data_cfg.path is None:
        synth = data_cfg.synthetic
        folder = ensure_synthetic_coding(cache_dir, synth.n_train, synth.n_eval, synth.seed)
        return {
            "train": str(folder / "train.jsonl"),
            "eval": str(folder / "eval.jsonl"),
            "descriptions": str(folder / "code_descriptions.json"),
        }
    files = {"train": str(data_cfg.path)}
    if data_cfg.eval_path:
        files["eval"] = str(data_cfg.eval_path)
    if data_cfg.descriptions_path:
        files["descriptions"] = str(data_cfg.descriptions_path)
    return files


def load_coding_rows(data_cfg: DictConfig, cache_dir: str) -> CodingRows:
    files = resolve_files(data_cfg, cache_dir)
    stats: Counter = Counter()
    pool = load_rows(files["train"], data_cfg, stats)
    if "eval" in files:
        eval_rows = load_rows(files["eval"], data_cfg, stats)
    else:
        pool_idx, eval_idx = splits.carve_eval(len(pool), data_cfg.eval_fraction, data_cfg.seed)
        pool, eval_rows = [pool[i] for i in pool_idx], [pool[i] for i in eval_idx]
    eval_size = data_cfg.eval_size
    if eval_size is None and data_cfg.path is None:
        eval_size = data_cfg.synthetic.eval_size  # the embedded default's budget-sized subset
    eval_rows = [eval_rows[i] for i in splits.eval_subset(len(eval_rows), eval_size, data_cfg.seed)]
    shared = {row["id"] for row in pool} & {row["id"] for row in eval_rows}
    if shared:
        raise MedtuneError(
            f"{len(shared)} ids occur in both the training and the evaluation data "
            f"(e.g. {sorted(shared)[0]!r}): remove them from one side to avoid leakage"
        )
    train_idx, val_idx = splits.train_val_indices(
        len(pool), data_cfg.train_size, data_cfg.val_fraction, data_cfg.seed
    )
    train, val = [pool[i] for i in train_idx], [pool[i] for i in val_idx]
    counts = Counter(code for row in train for code in row["codes"])
    labels = sorted(code for code, n in counts.items() if n >= data_cfg.min_code_count)
    if not labels:
        raise MedtuneError(
            f"the label space is empty: no code occurs {data_cfg.min_code_count}+ times in the "
            f"{len(train)} training notes; lower data.min_code_count or add data"
        )
    if stats["invalid_codes_dropped"]:
        log.warning("dropped %d invalid codes (data.on_invalid_code=warn)", stats["invalid_codes_dropped"])
    eval_codes = Counter(code for row in eval_rows for code in row["codes"])
    unseen = sum(n for code, n in eval_codes.items() if code not in set(labels))
    return CodingRows(
        train=train,
        val=val,
        eval=eval_rows,
        labels=labels,
        descriptions=label_descriptions(labels, files.get("descriptions")),
        files=files,
        stats={
            "pool_size": len(pool),
            "n_train": len(train),
            "n_val": len(val),
            "n_eval": len(eval_rows),
            "n_labels": len(labels),
            "invalid_codes_dropped": stats["invalid_codes_dropped"],
            # Gold codes of the evaluation split the model can never predict (not in training).
            "eval_codes_outside_label_space": unseen,
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


def rows_fingerprint(rows: list[dict]) -> str:
    """sha256 over the canonical rows, in order: identifies an exact split."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()
