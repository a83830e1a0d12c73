"""Reading labelled examples from JSONL, CSV or Parquet into canonical rows.

Every problem a user can cause (missing or empty file, wrong encoding, malformed line, ragged
CSV row, missing column, empty text) raises MedtuneError naming the file and line, so a bad
export never becomes a silently wrong dataset. A few harmless quirks are repaired instead and
counted in the `stats` Counter handed to read_table (see README "Troubleshooting"):

- utf8_bom_stripped: a UTF-8 byte-order mark (Excel's "CSV UTF-8") was removed;
- utf16_decoded: a file with a UTF-16 byte-order mark was decoded as UTF-16;
- blank_lines_skipped: empty or whitespace-only lines (CSV: rows of empty cells) were skipped.

CRLF and CR line ends are accepted as they are: they change nothing that is read.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from src.errors import MedtuneError

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}
# How spreadsheets, pandas, R and SQL exports spell an empty cell.
EMPTY_CELLS = frozenset({"", "na", "n/a", "nan", "null", "none"})
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# The repairs read_table counts (module doc); every task reports them in its data stats.
READ_COUNTS = ("utf8_bom_stripped", "utf16_decoded", "blank_lines_skipped")


def read_table(path: str | Path, stats: Counter | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yields (line number, raw row) from a JSONL, CSV or Parquet file.

    Line numbers are 1-based lines of the file for JSONL and CSV (where a CSV record starts;
    header = line 1), row numbers for Parquet. Repairs are counted in `stats` (module doc).
    """
    path = Path(path)
    stats = Counter() if stats is None else stats
    fmt = _check_file(path)
    if fmt == "parquet":
        yield from _read_parquet(path)
    elif fmt == "csv":
        yield from _read_csv(path, _decode_text(path, stats), stats)
    else:
        yield from _read_jsonl(path, _decode_text(path, stats), stats)


def _check_file(path: Path) -> str:
    """The file's format, after checking it is an existing, non-empty file of a known type."""
    if not path.exists():
        raise MedtuneError(f"data file not found: {path} (check data.path / data.eval_path)")
    if path.is_dir():
        raise MedtuneError(f"{path} is a directory; data.path must name a .jsonl, .csv or .parquet file")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise MedtuneError(f"{path}: unsupported file type '{path.suffix}'; use one of {', '.join(FORMATS)}")
    if path.stat().st_size == 0:
        raise MedtuneError(f"{path}: the file is empty (0 bytes); re-export the data or fix data.path")
    return fmt


def _decode_text(path: Path, stats: Counter) -> str:
    """The text of a UTF-8 file; a UTF-8 BOM is stripped and a UTF-16 file with a BOM decoded."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise MedtuneError(f"{path}: cannot read the file ({err.strerror})") from None
    encoding = "utf-8"
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
        stats["utf8_bom_stripped"] += 1
    elif data.startswith(_UTF16_BOMS):
        encoding = "utf-16"  # the codec reads the BOM to pick the byte order
        stats["utf16_decoded"] += 1
    elif b"\x00" in data[:4096]:  # text in UTF-8 has no NUL bytes; UTF-16 of ASCII is half NULs
        raise MedtuneError(
            f"{path}: holds NUL bytes, so it looks like UTF-16 without a byte-order mark "
            f"(or a binary file); re-export it as UTF-8"
        )
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        raise _decode_error(path, data, err) from None


def _decode_error(path: Path, data: bytes, err: UnicodeDecodeError) -> MedtuneError:
    if err.encoding != "utf-8":
        return MedtuneError(f"{path}: not valid UTF-16 ({err.reason}); re-export the file as UTF-8")
    line = data.count(b"\n", 0, err.start) + 1
    if err.end == len(data) and err.reason == "unexpected end of data":
        return MedtuneError(
            f"{path}:{line}: the file ends mid-character, so it looks truncated; re-copy or re-export it"
        )
    line_start = data.rfind(b"\n", 0, err.start) + 1
    column = len(data[line_start : err.start].decode("utf-8")) + 1  # valid up to the bad byte
    return MedtuneError(
        f"{path}:{line}: not valid UTF-8 (byte 0x{data[err.start]:02x} at column {column}; "
        f"Latin-1 or Windows-1252?); re-export the file as UTF-8"
    )


def _read_jsonl(path: Path, text: str, stats: Counter) -> Iterator[tuple[int, dict[str, Any]]]:
    # Universal newlines split on \n, \r\n and \r only; JSON strings hold none of them raw,
    # while str.splitlines would also split on U+2028 and U+0085, which notes may contain.
    for line_no, line in enumerate(io.StringIO(text, newline=None), start=1):
        if not line.strip():
            stats["blank_lines_skipped"] += 1
            continue
        yield line_no, _parse_json_line(path, line_no, line)


def _parse_json_line(path: Path, line_no: int, line: str) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        # Only the last line can lack its line end: a cut there means an interrupted copy.
        hint = (
            "each line must be one JSON object"
            if line.endswith("\n")
            else "the file ends mid-object, so it looks truncated; re-copy or re-export it"
        )
        raise MedtuneError(f"{path}:{line_no}: malformed JSON ({err.msg}); {hint}") from None
    if not isinstance(row, dict):
        array_hint = ", not one JSON array" if isinstance(row, list) else ""
        raise MedtuneError(
            f"{path}:{line_no}: expected a JSON object, got {type(row).__name__}; "
            f"write one JSON object per line (JSON Lines){array_hint}"
        )
    return row


def _read_csv(path: Path, text: str, stats: Counter) -> Iterator[tuple[int, dict[str, Any]]]:
    records = _csv_records(path, text, stats)
    if not records:
        raise MedtuneError(f"{path}: no header row; the first line of a CSV file names its columns")
    (header_line, header), *rows = records
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise MedtuneError(
            f"{path}:{header_line}: column {repeated[0]!r} appears twice in the header; rename one"
        )
    for line_no, cells in rows:
        if len(cells) != len(header):
            raise MedtuneError(
                f"{path}:{line_no}: {len(cells)} fields but the header has {len(header)}; "
                f"quote fields that hold commas, quotes or line breaks, or fix the row"
            )
        yield line_no, dict(zip(header, cells, strict=True))


def _csv_records(path: Path, text: str, stats: Counter) -> list[tuple[int, list[str]]]:
    """(first line, cells) of every CSV record with a non-empty cell; a quoted field may span lines."""
    # A note can exceed the csv module's 128 KB field limit; no field can exceed the file.
    old_limit = csv.field_size_limit(max(len(text), csv.field_size_limit()))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records, start = [], 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                records.append((start, cells))
            else:
                stats["blank_lines_skipped"] += 1
            start = reader.line_num + 1
    except csv.Error as err:
        raise MedtuneError(
            f"{path}:{start}: malformed CSV ({err}); a field holding a quote must be quoted "
            f'and its quotes doubled ("")'
        ) from None
    finally:
        csv.field_size_limit(old_limit)
    return records


def _read_parquet(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        frame = pd.read_parquet(path)
    except (OSError, pa.ArrowException) as err:
        raise MedtuneError(f"{path}: not a readable Parquet file ({err}); re-export it") from None
    yield from enumerate(frame.to_dict(orient="records"), start=1)


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def row_id(value: object, path: str | Path, line: int) -> str:
    """The row's id; a row without one (or with an empty CSV cell) gets '<file stem>:<line>'."""
    if is_missing(value) or not str(value).strip():
        return f"{Path(path).stem}:{line}"
    return str(value).strip()


def table_rows(
    path: str | Path, data_cfg: Any, column_keys: tuple[str, ...], stats: Counter
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, id, row) for each row of a data file, once the row has every column the config
    names under column_keys (e.g. ("text_column", "codes_column"); an unset one is not required)
    and its id is new; where is "<file>:<line>" for messages."""
    columns = [data_cfg[key] for key in column_keys if data_cfg.get(key)]
    fix = "set " + " / ".join(f"data.{key}" for key in column_keys)
    if Path(path).suffix.lower() == ".csv":
        fix += " (the first line of a CSV file must be its comma-separated header)"
    seen: dict[str, int] = {}
    for line, raw in read_table(path, stats):
        where = f"{path}:{line}"
        for column in columns:
            if column not in raw:
                found = ", ".join(repr(str(name)) for name in raw)
                raise MedtuneError(f"{where}: no '{column}' column (found: {found}); {fix}")
        example_id = row_id(raw.get(data_cfg.id_column), path, line)
        if example_id in seen:
            raise MedtuneError(
                f"{where}: duplicate id {example_id!r} (first seen on line {seen[example_id]}); "
                "ids must be unique: remove or renumber one"
            )
        seen[example_id] = line
        yield where, example_id, raw


def note_text(value: Any, column: str, where: str) -> str:
    """The note text of a cell; an empty cell or one that is not text raises MedtuneError."""
    if not is_missing(value) and not isinstance(value, str):
        raise MedtuneError(
            f"{where}: the text in column '{column}' must be a string, got {type(value).__name__}"
        )
    if is_missing(value) or value.strip().lower() in EMPTY_CELLS:
        raise MedtuneError(
            f"{where}: empty text in column '{column}' ({value!r}); fill it in or remove the row"
        )
    return value


def rows_fingerprint(rows: list[dict]) -> str:
    """sha256 over the canonical rows, in order: identifies an exact split."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()
