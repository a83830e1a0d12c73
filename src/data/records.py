"""Reading labelled examples from JSONL, CSV or Parquet into canonical rows.

Every problem a user can cause (missing file, malformed line, missing column, empty text)
raises MedtuneError naming the file and line, so a bad export never becomes a silently
wrong dataset.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from src.errors import MedtuneError

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}


def read_table(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yields (line number, raw row) from a JSONL, CSV or Parquet file.

    Line numbers are 1-based lines of the file for JSONL and CSV (header = line 1),
    row numbers for Parquet.
    """
    path = Path(path)
    if not path.exists():
        raise MedtuneError(f"data file not found: {path} (check data.path / data.eval_path)")
    if path.is_dir():
        raise MedtuneError(f"{path} is a directory; data.path must name a .jsonl, .csv or .parquet file")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise MedtuneError(f"{path}: unsupported file type '{path.suffix}'; use one of {', '.join(FORMATS)}")
    if fmt == "jsonl":
        yield from _read_jsonl(path)
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False) if fmt == "csv" else pd.read_parquet(path)
        offset = 2 if fmt == "csv" else 1
        for index, row in enumerate(frame.to_dict(orient="records")):
            yield index + offset, row


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig") as handle:
        try:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    raise MedtuneError(
                        f"{path}:{line_no}: malformed JSON ({err.msg}); each line must be one JSON object"
                    ) from None
                if not isinstance(row, dict):
                    raise MedtuneError(f"{path}:{line_no}: expected a JSON object, got {type(row).__name__}")
                yield line_no, row
        except UnicodeDecodeError:
            raise MedtuneError(f"{path}: not valid UTF-8; re-export the file as UTF-8") from None


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


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
                    f"{where}: codes look like a JSON list but do not parse: {text[:60]!r}"
                ) from None
        else:
            return [part.strip() for part in text.split(separator) if part.strip()]
    if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
        raise MedtuneError(f"{where}: codes must be a list of strings, got {type(value).__name__}")
    return [code.strip() for code in value if code.strip()]
