"""Bad input, tried systematically, through the coding data loader.

Each case ends in one clear MedtuneError naming the file, the line (where there is one) and
what to do, or in a documented repair counted in the stats; never a raw traceback and never a
silently different dataset. Readable cases live in tests/data/malformed/; cases where the
bytes matter (encodings, line ends, sizes, Parquet) are written by the test.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import coding_rows, compose_config, write_jsonl

from src.errors import MedtuneError
from src.tasks.coding.data import CodingRows, load_coding_rows

MALFORMED = Path(__file__).parent / "data" / "malformed"

# Checked-in file -> the message fragment it must give.
ERRORS = {
    "truncated.jsonl": "truncated.jsonl:4: malformed JSON (Unterminated string starting at); "
    "the file ends mid-object, so it looks truncated; re-copy or re-export it",
    "json_array.json": "json_array.json:1: expected a JSON object, got list; "
    "write one JSON object per line (JSON Lines), not one JSON array",
    "not_an_object.jsonl": "not_an_object.jsonl:3: expected a JSON object, got str; "
    "write one JSON object per line (JSON Lines)",
    "duplicate_ids.jsonl": "duplicate_ids.jsonl:4: duplicate id 'b' (first seen on line 2); "
    "ids must be unique",
    "missing_codes_column.jsonl": "missing_codes_column.jsonl:2: no 'codes' column "
    "(found: 'id', 'text', 'icd'); set data.text_column / data.codes_column",
    "codes_number.jsonl": "codes_number.jsonl:3: codes must be a list of strings, got int; "
    'write them as ["I10", "E11.9"] or as one separated string "I10;E11.9"',
    "codes_dict.jsonl": "codes_dict.jsonl:3: codes must be a list of strings, got dict",
    "codes_list_of_numbers.jsonl": "codes_list_of_numbers.jsonl:3: codes must be a list of strings, "
    'got a list holding int 486; quote each code ("I10")',
    "codes_bad_json_string.jsonl": "codes_bad_json_string.jsonl:3: codes look like a JSON list but "
    "do not parse",
    "comma_separated_codes.jsonl": "comma_separated_codes.jsonl:3: 'I10, E11.9' is not a valid "
    "ICD-10-CM or CPT code; fix the row, or set data.on_invalid_code=warn to drop such codes "
    "(or, if it lists several codes, set data.codes_separator=',')",
    "invalid_codes.jsonl": "invalid_codes.jsonl:3: 'J18.99' is not a valid ICD-10-CM or CPT code",
    "text_number.jsonl": "text_number.jsonl:2: the text in column 'text' must be a string, got int",
    "text_list.jsonl": "text_list.jsonl:2: the text in column 'text' must be a string, got list",
    "zero_length_note.jsonl": "zero_length_note.jsonl:3: empty text in column 'text' (''); "
    "fill it in or remove the row",
    "null_text.jsonl": "null_text.jsonl:3: empty text in column 'text' (None)",
    "only_blank_lines.jsonl": "only_blank_lines.jsonl: no rows; the file holds only blank lines or a header",
    "no_header.csv": "no_header.csv:2: no 'text' column (found: 'a', 'HTN on lisinopril.', 'I10'); "
    "set data.text_column / data.codes_column (the first line of a CSV file must be its "
    "comma-separated header)",
    "semicolon_delimited.csv": "semicolon_delimited.csv:2: no 'text' column (found: 'id;text;codes')",
    "ragged_rows.csv": "ragged_rows.csv:3: 4 fields but the header has 3; quote fields that hold "
    "commas, quotes or line breaks, or fix the row",
    "short_row.csv": "short_row.csv:3: 2 fields but the header has 3",
    "unbalanced_quote.csv": "unbalanced_quote.csv:3: malformed CSV (unexpected end of data); "
    'a field holding a quote must be quoted and its quotes doubled ("")',
    "nan_text.csv": "nan_text.csv:3: empty text in column 'text' ('NaN'); fill it in or remove the row",
    "empty_text_cell.csv": "empty_text_cell.csv:3: empty text in column 'text' ('')",
    "duplicate_header.csv": "duplicate_header.csv:1: column 'codes' appears twice in the header; rename one",
    "only_blank_lines.csv": "only_blank_lines.csv: no header row; the first line of a CSV file names "
    "its columns",
    "header_only.csv": "header_only.csv: no rows; the file holds only blank lines or a header",
    "notes.txt": "notes.txt: unsupported file type '.txt'; use one of .jsonl, .json, .csv, .parquet",
}
# Checked-in files that load, each with its own test below.
LOADING = {"codes_plain_string.jsonl", "comma_separated_codes.jsonl", "invalid_codes.jsonl"}


def load(tmp_path: Path, train: Path, evaluation: Path | None = None, *overrides: str) -> CodingRows:
    args = [f"data.path={train}", f"paths.cache_dir={tmp_path / 'cache'}", "data.train_size=null", *overrides]
    if evaluation is not None:
        args.append(f"data.eval_path={evaluation}")
    cfg = compose_config(*args)
    return load_coding_rows(cfg.data, cfg.paths.cache_dir)


def error(tmp_path: Path, train: Path, evaluation: Path | None = None, *overrides: str) -> str:
    with pytest.raises(MedtuneError) as info:
        load(tmp_path, train, evaluation, *overrides)
    return str(info.value)


def splits(rows: CodingRows) -> tuple[list[dict], list[dict], list[dict]]:
    return rows.train, rows.val, rows.eval


def every_row(rows: CodingRows) -> list[dict]:
    return rows.train + rows.val + rows.eval


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def sample_rows(n: int = 10) -> list[dict]:
    rows = coding_rows(n, "t")
    rows[2]["text"] = "Café-au-lait spots; naïve to metformin. Type 2 diabetes."  # non-ASCII, 3rd row
    return rows


def table(fmt: str, rows: list[dict] | None = None, newline: str = "\n") -> str:
    """The rows as JSONL or CSV text (codes ';'-separated in CSV)."""
    rows = sample_rows() if rows is None else rows
    if fmt == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + newline for row in rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    writer.writerow(["id", "text", "codes"])
    writer.writerows([row["id"], row["text"], ";".join(row["codes"])] for row in rows)
    return buffer.getvalue()


# The line of the non-ASCII note: the third row, after the header in CSV.
NON_ASCII_LINE = {"jsonl": 3, "csv": 4}


def test_every_checked_in_file_has_a_case():
    assert {path.name for path in MALFORMED.iterdir()} == set(ERRORS) | LOADING


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_checked_in_malformed_file_gives_one_clear_error(tmp_path, name):
    assert ERRORS[name] in error(tmp_path, MALFORMED / name)


def test_codes_as_a_plain_string_are_read_as_separated_codes(tmp_path):
    rows = load(tmp_path, MALFORMED / "codes_plain_string.jsonl")
    codes = {row["id"]: row["codes"] for row in every_row(rows)}
    assert codes == {"a": ["I10"], "b": ["E11.9"], "c": ["E11.9", "I10"], "d": ["J18.9"], "e": ["I10"]}


def test_separator_named_by_the_hint_reads_the_codes(tmp_path):
    rows = load(tmp_path, MALFORMED / "comma_separated_codes.jsonl", None, "data.codes_separator=','")
    assert ["E11.9", "I10"] in [row["codes"] for row in every_row(rows)]


@pytest.mark.parametrize("code", ["J18.99", "A00-A09", "I10.X", "XYZ", "E11.9.1"])
def test_invalid_icd10cm_code_is_an_error_or_a_counted_drop(tmp_path, code):
    rows = sample_rows()
    rows[4]["codes"] = ["I10", code]
    train = write_jsonl(tmp_path / "t.jsonl", rows)
    assert f"t.jsonl:5: {code!r} is not a valid ICD-10-CM or CPT code" in error(tmp_path, train)
    loaded = load(tmp_path, train, None, "data.on_invalid_code=warn")
    assert loaded.stats["invalid_codes_dropped"] == 1
    assert ["I10"] in [row["codes"] for row in every_row(loaded)]


# --- encodings -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize(
    "prefix, encoding, repair",
    [
        (codecs.BOM_UTF8, "utf-8", "utf8_bom_stripped"),
        (b"", "utf-16", "utf16_decoded"),  # Python's utf-16 codec writes a BOM
        (codecs.BOM_UTF16_BE, "utf-16-be", "utf16_decoded"),
    ],
)
def test_byte_order_mark_is_a_counted_repair(tmp_path, fmt, prefix, encoding, repair):
    plain = write(tmp_path / "plain" / f"t.{fmt}", table(fmt).encode())
    marked = write(tmp_path / "marked" / f"t.{fmt}", prefix + table(fmt).encode(encoding))
    expected, repaired = load(tmp_path, plain), load(tmp_path, marked)
    assert splits(repaired) == splits(expected)
    assert (expected.stats[repair], repaired.stats[repair]) == (0, 1)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_utf16_without_bom_asks_for_utf8(tmp_path, fmt):
    message = error(tmp_path, write(tmp_path / f"t.{fmt}", table(fmt).encode("utf-16-le")))
    assert f"t.{fmt}: holds NUL bytes, so it looks like UTF-16 without a byte-order mark" in message
    assert message.endswith("re-export it as UTF-8")


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_latin1_names_the_line_and_asks_for_utf8(tmp_path, fmt, encoding):
    text = table(fmt)
    line = NON_ASCII_LINE[fmt]
    column = text.splitlines()[line - 1].index("é") + 1
    path = write(tmp_path / f"t.{fmt}", text.encode(encoding))
    assert (
        f"t.{fmt}:{line}: not valid UTF-8 (byte 0xe9 at column {column}; Latin-1 or Windows-1252?); "
        "re-export the file as UTF-8"
    ) in error(tmp_path, path)


def test_file_cut_mid_character_is_reported_as_truncated(tmp_path):
    rows = sample_rows(3)
    data = table("jsonl", rows).encode()
    path = write(tmp_path / "t.jsonl", data[: data.rindex("é".encode()) + 1])
    assert "t.jsonl:3: the file ends mid-character, so it looks truncated" in error(tmp_path, path)


# --- line ends, blank lines, sizes -------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_crlf_and_cr_line_ends_read_the_same_rows(tmp_path, fmt, newline):
    plain = write(tmp_path / "plain" / f"t.{fmt}", table(fmt).encode())
    windows = write(tmp_path / "windows" / f"t.{fmt}", table(fmt, newline=newline).encode())
    expected, read = load(tmp_path, plain), load(tmp_path, windows)
    assert splits(read) == splits(expected)
    assert read.stats == expected.stats


def padded_jsonl(rows: list[dict]) -> bytes:
    """JSONL with blank and whitespace-only lines around and between the rows."""
    lines = table("jsonl", rows).splitlines(keepends=True)
    return "".join(["\n", *lines[:4], "   \n", "\t\r\n", *lines[4:], "\n"]).encode()


def test_blank_jsonl_lines_are_skipped_counted_and_keep_line_numbers(tmp_path):
    rows = sample_rows()
    path = write(tmp_path / "t.jsonl", padded_jsonl(rows))
    plain = write(tmp_path / "plain" / "t.jsonl", table("jsonl", rows).encode())
    read = load(tmp_path, path)
    assert splits(read) == splits(load(tmp_path, plain))
    assert read.stats["blank_lines_skipped"] == 4
    rows[4]["codes"] = ["NOTACODE"]  # after 1 + 2 blank lines: line 8 of the file
    write(path, padded_jsonl(rows))
    assert "t.jsonl:8: 'NOTACODE' is not a valid" in error(tmp_path, path)


def test_blank_csv_lines_and_empty_rows_are_skipped_and_counted(tmp_path):
    lines = table("csv").splitlines(keepends=True)
    padded = [lines[0], "\n", *lines[1:5], ",,\n", " , ,\n", *lines[5:], "\n"]
    path = write(tmp_path / "t.csv", "".join(padded).encode())
    plain = write(tmp_path / "plain" / "t.csv", table("csv").encode())
    assert splits(load(tmp_path, path)) == splits(load(tmp_path, plain))
    assert load(tmp_path, path).stats["blank_lines_skipped"] == 4


def test_multi_line_csv_note_keeps_true_line_numbers(tmp_path):
    rows = sample_rows()
    rows[0]["text"] = "CC: follow-up\nHPI: HTN on lisinopril.\nPlan: continue."
    rows[1]["codes"] = ["NOTACODE"]
    path = write(tmp_path / "t.csv", table("csv", rows).encode())
    # The first note spans lines 2-4, so the second row starts on line 5.
    assert "t.csv:5: 'NOTACODE' is not a valid" in error(tmp_path, path)
    rows[1]["codes"] = ["E11.9"]
    write(path, table("csv", rows).encode())
    loaded = load(tmp_path, path)
    assert rows[0]["text"] in [row["text"] for row in every_row(loaded)]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_enormous_note_is_read_whole(tmp_path, fmt):
    rows = sample_rows()
    rows[5]["text"] = "Hypertension, on lisinopril. " * 180_000  # about 5 MB in one row
    path = write(tmp_path / f"t.{fmt}", table(fmt, rows).encode())
    loaded = load(tmp_path, path)
    assert rows[5]["text"] in [row["text"] for row in every_row(loaded)]


# --- files that are not data -------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_empty_file(tmp_path, suffix):
    path = write(tmp_path / f"t{suffix}", b"")
    assert f"t{suffix}: the file is empty (0 bytes); re-export the data or fix data.path" in error(
        tmp_path, path
    )


def test_directory_instead_of_file(tmp_path):
    folder = tmp_path / "train.jsonl"
    folder.mkdir()
    assert "train.jsonl is a directory; data.path must name a .jsonl, .csv or .parquet file" in error(
        tmp_path, folder
    )
    assert "is a directory" in error(tmp_path, MALFORMED / "codes_plain_string.jsonl", folder)


# --- Parquet with wrong column types -----------------------------------------------------------


def parquet(tmp_path: Path, **columns: list) -> Path:
    path = tmp_path / "t.parquet"
    pd.DataFrame(sample_rows(6)).assign(**columns).to_parquet(path)
    return path


@pytest.mark.parametrize(
    "column, values, fragment",
    [
        ("codes", [401] * 6, "t.parquet:1: codes must be a list of strings, got int"),
        ("codes", [{"primary": "I10"}] * 6, "t.parquet:1: codes must be a list of strings, got dict"),
        ("codes", [[401, 250]] * 6, "t.parquet:1: codes must be a list of strings, got a list holding int"),
        ("text", list(range(6)), "t.parquet:1: the text in column 'text' must be a string, got int"),
        ("text", [b"HTN"] * 6, "t.parquet:1: the text in column 'text' must be a string, got bytes"),
        ("text", [None] * 6, "t.parquet:1: empty text in column 'text' (None)"),
    ],
)
def test_parquet_with_wrong_column_types(tmp_path, column, values, fragment):
    assert fragment in error(tmp_path, parquet(tmp_path, **{column: values}))


def test_parquet_codes_as_strings_and_nulls(tmp_path):
    codes = ["I10", "E11.9;I10", None, "J18.9", "I10", "E11.9"]
    rows = load(tmp_path, parquet(tmp_path, codes=codes))
    assert sorted(map(tuple, (r["codes"] for r in every_row(rows)))) == sorted(
        [("I10",), ("E11.9", "I10"), (), ("J18.9",), ("I10",), ("E11.9",)]
    )
    assert rows.stats["rows_without_codes"] == 1


def test_file_that_is_not_parquet(tmp_path):
    message = error(tmp_path, write(tmp_path / "t.parquet", table("csv").encode()))
    assert "t.parquet: not a readable Parquet file (" in message and message.endswith("); re-export it")


# --- empty cells, ids, labels ------------------------------------------------------------------


def test_empty_csv_cells(tmp_path):
    rows = sample_rows()
    rows[3]["codes"] = []
    rows[4]["id"] = ""
    loaded = load(tmp_path, write(tmp_path / "t.csv", table("csv", rows).encode()))
    everything = {row["id"]: row for row in every_row(loaded)}
    assert everything["t3"]["codes"] == [] and loaded.stats["rows_without_codes"] == 1
    assert "t:6" in everything  # an empty id cell gets '<file stem>:<line>', as a missing id does


def test_ids_shared_between_train_and_eval_name_both_files(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", sample_rows())
    evaluation = write_jsonl(tmp_path / "eval.jsonl", coding_rows(4, "e") + sample_rows()[:2])
    message = error(tmp_path, train, evaluation)
    assert f"2 ids occur in both the training data ({train}) and the evaluation data" in message
    assert f"evaluation data ({evaluation})" in message
    assert "(e.g. 't0'): remove them from one side to avoid leakage" in message


def test_duplicate_ids_in_the_evaluation_file(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", sample_rows())
    evaluation = write_jsonl(tmp_path / "eval.jsonl", coding_rows(3, "e") + coding_rows(1, "e"))
    assert "eval.jsonl:4: duplicate id 'e0' (first seen on line 1)" in error(tmp_path, train, evaluation)


def test_eval_codes_outside_the_label_space_are_counted(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", sample_rows())
    unseen = [
        {"id": "e1", "text": "GERD on omeprazole.", "codes": ["K21.9"]},
        {"id": "e2", "text": "GERD and HTN.", "codes": ["I10", "K21.9"]},
        {"id": "e3", "text": "Migraine.", "codes": ["G43.909"]},
    ]
    evaluation = write_jsonl(tmp_path / "eval.jsonl", unseen)
    rows = load(tmp_path, train, evaluation)
    assert "K21.9" not in rows.labels
    assert rows.stats["eval_codes_outside_label_space"] == 3
