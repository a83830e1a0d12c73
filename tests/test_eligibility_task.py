"""task=eligibility: its data rules, pair encoding, config schema and one end-to-end run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest
from conftest import ROOT, compose_config, write_jsonl

from src.data.eligibility_data import load_rows
from src.data.pairs import tokenize_pairs
from src.errors import MedtuneError
from src.tasks.eligibility import split_criteria

CRITERIA = "Inclusion Criteria:\n* Age 18-75 years\n\nExclusion Criteria:\n* Active hepatitis B or C"


def row(i: int, **changes) -> dict:
    base = {
        "id": f"p{i}",
        "patient": f"{40 + i} y/o F. eGFR 66 mL/min.",
        "criteria": CRITERIA,
        "label": "eligible",
    }
    return {**base, **changes}


@pytest.mark.parametrize(
    "bad, message",
    [
        (
            {"label": "maybe"},
            r"rows.jsonl:2: unknown label 'maybe' in column 'label'; expected 'eligible' or 'excluded'",
        ),
        ({"patient": "  "}, r"rows.jsonl:2: empty text in column 'patient'"),
        ({"criteria": None}, r"rows.jsonl:2: empty text in column 'criteria'"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, bad, message):
    path = write_jsonl(tmp_path / "rows.jsonl", [row(0), row(1, **bad)])
    with pytest.raises(MedtuneError, match=message):
        load_rows(path, compose_config("task=eligibility").data, Counter())


def test_missing_criteria_column_names_the_setting(tmp_path):
    rows = [{k: v for k, v in row(0).items() if k != "criteria"}]
    path = write_jsonl(tmp_path / "rows.jsonl", rows)
    with pytest.raises(MedtuneError, match=r"rows.jsonl:1: no 'criteria' column .* data.criteria_column"):
        load_rows(path, compose_config("task=eligibility").data, Counter())


def test_label_names_and_columns_are_configurable(tmp_path):
    rows = [
        {"id": "a", "record": "x", "trial": "y", "decision": "yes"},
        {"id": "b", "record": "x", "trial": "y", "decision": "no"},
    ]
    path = write_jsonl(tmp_path / "rows.jsonl", rows)
    cfg = compose_config(
        "task=eligibility",
        "data.patient_column=record",
        "data.criteria_column=trial",
        "data.label_column=decision",
        "data.positive_label=yes",
        "data.negative_label=no",
    )
    assert [r["label"] for r in load_rows(path, cfg.data, Counter())] == [True, False]


def test_each_task_has_its_own_data_schema():
    with pytest.raises(MedtuneError, match="invalid config key 'data.codes_column'"):
        compose_config("task=eligibility", "+data.codes_column=codes")
    with pytest.raises(MedtuneError, match="invalid config key 'data.patient_column'"):
        compose_config("+data.patient_column=patient")
    with pytest.raises(MedtuneError, match="task.truncation='sideways' is not one of"):
        compose_config("task=eligibility", "task.truncation=sideways")


def test_criteria_split_at_the_exclusion_heading():
    inclusion, exclusion = split_criteria(CRITERIA)
    assert inclusion == "Inclusion Criteria:\n* Age 18-75 years" and exclusion == "* Active hepatitis B or C"
    assert split_criteria("Adults with CKD") == ("Adults with CKD", "")


def test_pairs_keep_the_criteria_whole_and_count_what_is_cut(tmp_path, tiny_bert):
    from datasets import Dataset
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    long_record = "creatinine 1.2 mg/dL " * 40
    rows = Dataset.from_list(
        [
            {"criteria": CRITERIA, "patient": "short record"},
            {"criteria": CRITERIA, "patient": long_record},
            {"criteria": CRITERIA * 8, "patient": "short record"},  # the criteria alone are too long
        ]
    )
    encoded, stats = tokenize_pairs(
        rows, tokenizer, ("criteria", "patient"), 64, "only_second", tmp_path, "fp"
    )
    assert stats == {"reused_cache": False, "pairs_truncated": 2, "pairs_cut_both_sides": 1}
    criteria_ids = tokenizer(CRITERIA, add_special_tokens=False)["input_ids"]
    first, second, third = (chunks[0] for chunks in encoded["chunks"])
    assert len(second) == 64 and second[1 : 1 + len(criteria_ids)] == criteria_ids  # record's tail cut
    assert len(third) == 64 and "short record" in tokenizer.decode(third)  # both sides cut
    assert tokenize_pairs(rows, tokenizer, ("criteria", "patient"), 64, "only_second", tmp_path, "fp")[1][
        "reused_cache"
    ]


def test_eligibility_trains_end_to_end(tmp_path, tiny_bert):
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "src.train", "task=eligibility", f"hydra.run.dir={run_dir}"),
            *(
                f"model.name_or_path={tiny_bert}",
                "task.max_length=128",
                "logger=none",
                "trainer.max_epochs=1",
            ),
            *("data.synthetic.n_train=150", "data.synthetic.n_eval=60", "data.synthetic.eval_size=null"),
            *("data.synthetic.val_size=30", "data.train_size=100"),
        ],
        cwd=ROOT,
        env={**os.environ, "MEDTUNE_CACHE_DIR": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    keys = {"accuracy", "precision", "recall", "f1", "auroc", "recall_at_threshold", "wss_at_target", "wss95"}
    assert set(metrics["base"]) == set(metrics["tuned"]) == keys and metrics["main_metric"] == "wss_at_target"
    assert (metrics["data"]["n_train"], metrics["data"]["n_val"], metrics["data"]["n_eval"]) == (100, 30, 60)
    assert metrics["data"]["pairs_truncated"] > 0  # 128 tokens cannot hold a trial and a record
    assert set(metrics["intervals"]["delta"]) == keys
    meta = json.loads((run_dir / "adapter" / "medtune.json").read_text())
    assert (
        meta["task"] == "eligibility" and meta["labels"] == ["excluded", "eligible"] and "threshold" in meta
    )
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert (
        manifest["data"]["label_counts"]["eval"]["eligible"]
        + manifest["data"]["label_counts"]["eval"]["excluded"]
        == 60
    )
    card = (run_dir / "MODEL_CARD.md").read_text()
    assert "trial" in card and "eligib" in card
