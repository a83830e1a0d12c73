"""The naive reference every run scores beside base and tuned: lead-k and the most frequent summary,
the majority class and token overlap, the keyword matcher; the card's verdict and the sweep table.
Fast: no model, no training (the end-to-end runs check metrics.json's block: assert_reference)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from src.console import print_results
from src.metrics import reference_block
from src.model_card import reference_lines
from src.report import report
from src.tasks.coding.keyword_baseline import keyword_reference
from src.tasks.eligibility.reference import eligibility_reference, majority_label, overlap_score
from src.tasks.eligibility.screening import screening_intervals, screening_metrics
from src.tasks.summarization.metrics import summary_intervals, summary_metrics
from src.tasks.summarization.reference import choose_lead_k, lead, most_frequent, summary_reference

SENTENCES = [f"Finding number {word} is stable." for word in ("one", "two", "three", "four", "five", "six")]


def summary_row(i: int, k: int, summary: str | None = None) -> dict:
    """A note of six sentences whose reference summary is its first k (or `summary`)."""
    text = f"{SENTENCES[0]} {SENTENCES[1]}\n" + " ".join(SENTENCES[2:]) + f" Note {i}."
    return {"id": str(i), "text": text, "summary": summary or " ".join(SENTENCES[:k]), "facts": []}


def score(rows: list[dict], outputs: list[str]) -> dict[str, float]:
    sources = [row["text"] for row in rows]
    return summary_metrics(
        [row["summary"] for row in rows], outputs, "discharge", [[] for _ in rows], sources=sources
    )


def paired(rows: list[dict]):
    def intervals(reference: list[str], tuned: list[str]) -> dict:
        summaries = [row["summary"] for row in rows]
        sources = [row["text"] for row in rows]
        return summary_intervals(
            summaries, "discharge", [[] for _ in rows], reference, tuned, 200, sources=sources
        )

    return intervals


# -- summaries ----------------------------------------------------------------------------------
def test_lead_takes_the_first_sentences_and_lines():
    text = "EXAM: CT chest.\nFINDINGS:\nSmall effusion. No pneumothorax! More text"
    assert lead(text, 1) == "EXAM: CT chest."
    assert lead(text, 3) == "EXAM: CT chest. FINDINGS: Small effusion."
    assert lead(text, 9) == "EXAM: CT chest. FINDINGS: Small effusion. No pneumothorax! More text"


def test_lead_k_is_chosen_on_the_validation_slice():
    val = [summary_row(i, 2) for i in range(6)]
    assert choose_lead_k(val, score, "rougeL")[0] == 2
    assert choose_lead_k([summary_row(i, 4) for i in range(6)], score, "rougeL")[0] == 4
    # The evaluation split would pick k=4; the validation slice says 2, and 2 it is.
    rows = SimpleNamespace(
        train=[summary_row(i, 1, summary=f"Unrelated text {i}.") for i in range(4)],
        val=val,
        eval=[summary_row(i, 4) for i in range(8)],
    )
    tuned = [row["summary"] for row in rows.eval]
    block = summary_reference(rows, score, "rougeL", tuned, paired(rows.eval))
    assert block["name"] == "lead-2" and block["chosen_on"] == "validation rougeL"
    assert set(block["candidates"]) == {"lead-2", "most frequent training summary"}
    expected = score(rows.eval, [lead(row["text"], 2) for row in rows.eval])
    assert block["metrics"] == pytest.approx(expected)
    assert block["delta"]["rougeL"] > 0 and block["intervals"]["delta"]["rougeL"][0] > 0  # tuned is the gold


def test_the_most_frequent_summary_wins_when_summaries_repeat():
    assert most_frequent(["b", "a", "a", "b", "c", "a"]) == "a"
    assert most_frequent(["x", "y"]) == "x"  # a tie: the first
    usual = "Stable examination without acute change."
    rows = SimpleNamespace(
        train=[summary_row(i, 1, summary=usual if i % 3 else "Other.") for i in range(9)],
        val=[summary_row(i, 1, summary=usual) for i in range(5)],
        eval=[summary_row(i, 1, summary=usual) for i in range(5)],
    )
    block = summary_reference(rows, score, "rougeL", [usual] * 5, paired(rows.eval))
    assert block["name"] == "most frequent training summary"
    assert block["metrics"]["rougeL"] == pytest.approx(1.0) and block["delta"]["rougeL"] == pytest.approx(0)


# -- eligibility ------------------------------------------------------------------------------------
CRITERIA = "Inclusion Criteria:\n* Adults with asthma\nExclusion Criteria:\n* Current smoker"


def pair(i: int, eligible: bool, record: str) -> dict:
    return {"id": str(i), "criteria": CRITERIA, "patient": record, "label": eligible}


def screened(rows, tuned_scores: np.ndarray) -> dict:
    labels = [row["label"] for row in rows.eval]
    tuned = (tuned_scores, 0.5)
    return eligibility_reference(
        rows,
        "wss_at_target",
        0.95,
        screening_metrics(tuned_scores, labels, 0.5),
        lambda side: screening_intervals(labels, side, tuned, 0.95, n_resamples=200),
    )


def test_token_overlap_reads_inclusion_minus_exclusion_words():
    assert overlap_score(CRITERIA, "Adults clinic: lives with asthma.") == pytest.approx(1.0)
    # "adults", "with", "asthma": one of three; "current", "smoker": both
    assert overlap_score(CRITERIA, "Asthma. Current smoker.") == pytest.approx(1 / 3 - 1.0)
    assert overlap_score(CRITERIA, "Nothing relevant here") == 0.0


def test_the_majority_class_flags_every_pair_and_saves_no_work():
    # Records that say nothing the criteria name: token overlap ties every pair too, no better.
    def split(n: int) -> list[dict]:
        return [pair(i, i % 4 == 0, f"Record {i}") for i in range(n)]

    rows = SimpleNamespace(train=split(20), val=split(12), eval=split(16))
    assert majority_label(rows.train) is False
    block = screened(rows, np.array([0.9 if row["label"] else 0.1 for row in rows.eval]))
    assert block["name"] == "majority class"
    majority = block["candidates"]["majority class"]["metrics"]
    assert majority == block["metrics"]
    assert majority["recall"] == 1.0 and majority["wss_at_target"] == 0.0 and majority["auroc"] == 0.5
    assert majority["accuracy"] == pytest.approx(0.25) and majority["precision"] == pytest.approx(0.25)
    # the tuned scores separate the classes: work saved 0.75 - 0 = 75 points, sure of it
    assert block["delta"]["wss_at_target"] == pytest.approx(75.0)
    assert block["intervals"]["delta"]["wss_at_target"][0] > 0


def test_token_overlap_is_the_reference_where_it_ranks_better_on_validation():
    def split(n: int) -> list[dict]:
        records = {True: "Adults clinic, asthma on inhaler.", False: "Asthma; current smoker."}
        return [pair(i, i % 3 == 0, records[i % 3 == 0]) for i in range(n)]

    rows = SimpleNamespace(train=split(12), val=split(12), eval=split(15))
    block = screened(rows, np.full(15, 0.5))  # a tuned model that flags everything
    assert block["name"] == "token overlap"
    # the threshold from val flags the 5 eligible pairs only: the 10 excluded ones go unread
    assert block["metrics"]["wss_at_target"] == pytest.approx(10 / 15)
    assert block["delta"]["wss_at_target"] == pytest.approx(-100 * 10 / 15)
    assert block["candidates"]["majority class"]["validation"] == 0.0


# -- coding ------------------------------------------------------------------------------------------
def test_keyword_reference_scores_the_matcher_beside_the_tuned_code_sets():
    notes = [("Essential hypertension, stable.", ["I10"]), ("Denies hypertension.", [])] * 5
    rows = SimpleNamespace(
        eval=[{"id": str(i), "text": text, "codes": codes} for i, (text, codes) in enumerate(notes)],
        labels=["I10"],
        descriptions={"I10": "Essential (primary) hypertension"},
    )
    block = keyword_reference(rows, [codes for _, codes in notes], seed=0)
    assert block["name"] == "keyword matcher"
    # "hypertension" in every note: right on the five that have it, wrong on the five negated
    assert block["metrics"]["micro_precision"] == pytest.approx(0.5)
    assert block["metrics"]["exact_match"] == pytest.approx(0.5)
    assert block["delta"]["exact_match"] == pytest.approx(50.0)
    assert block["intervals"]["delta"]["exact_match"][0] > 0


# -- what a reader sees ------------------------------------------------------------------------------
def card_metrics(tuned: float, reference: float, interval: list[float]) -> tuple[dict, dict]:
    metrics = {"main_metric": "micro_f1", "tuned": {"micro_f1": tuned}}
    block = reference_block(
        "keyword matcher",
        "a code when one of its terms occurs",
        {"micro_f1": reference},
        metrics["tuned"],
        {"base": {"micro_f1": [reference - 0.05, reference + 0.05]}, "delta": {"micro_f1": interval}},
    )
    return metrics, block


def test_the_card_says_plainly_when_the_tuned_model_does_not_beat_the_reference():
    text = "\n".join(reference_lines(*card_metrics(0.412, 0.455, [-8.1, -0.2])))
    assert "**The tuned model does not beat the naive reference**" in text
    assert "0.412 tuned vs 0.455 for the reference" in text and "-4.3 pp" in text
    assert "-8.1 to -0.2" in text and "keyword matcher" in text


def test_the_card_says_when_the_tuned_model_beats_the_reference_and_how_surely():
    beats = "\n".join(reference_lines(*card_metrics(0.60, 0.45, [10.0, 20.0])))
    assert "does not beat" not in beats and "The tuned model beats the naive reference" in beats
    unsure = "\n".join(reference_lines(*card_metrics(0.46, 0.45, [-2.0, 4.0])))
    assert "does not beat" not in unsure and "not clearly" in unsure


def test_the_printed_table_has_a_reference_column_and_its_interval(capsys):
    metrics, block = card_metrics(0.412, 0.455, [-8.1, -0.2])
    metrics.update(base={"micro_f1": 0.3}, delta={"micro_f1": 11.2}, reference=block)
    print_results("run", metrics)
    out = capsys.readouterr().out
    assert "reference" in out and "0.4550" in out
    assert "keyword matcher; tuned - reference micro_f1: -4.30 pp (95% interval -8.10 to -0.20)" in out
    del metrics["reference"]  # a run made before references: the table as it was
    print_results("run", metrics)
    assert "reference" not in capsys.readouterr().out


def test_the_sweep_table_has_a_reference_column(tmp_path):
    for job, (size, tuned, reference) in enumerate([(100, 0.5, 0.56), (200, 0.7, 0.56)]):
        folder = tmp_path / f"{job}-n{size}"
        (folder / ".hydra").mkdir(parents=True)
        config = {
            "task": {"name": "toy", "main_metric": "micro_f1"},
            "data": {"train_size": size},
            "lora": {"r": 8},
            "seed": 0,
        }
        (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
        (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"data.train_size={size}"]))
        metrics = {
            "base": {"micro_f1": 0.3},
            "tuned": {"micro_f1": tuned},
            "delta": {"micro_f1": 100 * (tuned - 0.3)},
            "reference": {"name": "keyword matcher", "metrics": {"micro_f1": reference}},
            "timing": {"data_s": 1.0, "base_eval_s": 1.0, "train_s": 5.0},
        }
        (folder / "metrics.json").write_text(json.dumps(metrics))
        (folder / "status.json").write_text(json.dumps({"status": "complete", "wall_s": 10.0}))
    results = report(tmp_path)
    assert list(results.reference_micro_f1) == [0.56, 0.56]
    table = (tmp_path / "results.md").read_text()
    assert "| reference micro_f1 |" in table
    assert table.count("0.5600 (keyword matcher)") == 2  # bold: each size has its one rank
