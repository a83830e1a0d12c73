"""Summarisation metrics and the fact extractor, against hand-computed values."""

from __future__ import annotations

import pytest

from src.tasks.summarization.facts import extract_facts, fact_key, facts_kept
from src.tasks.summarization.metrics import (
    METRIC_KEYS,
    fact_recall_by_kind,
    is_brief_prose,
    is_numbered_impression,
    names_procedure_and_diagnosis,
    summary_metric_delta,
    summary_metrics,
)

REFERENCE = "1. Small left pleural effusion measuring 1.2 cm.\n2. No pneumothorax."


def _facts(text: str) -> set[tuple[str, str]]:
    return {(f["kind"], f["text"]) for f in extract_facts(text)}


def test_extractor_reads_each_kind():
    assert _facts(REFERENCE) == {
        ("laterality", "left pleural effusion"),
        ("diagnosis", "pleural effusion"),
        ("measurement", "1.2 cm"),
        ("negation", "no pneumothorax"),
    }
    assert _facts("No evidence of acute intracranial hemorrhage, mass effect, or midline shift.") == {
        ("negation", "no acute intracranial hemorrhage"),
        ("negation", "no mass effect"),
        ("negation", "no midline shift"),
    }
    assert _facts("Laparoscopic R inguinal hernia repair; EBL 20 cc.") == {
        ("laterality", "right inguinal"),
        ("diagnosis", "inguinal hernia"),
        ("procedure", "hernia repair"),
        ("measurement", "20 mL"),
    }
    assert _facts("Mass 3.2 cm x 2.1 cm; acute appendicitis s/p appendectomy.") == {
        ("diagnosis", "mass"),
        ("measurement", "3.2 x 2.1 cm"),
        ("diagnosis", "appendicitis"),
        ("procedure", "appendectomy"),
    }


def test_matching_normalises_case_units_sides_and_fillers():
    facts = extract_facts(REFERENCE)
    shouted = "1. SMALL L PLEURAL EFFUSION, 12 millimeters.\n2. No evidence of pneumothorax."
    assert all(facts_kept(facts, shouted))
    assert all(facts_kept(facts, "Pleural effusion on the left (12 mm). No pneumothorax."))
    key = fact_key({"kind": "negation", "text": "no acute fracture"})
    assert key == fact_key({"kind": "negation", "text": "no fracture"})


def test_dropping_a_laterality_loses_exactly_that_fact():
    facts = extract_facts(REFERENCE)
    kept = facts_kept(facts, "1. Small pleural effusion measuring 1.2 cm.\n2. No pneumothorax.")
    assert [f["kind"] for f, k in zip(facts, kept, strict=True) if not k] == ["laterality"]
    wrong_side = facts_kept(facts, "1. Small right pleural effusion measuring 1.2 cm.\n2. No pneumothorax.")
    assert [f["kind"] for f, k in zip(facts, wrong_side, strict=True) if not k] == ["laterality"]


def test_a_flipped_negation_counts_as_missing():
    facts = extract_facts(REFERENCE)
    kept = facts_kept(facts, "1. Small left pleural effusion measuring 1.2 cm.\n2. Small pneumothorax.")
    assert [f["text"] for f, k in zip(facts, kept, strict=True) if not k] == ["no pneumothorax"]
    # and a negated diagnosis does not count as stating it
    assert facts_kept([{"kind": "diagnosis", "text": "pneumonia"}], "No pneumonia.") == [False]


def test_numbered_impression_detection():
    assert is_numbered_impression("1. No acute intracranial hemorrhage.")
    assert is_numbered_impression("1. Right lower lobe pneumonia.\n2. No pleural effusion.")
    assert is_numbered_impression("1. Nodule measuring 1.2 cm. 2. No effusion.")  # one line
    assert not is_numbered_impression("Right lower lobe pneumonia.")
    assert not is_numbered_impression("1. Pneumonia.\n3. Effusion.")
    assert not is_numbered_impression("IMPRESSION: 1. Pneumonia.")


def test_discharge_and_operative_forms():
    assert is_brief_prose("67-year-old man admitted with pneumonia. Given ceftriaxone. Discharged home.")
    assert not is_brief_prose("1. Pneumonia.")
    assert not is_brief_prose("DISCHARGE DIAGNOSES: pneumonia.")
    assert not is_brief_prose(" ".join(["Sentence one."] * 6))
    assert names_procedure_and_diagnosis("Laparoscopic appendectomy for acute appendicitis. EBL 10 mL.")
    assert not names_procedure_and_diagnosis("Laparoscopic appendectomy. EBL 10 mL.")


def test_identical_outputs_score_one_and_metrics_are_fractions():
    refs = [REFERENCE, "Laparoscopic cholecystectomy for cholecystitis. EBL 20 mL; no complications."]
    scores = summary_metrics(refs, refs, ["radiology", "operative"])
    assert set(scores) == set(METRIC_KEYS)
    assert scores == {key: 1.0 for key in METRIC_KEYS}
    worse = summary_metrics(refs, ["Pneumothorax.", "Something else entirely."], ["radiology", "operative"])
    assert all(0.0 <= value <= 1.0 for value in worse.values())
    assert worse["structure_compliance"] == 0.0


def test_fact_recall_pools_facts_over_examples():
    refs = [REFERENCE, "Laparoscopic cholecystectomy for cholecystitis."]  # 4 + 2 facts
    outputs = ["1. Small pleural effusion measuring 1.2 cm.\n2. No pneumothorax.", "Cholecystectomy."]
    scores = summary_metrics(refs, outputs, ["radiology", "operative"])
    assert scores["fact_recall"] == pytest.approx(4 / 6)  # lost: the side, the diagnosis
    by_kind = fact_recall_by_kind([extract_facts(r) for r in refs], outputs)
    assert by_kind["laterality"] == 0.0 and by_kind["measurement"] == 1.0
    assert by_kind["diagnosis"] == pytest.approx(1 / 2) and by_kind["procedure"] == 1.0


def test_given_facts_are_used_instead_of_extracted_ones():
    facts = [[{"kind": "measurement", "text": "5 mm"}]]
    assert summary_metrics(["A 5 mm stone."], ["Stone of 0.5 cm."], "radiology", facts)["fact_recall"] == 1.0


def test_delta_is_in_points_with_the_relative_change_in_missed_facts():
    base = {"rouge1": 0.2, "rouge2": 0.1, "rougeL": 0.2, "structure_compliance": 0.5, "fact_recall": 0.5}
    tuned = {"rouge1": 0.4, "rouge2": 0.2, "rougeL": 0.35, "structure_compliance": 1.0, "fact_recall": 0.8}
    delta = summary_metric_delta(base, tuned)
    assert delta["rouge1"] == pytest.approx(20.0) and delta["structure_compliance"] == pytest.approx(50.0)
    assert delta["missed_facts_relative_change"] == pytest.approx((0.2 - 0.5) / 0.5)
