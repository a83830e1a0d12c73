"""Loading summarisation data: the embedded data, user files in any format, bad input, MTSamples."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from conftest import SHARED_DATA, compose_config, write_jsonl

from src.errors import MedtuneError
from src.tasks.summarization.data import load_rows, load_summary_rows
from src.tasks.summarization.facts import extract_facts
from src.tasks.summarization.metrics import summary_metrics

MTSAMPLES = SHARED_DATA / "mtsamples"


def _rows(n: int, prefix: str = "r") -> list[dict]:
    return [
        {
            "id": f"{prefix}{i}",
            "report": f"FINDINGS: Small left pleural effusion, {i + 5} mm. No pneumothorax.",
            "impression": f"1. Small left pleural effusion, {i + 5} mm.\n2. No pneumothorax.",
        }
        for i in range(n)
    ]


def _cfg(task: str, *overrides: str):
    return compose_config(f"task={task}", *overrides).data


def test_embedded_data_generates_on_first_use(tmp_path):
    cfg = _cfg(
        "summarize_operative",
        "data.synthetic.n_train=60",
        "data.synthetic.n_eval=20",
        "data.synthetic.val_size=10",
        "data.synthetic.eval_size=15",
        "data.train_size=30",
    )
    rows = load_summary_rows(cfg, str(tmp_path))
    assert (len(rows.train), len(rows.val), len(rows.eval)) == (30, 10, 15)
    assert all(row["specialty"] == "operative" and row["facts"] for row in rows.train)
    assert rows.stats["facts_per_summary_eval"] > 3
    again = load_summary_rows(cfg, str(tmp_path))
    assert again.train == rows.train  # same cache, same split


def test_generate_command_writes_each_specialty(tmp_path, capsys):
    from src.generate import main

    for specialty in ("radiology", "discharge", "operative"):
        main(
            [
                f"task=summarize_{specialty}",
                f"paths.cache_dir={tmp_path}",
                "data.synthetic.n_train=20",
                "data.synthetic.n_eval=5",
            ]
        )
        assert f"summarize_{specialty} data:" in capsys.readouterr().out
    assert len(list((tmp_path / "synthetic").iterdir())) == 3


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_user_files_with_renamed_columns_get_extracted_facts(tmp_path, fmt):
    path = tmp_path / f"reports.{fmt}"
    frame = pd.DataFrame(_rows(30))
    if fmt == "jsonl":
        write_jsonl(path, _rows(30))
    elif fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    cfg = _cfg(
        "summarize_radiology",
        f"data.path={path}",
        "data.text_column=report",
        "data.summary_column=impression",
        "data.train_size=10",
    )
    rows = load_summary_rows(cfg, str(tmp_path))
    assert (len(rows.train), len(rows.eval)) == (10, 6)  # eval_fraction 0.2 of 30
    row = rows.eval[0]
    assert set(row) == {"id", "text", "summary", "specialty", "facts"}
    assert row["facts"] == extract_facts(row["summary"])
    assert {f["kind"] for f in row["facts"]} == {"laterality", "diagnosis", "measurement", "negation"}


def test_specialty_column_per_row(tmp_path):
    rows = [dict(r, kind="radiology" if i % 2 else "Discharge") for i, r in enumerate(_rows(4))]
    path = write_jsonl(tmp_path / "mixed.jsonl", rows)
    cfg = _cfg("summarize_radiology", "data.text_column=report", "data.summary_column=impression")
    cfg.specialty_column = "kind"
    loaded = load_rows(path, cfg, Counter())
    assert [r["specialty"] for r in loaded] == ["discharge", "radiology", "discharge", "radiology"]


def _error(tmp_path: Path, rows: list[dict], *overrides: str) -> str:
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    cfg = _cfg("summarize_discharge", *overrides)
    with pytest.raises(MedtuneError) as info:
        load_rows(path, cfg, Counter())
    return str(info.value)


def test_bad_rows_name_the_file_line_and_fix(tmp_path):
    good = {"id": "a", "text": "Admitted with pneumonia.", "summary": "Pneumonia, treated."}
    message = _error(tmp_path, [good, dict(good, id="b", summary="  ")])
    assert (
        "bad.jsonl:2: empty text in column 'summary'" in message and "fill it in or remove the row" in message
    )
    message = _error(tmp_path, [good, dict(good, id="b", text="")])
    assert "bad.jsonl:2: empty text in column 'text'" in message
    message = _error(tmp_path, [good, {"id": "b", "text": "x"}])
    assert "bad.jsonl:2: no 'summary' column (found: 'id', 'text')" in message
    assert "set data.text_column / data.summary_column" in message
    message = _error(tmp_path, [good, good])
    assert "bad.jsonl:2: duplicate id 'a' (first seen on line 1); ids must be unique" in message
    message = _error(tmp_path, [dict(good, specialty="cardiology")], "data.specialty_column=specialty")
    assert "bad.jsonl:1: unknown specialty 'cardiology' in column 'specialty'" in message
    message = _error(tmp_path, [dict(good, facts=[{"kind": "vibe", "text": "x"}])])
    assert "bad.jsonl:1: 'facts' must be a list of" in message


def test_unknown_specialty_setting_is_a_config_error():
    with pytest.raises(MedtuneError, match="data.specialty='cardiology' is not one of radiology"):
        compose_config("task=summarize_radiology", "data.specialty=cardiology")


@pytest.mark.skipif(not MTSAMPLES.exists(), reason="../shared/data/mtsamples is absent")
@pytest.mark.parametrize("specialty", ["operative", "discharge"])
def test_mtsamples_load_through_data_path(tmp_path, specialty):
    """Real notes through ordinary options; MTSamples' own specialty column names the clinic
    (Bariatrics, Urology, ...), not the summary form, so it is not used as data.specialty_column."""
    path = MTSAMPLES / f"{specialty}.jsonl"
    cfg = _cfg(f"summarize_{specialty}", f"data.path={path}", "data.train_size=null")
    rows = load_summary_rows(cfg, str(tmp_path))
    n_lines = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    assert rows.stats["pool_size"] + rows.stats["n_eval"] == n_lines
    every = rows.train + rows.val + rows.eval
    assert all(row["specialty"] == specialty for row in every)
    assert sum(len(row["facts"]) for row in every) / len(every) >= 1  # the extractor finds something
    lead = [row["text"].split(". ")[0] + "." for row in rows.eval]
    scores = summary_metrics(
        [row["summary"] for row in rows.eval],
        lead,
        specialty,
        [r["facts"] for r in rows.eval],
        sources=[r["text"] for r in rows.eval],
    )
    assert all(0 <= value <= 1 for value in scores.values())
    print(f"\n{specialty}: lead-sentence baseline on {len(rows.eval)} eval notes: {json.dumps(scores)}")
