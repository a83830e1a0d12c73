"""Property-based tests: code-list parsing, table round trips and the coding metrics."""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import random

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from src.data.records import read_table
from src.tasks.coding.data import parse_code_list
from src.tasks.coding.metrics import METRIC_KEYS, coding_delta, coding_metrics

# Modest example counts: these run in the ordinary suite on 2 CPU cores.
FAST = settings(max_examples=60, deadline=None)

SEPARATORS = [";", ",", "|"]
# A code as a user could write it: any characters but separators, '[' (which starts a JSON
# list) and NUL, without surrounding whitespace (parse_code_list strips it).
codes_text = st.text(
    alphabet=st.characters(exclude_characters="".join(SEPARATORS) + "[\x00"), min_size=1, max_size=12
).filter(lambda code: code == code.strip())
code_lists = st.lists(codes_text, max_size=6)


@FAST
@given(code_lists)
def test_code_list_parses_back_from_a_list_or_array(codes):
    assert parse_code_list(codes, "t:1") == codes
    assert parse_code_list(np.array(codes, dtype=object), "t:1") == codes  # Parquet list cells


@FAST
@given(code_lists, st.booleans())
def test_code_list_parses_back_from_a_json_string(codes, ensure_ascii):
    assert parse_code_list(json.dumps(codes, ensure_ascii=ensure_ascii), "t:1") == codes


@FAST
@given(code_lists, st.sampled_from(SEPARATORS), st.sampled_from(["", " ", "  "]))
def test_code_list_parses_back_from_a_separated_string(codes, separator, padding):
    written = f"{padding}{separator}{padding}".join(codes)
    assert parse_code_list(written, "t:1", separator=separator) == codes


utf8_text = st.text(st.characters(codec="utf-8"))  # what a UTF-8 file can hold
csv_cells = st.text(st.characters(codec="utf-8", exclude_characters="\x00"))  # NUL reads as UTF-16


def write_jsonl(path, rows, ensure_ascii: bool, newline: str, bom: bool) -> None:
    text = "".join(json.dumps(row, ensure_ascii=ensure_ascii) + newline for row in rows)
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + text.encode())


@FAST
@given(
    texts=st.lists(utf8_text, min_size=1, max_size=5),
    ensure_ascii=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
)
@example(texts=["line\u2028separator\x85next\ufeff\r\n\ttab"], ensure_ascii=False, newline="\n", bom=True)
def test_jsonl_round_trip_of_any_unicode_text(tmp_path_factory, texts, ensure_ascii, newline, bom):
    path = tmp_path_factory.mktemp("roundtrip") / "t.jsonl"
    rows = [{"id": str(i), "text": text} for i, text in enumerate(texts)]
    write_jsonl(path, rows, ensure_ascii, newline, bom)
    assert list(read_table(path)) == list(enumerate(rows, start=1))


@FAST
@given(texts=st.lists(csv_cells, min_size=1, max_size=5))
@example(texts=['multi\nline "quoted", with commas\r\nand\u2028more'])
def test_csv_round_trip_of_any_unicode_text(tmp_path_factory, texts):
    path = tmp_path_factory.mktemp("roundtrip") / "t.csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "text"])
    writer.writerows([f"n{i}", text] for i, text in enumerate(texts))
    path.write_bytes(buffer.getvalue().encode())
    assert [row for _, row in read_table(path)] == [{"id": f"n{i}", "text": t} for i, t in enumerate(texts)]


# --- metrics -----------------------------------------------------------------------------------

CODES = ["I10", "E11.9", "J18.9", "R05.9", "Z80.3"]
code_sets = st.lists(st.sampled_from(CODES), max_size=3, unique=True)


@st.composite
def gold_and_preds(draw, n_preds: int = 1) -> tuple[list[list[str]], ...]:
    """Gold code sets and `n_preds` prediction lists, each pair with two or more distinct codes.

    (sklearn, the cross-check below, scores a single code as a binary task.)
    """
    n = draw(st.integers(1, 12))
    gold, *preds = [draw(st.lists(code_sets, min_size=n, max_size=n)) for _ in range(1 + n_preds)]
    for pred in preds:
        assume(len({code for row in gold + pred for code in row}) >= 2)
    return gold, *preds


golds = st.lists(code_sets, min_size=1, max_size=12).filter(lambda gold: any(gold))


def reference_metrics(gold: list[list[str]], pred: list[list[str]]) -> dict[str, float]:
    """The metrics counted by hand on code sets, as the coding_metrics docstring defines them."""
    pairs = [(set(g), set(p)) for g, p in zip(gold, pred, strict=True)]
    tp = sum(len(g & p) for g, p in pairs)
    fp = sum(len(p - g) for g, p in pairs)
    fn = sum(len(g - p) for g, p in pairs)
    per_code = []
    for code in sorted({code for g, p in pairs for code in g | p}):
        c_tp = sum(code in g and code in p for g, p in pairs)
        c_wrong = sum((code in g) != (code in p) for g, p in pairs)
        per_code.append(2 * c_tp / (2 * c_tp + c_wrong))
    exact = sum(g == p for g, p in pairs) / len(pairs)
    return {
        "micro_f1": 2 * tp / (2 * tp + fp + fn),
        "macro_f1": sum(per_code) / len(per_code),
        "micro_precision": tp / (tp + fp) if tp + fp else 0.0,
        "micro_recall": tp / (tp + fn) if tp + fn else 0.0,
        "exact_match": exact,
        "audit_failure_rate": 1.0 - exact,
        "code_error_rate": (fp + fn) / (tp + fp + fn) if tp + fp + fn else 0.0,
    }


@FAST
@given(gold_and_preds())
def test_metrics_are_fractions_and_exact_match_complements_audit_failures(data):
    metrics = coding_metrics(*data)
    assert set(metrics) == set(METRIC_KEYS)
    assert all(0.0 <= value <= 1.0 for value in metrics.values())
    assert math.isclose(metrics["exact_match"] + metrics["audit_failure_rate"], 1.0)
    # Pooled counts: the codes to delete or add are 1 - Jaccard, a function of micro-F1 alone.
    f1 = metrics["micro_f1"]
    if f1 or metrics["code_error_rate"]:
        assert math.isclose(metrics["code_error_rate"], 1 - f1 / (2 - f1), abs_tol=1e-12)


@FAST
@given(gold_and_preds())
def test_metrics_match_counting_by_hand(data):
    assert coding_metrics(*data) == pytest.approx(reference_metrics(*data))


@FAST
@given(gold_and_preds())
def test_metrics_agree_with_sklearn(data):
    """sklearn's multi-label scores as the reference, where they are defined (2+ codes)."""
    from sklearn.metrics import f1_score, precision_score, recall_score
    from sklearn.preprocessing import MultiLabelBinarizer

    gold, pred = data
    binarizer = MultiLabelBinarizer().fit(gold + pred)
    y_true, y_pred = binarizer.transform(gold), binarizer.transform(pred)
    metrics = coding_metrics(gold, pred)
    for key, score in (("f1", f1_score), ("precision", precision_score), ("recall", recall_score)):
        assert metrics[f"micro_{key}"] == pytest.approx(
            score(y_true, y_pred, average="micro", zero_division=0)
        )
    assert metrics["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=0))


@FAST
@given(gold_and_preds(), st.randoms(use_true_random=False))
def test_metrics_do_not_depend_on_note_order(data, rng: random.Random):
    pairs = list(zip(*data, strict=True))
    rng.shuffle(pairs)
    shuffled = [g for g, _ in pairs], [p for _, p in pairs]
    assert coding_metrics(*shuffled) == pytest.approx(coding_metrics(*data))


@FAST
@given(golds)
def test_perfect_predictions_score_one(gold):
    metrics = coding_metrics(gold, [list(reversed(row)) for row in gold])
    errors = {"audit_failure_rate", "code_error_rate"}
    assert metrics == {key: 0.0 if key in errors else 1.0 for key in METRIC_KEYS}


def test_metrics_with_a_single_distinct_code():
    gold, pred = [[], []], [["I10"], []]  # one false positive, nothing right
    assert coding_metrics(gold, pred) == pytest.approx(reference_metrics(gold, pred))


def test_metrics_without_any_code():
    assert coding_metrics([[], []], [[], []])["exact_match"] == 1.0


@FAST
@given(gold_and_preds(n_preds=2))
def test_coding_delta_is_tuned_minus_base_in_points(data):
    gold, base_pred, tuned_pred = data
    base, tuned = coding_metrics(gold, base_pred), coding_metrics(gold, tuned_pred)
    delta = coding_delta(base, tuned)
    for key in METRIC_KEYS:
        assert delta[key] == round(100.0 * (tuned[key] - base[key]), 4)
        assert delta[key] == -coding_delta(tuned, base)[key]
    before, after = base["audit_failure_rate"], tuned["audit_failure_rate"]
    relative = delta["audit_failure_relative_change"]
    # A relative change r means after = before * (1 + r); no failures before reports 0.
    if before:
        assert after == pytest.approx(before * (1 + relative))
    else:
        assert relative == 0.0


@FAST
@given(gold_and_preds())
def test_coding_delta_of_a_run_against_itself_is_zero(data):
    metrics = coding_metrics(*data)
    assert set(coding_delta(metrics, metrics).values()) == {0.0}


@FAST
@given(golds, st.data())
def test_perfect_tuning_removes_every_audit_failure(gold, data):
    pred = data.draw(st.lists(code_sets, min_size=len(gold), max_size=len(gold)))
    base = coding_metrics(gold, pred)
    assume(base["audit_failure_rate"] > 0)
    delta = coding_delta(base, coding_metrics(gold, gold))
    assert delta["audit_failure_relative_change"] == -1.0 and delta["code_error_relative_change"] == -1.0
