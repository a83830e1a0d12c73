"""The keyword baseline: matching behaviour, and that the synthetic traps defeat it."""

from __future__ import annotations

import json

from sklearn.metrics import f1_score
from sklearn.preprocessing import MultiLabelBinarizer

from src.tasks.coding.keyword_baseline import keyword_predict, micro_prf
from src.tasks.coding.synthetic import CODE_TERMS, generate_coding_dataset


def test_matches_whole_words_case_insensitively():
    terms = {"I10": ["HTN", "hypertension"], "I48.91": ["AF", "AFib"], "Z95.1": ["s/p CABG"]}
    preds = keyword_predict(
        [
            "hx of htn, stable",
            "HTNX is not a word; neither is AFX",
            "Paroxysmal AFib.",
            "S/P CABG x3 (2015)",
            "nothing relevant",
        ],
        terms,
    )
    assert preds == [["I10"], [], ["I48.91"], ["Z95.1"], []]


def test_empty_terms_and_texts():
    assert keyword_predict([], {"I10": ["HTN"]}) == []
    assert keyword_predict(["HTN"], {"I10": []}) == [[]]


def test_micro_prf_by_set_arithmetic():
    scores = micro_prf([["A", "B"], ["C"]], [["A"], ["C", "D"]])
    assert scores["precision"] == 2 / 3 and scores["recall"] == 2 / 3
    assert abs(scores["f1"] - 2 / 3) < 1e-12


def test_keyword_baseline_is_clearly_imperfect_on_synthetic_notes(tmp_path):
    generate_coding_dataset(tmp_path, seed=0, n_train=10, n_eval=1000)
    rows = [json.loads(line) for line in (tmp_path / "eval.jsonl").read_text().splitlines()]
    gold = [r["codes"] for r in rows]
    pred = keyword_predict([r["text"] for r in rows], CODE_TERMS)

    binarizer = MultiLabelBinarizer().fit(gold + pred)
    f1 = f1_score(binarizer.transform(gold), binarizer.transform(pred), average="micro")
    scores = micro_prf(gold, pred)
    share_with_false_positive = sum(bool(set(p) - set(g)) for g, p in zip(gold, pred, strict=True)) / len(
        rows
    )
    print(
        f"\nkeyword baseline on 1,000 notes: micro-F1 {f1:.3f} "
        f"(precision {scores['precision']:.3f}, recall {scores['recall']:.3f}); "
        f"notes with a false positive: {share_with_false_positive:.1%}"
    )
    assert abs(f1 - scores["f1"]) < 1e-9
    assert 0.3 < f1 < 0.75
    assert share_with_false_positive > 0.5  # traps are common, not a corner case
