"""The coding runs' per-code error report (src/tasks/coding/errors.py) against a hand-counted
example, the files it writes, and src.report's band columns."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from src.report import report
from src.tasks.coding.data import CodingRows
from src.tasks.coding.errors import band_of, error_report, sibling_confusions, write_run_report
from src.tasks.coding.metrics import coding_metrics

TRAIN_COUNTS = {"E11.9": 30, "99213": 25, "E11.22": 6, "I10": 3}  # E11.65, 99214: never in training
GOLD = [["E11.22", "I10"], ["99213", "E11.22"], ["E11.9", "I10"], []]
PRED = [["E11.9", "I10"], ["99214", "E11.65", "E11.9"], ["E11.9"], ["I10"]]


@pytest.mark.parametrize(
    "count, band", [(0, "0"), (1, "1-4"), (4, "1-4"), (5, "5-19"), (19, "5-19"), (20, "20+"), (500, "20+")]
)
def test_band_of(count, band):
    assert band_of(count) == band


def test_per_code_counts_and_order():
    rows = {row["code"]: row for row in error_report(GOLD, PRED, TRAIN_COUNTS)["per_code"]}
    # most support first, then by code
    assert list(rows) == ["E11.22", "I10", "99213", "E11.9", "99214", "E11.65"]
    expected = {  # code: (support, predicted, tp, fp, fn, precision, recall, f1, band)
        "E11.9": (1, 3, 1, 2, 0, 1 / 3, 1.0, 0.5, "20+"),
        "99213": (1, 0, 0, 0, 1, None, 0.0, 0.0, "20+"),
        "E11.22": (2, 0, 0, 0, 2, None, 0.0, 0.0, "5-19"),
        "I10": (2, 2, 1, 1, 1, 0.5, 0.5, 0.5, "1-4"),
        "E11.65": (0, 1, 0, 1, 0, 0.0, None, 0.0, "0"),
        "99214": (0, 1, 0, 1, 0, 0.0, None, 0.0, "0"),
    }
    keys = ("support", "predicted", "tp", "fp", "fn", "precision", "recall", "f1", "band")
    for code, values in expected.items():
        assert tuple(rows[code][k] for k in keys) == pytest.approx(values), code
        assert rows[code]["train_count"] == TRAIN_COUNTS.get(code, 0)


def test_bands_sum_to_the_runs_micro_counts():
    bands = error_report(GOLD, PRED, TRAIN_COUNTS)["bands"]
    assert list(bands) == ["20+", "5-19", "1-4", "0"]
    expected = {  # band: (codes, support, predicted, precision, recall, f1)
        "20+": (2, 2, 3, 1 / 3, 0.5, 0.4),  # E11.9 + 99213: tp 1, fp 2, fn 1
        "5-19": (1, 2, 0, None, 0.0, 0.0),
        "1-4": (1, 2, 2, 0.5, 0.5, 0.5),
        "0": (2, 0, 2, 0.0, None, 0.0),
    }
    for name, values in expected.items():
        band = bands[name]
        got = tuple(band[k] for k in ("n_codes", "support", "predicted", "precision", "recall", "f1"))
        assert got == pytest.approx(values), name
    # the bands partition the run's micro counts: tp 2, fp 5, fn 4
    micro = coding_metrics(GOLD, PRED)
    support = sum(b["support"] for b in bands.values())
    predicted = sum(b["predicted"] for b in bands.values())
    assert (support, predicted) == (6, 7)
    assert micro["micro_recall"] == pytest.approx(2 / support)
    assert micro["micro_precision"] == pytest.approx(2 / predicted)


def test_top_false_positives_and_negatives_with_descriptions():
    result = error_report(GOLD, PRED, TRAIN_COUNTS, describe={"E11.22": "T2DM with CKD"}.get)
    fps = [(row["code"], row["count"]) for row in result["top_false_positives"]]
    assert fps == [("E11.9", 2), ("99214", 1), ("E11.65", 1), ("I10", 1)]  # ties by code
    fns = result["top_false_negatives"]
    assert [(row["code"], row["count"]) for row in fns] == [("E11.22", 2), ("99213", 1), ("I10", 1)]
    assert fns[0]["description"] == "T2DM with CKD" and fns[1]["description"] is None
    assert fns[0]["train_count"] == 6
    assert len(error_report(GOLD, PRED, TRAIN_COUNTS, top=2)["top_false_positives"]) == 2


def test_sibling_confusions_same_icd_category_only():
    pairs, missed_with_sibling = sibling_confusions(GOLD, PRED)
    # 99213 missed while 99214 predicted: CPT codes have no ICD-10-CM category
    assert dict(pairs) == {("E11.22", "E11.9"): 2, ("E11.22", "E11.65"): 1}
    assert missed_with_sibling == 2  # E11.22 on notes 1 and 2, once each
    siblings = error_report(GOLD, PRED, TRAIN_COUNTS)["sibling_confusions"]
    assert (siblings["total"], siblings["missed_with_sibling_predicted"], siblings["missed"]) == (3, 2, 4)
    assert [(r["gold"], r["predicted"], r["count"]) for r in siblings["top"]] == [
        ("E11.22", "E11.9", 2),
        ("E11.22", "E11.65", 1),
    ]
    # a correctly predicted sibling is no confusion
    assert sibling_confusions([["E11.9", "E11.22"]], [["E11.9"]])[0] == {}


def test_mismatched_lengths_refused():
    with pytest.raises(ValueError, match="2 gold rows but 1 predictions"):
        error_report(GOLD[:2], PRED[:1], TRAIN_COUNTS)


def test_run_report_files_and_summary(tmp_path):
    notes = [[code] for code, n in TRAIN_COUNTS.items() for _ in range(n)]  # each code's count
    train = [{"id": str(i), "text": "", "codes": codes} for i, codes in enumerate(notes)]
    rows = CodingRows(
        train=train,
        val=[],
        eval=[{"id": f"e{i}", "text": "", "codes": codes} for i, codes in enumerate(GOLD)],
        labels=["E11.9"],
        # the run's descriptions: a CPT text from the data's file, a bare-code stand-in for 99214
        descriptions={"99213": "Office visit, established patient", "99214": "99214"},
        files={},
    )
    summary = write_run_report(tmp_path, rows, PRED)
    saved = json.loads((tmp_path / "errors.json").read_text())
    expected = error_report(GOLD, PRED, TRAIN_COUNTS)  # training counts taken from rows.train
    assert (saved["bands"], saved["per_code"]) == (expected["bands"], expected["per_code"])
    descriptions = {row["code"]: row["description"] for row in saved["top_false_negatives"]}
    assert descriptions["99213"] == "Office visit, established patient"  # from the run's file
    assert descriptions["E11.22"] == "Type 2 diabetes mellitus with diabetic chronic kidney disease"
    assert {row["code"]: row["description"] for row in saved["top_false_positives"]}["99214"] is None
    assert summary == {
        "file": "errors.json",
        "bands": saved["bands"],
        "sibling_confusions": 3,
        "missed_with_sibling_predicted": 2,
    }
    text = (tmp_path / "errors.md").read_text()
    assert "| 5-19 | 1 | 2 | 0 | – | 0.000 | 0.000 |" in text
    assert "| E11.22 | E11.9 | 2 | Type 2 diabetes mellitus with diabetic chronic kidney disease" in text
    assert "2 of 4 missed gold codes had a sibling code predicted instead" in text


def _job(sweep: Path, name: str, status: str, errors: dict | None) -> None:
    job = sweep / name
    (job / ".hydra").mkdir(parents=True)
    config = {
        "task": {"name": "coding", "main_metric": "micro_f1"},
        "data": {"train_size": 40},
        "lora": {"r": 4},
        "seed": 0,
    }
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"lora.r=4 # {name}"]))
    (job / "status.json").write_text(json.dumps({"status": status, "wall_s": 10.0}))
    if status == "complete":
        metrics = {
            "base": {"micro_f1": 0.2},
            "tuned": {"micro_f1": 0.5},
            "delta": {"micro_f1": 30.0},
            "timing": {"data_s": 1.0, "base_eval_s": 1.0, "train_s": 5.0},
            **({"errors": errors} if errors else {}),
        }
        (job / "metrics.json").write_text(json.dumps(metrics))


def test_report_aggregates_band_micro_f1(tmp_path):
    errors = error_report(GOLD, PRED, TRAIN_COUNTS)
    _job(tmp_path, "0", "complete", {"bands": errors["bands"]})
    _job(tmp_path, "1", "failed", None)
    report(tmp_path)
    results = pd.read_csv(tmp_path / "results.csv")
    columns = [f"tuned_micro_f1_train_{band}" for band in ("20+", "5-19", "1-4", "0")]
    assert results.loc[0, columns].tolist() == pytest.approx([0.4, 0.0, 0.5, 0.0])
    assert results.loc[1, columns].isna().all()  # a failed job has none
    table = (tmp_path / "results.md").read_text()
    assert "## Tuned micro-F1 by training examples per code" in table
    assert "| 0 | `lora.r=4 # 0` | 0.4000 | 0.0000 | 0.5000 | 0.0000 |" in table
    assert "| 1 | `lora.r=4 # 1` | – | – | – | – |" in table
