"""Summarisation metrics and the fact extractor, against hand-computed values."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from src.errors import MedtuneError
from src.metrics import check_main_metric
from src.tasks.summarization.facts import extract_facts, fact_key, facts_kept, unsupported_facts
from src.tasks.summarization.metrics import (
    METRIC_KEYS,
    fact_recall_by_kind,
    is_brief_prose,
    is_numbered_impression,
    names_procedure_and_diagnosis,
    summary_intervals,
    summary_metric_delta,
    summary_metrics,
)
from src.tasks.summarization.reference import lead

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
    scores = summary_metrics(refs, refs, ["radiology", "operative"], sources=refs)
    assert set(scores) == set(METRIC_KEYS)
    assert scores == {key: 0.0 if key == "unsupported_fact_rate" else 1.0 for key in METRIC_KEYS}
    outputs = ["Pneumothorax.", "Something else entirely."]
    worse = summary_metrics(refs, outputs, ["radiology", "operative"], sources=refs)
    assert all(0.0 <= value <= 1.0 for value in worse.values())
    assert worse["structure_compliance"] == 0.0


def test_fact_recall_pools_facts_over_examples():
    refs = [REFERENCE, "Laparoscopic cholecystectomy for cholecystitis."]  # 4 + 2 facts
    outputs = ["1. Small pleural effusion measuring 1.2 cm.\n2. No pneumothorax.", "Cholecystectomy."]
    scores = summary_metrics(refs, outputs, ["radiology", "operative"], sources=refs)
    assert scores["fact_recall"] == pytest.approx(4 / 6)  # lost: the side, the diagnosis
    by_kind = fact_recall_by_kind([extract_facts(r) for r in refs], outputs)
    assert by_kind["laterality"] == 0.0 and by_kind["measurement"] == 1.0
    assert by_kind["diagnosis"] == pytest.approx(1 / 2) and by_kind["procedure"] == 1.0


def test_given_facts_are_used_instead_of_extracted_ones():
    facts = [[{"kind": "measurement", "text": "5 mm"}]]
    scores = summary_metrics(["A 5 mm stone."], ["Stone of 0.5 cm."], "radiology", facts, sources=["5 mm."])
    assert scores["fact_recall"] == 1.0


def test_delta_is_in_points_with_the_relative_change_in_missed_facts():
    base = {"rouge1": 0.2, "rouge2": 0.1, "rougeL": 0.2, "structure_compliance": 0.5, "fact_recall": 0.5}
    tuned = {"rouge1": 0.4, "rouge2": 0.2, "rougeL": 0.35, "structure_compliance": 1.0, "fact_recall": 0.8}
    base["unsupported_fact_rate"], tuned["unsupported_fact_rate"] = 0.3, 0.1
    delta = summary_metric_delta(base, tuned)
    assert delta["rouge1"] == pytest.approx(20.0) and delta["structure_compliance"] == pytest.approx(50.0)
    assert delta["unsupported_fact_rate"] == pytest.approx(-20.0)  # lower is better: fewer, negative
    assert delta["missed_facts_relative_change"] == pytest.approx((0.2 - 0.5) / 0.5)


# -- faithfulness: facts of the output the source note does not state ---------------------------
NOTE = (
    "FINDINGS: Small left pleural effusion measuring 1.2 cm. No pneumothorax. "
    "Heart size is normal.\nIMPRESSION: see above."
)


def _unsupported(output: str, note: str = NOTE) -> list[tuple[str, str]]:
    return [(f["kind"], f["text"]) for f in unsupported_facts(note, output)]


def test_a_side_the_note_does_not_give_is_exactly_one_unsupported_fact():
    output = "1. Small right pleural effusion measuring 12 mm.\n2. No pneumothorax."
    assert _unsupported(output) == [("laterality", "right pleural effusion")]
    assert _unsupported("1. Small left pleural effusion, 12 mm.\n2. No pneumothorax.") == []
    score = summary_metrics([REFERENCE], [output], "radiology", sources=[NOTE])
    assert score["unsupported_fact_rate"] == pytest.approx(1 / 4)  # side, diagnosis, size, negation


def test_a_negated_finding_stated_as_present_is_unsupported():
    assert _unsupported("Small pneumothorax.") == [("diagnosis", "pneumothorax")]
    # and a negation the note does not state is unsupported too
    assert _unsupported("No pneumonia.") == [("negation", "no pneumonia")]


def test_a_measurement_not_in_the_note_is_unsupported():
    assert _unsupported("Left pleural effusion measuring 2.5 cm.") == [("measurement", "2.5 cm")]
    assert _unsupported("Left pleural effusion measuring 12 millimeters.") == []  # the note's 1.2 cm


def test_copying_the_note_states_nothing_unsupported():
    note = NOTE + " Right lower lobe nodule of 4 mm; status post appendectomy. No fracture."
    copied = [lead(note, k) for k in (1, 3, 5)]  # the naive reference: the first k sentences
    for output in [*copied, note]:
        assert extract_facts(output) and _unsupported(output, note) == []
    score = summary_metrics([REFERENCE] * 4, [*copied, note], "radiology", sources=[note] * 4)
    assert score["unsupported_fact_rate"] == 0.0


def test_the_rate_pools_facts_and_leaves_out_outputs_without_facts():
    outputs = ["Right pleural effusion. No pneumothorax.", "Nothing to say here.", "Pneumothorax."]
    # 1: 3 facts (right pleural effusion, pleural effusion, no pneumothorax), 1 unsupported;
    # 2: no facts, left out; 3: 1 fact, unsupported -> 2 of 4
    score = summary_metrics([REFERENCE] * 3, outputs, "radiology", sources=[NOTE] * 3)
    assert score["unsupported_fact_rate"] == pytest.approx(2 / 4)
    nothing = summary_metrics([REFERENCE], ["Nothing to say here."], "radiology", sources=[NOTE])
    assert nothing["unsupported_fact_rate"] == 0.0 and nothing["fact_recall"] == 0.0


def test_the_rate_has_paired_bootstrap_intervals():
    n = 12
    faithful = ["1. Small left pleural effusion.\n2. No pneumothorax."] * n
    invented = ["1. Right pleural effusion of 3 cm.\n2. Pneumothorax."] * (n // 2) + faithful[: n // 2]
    facts = [extract_facts(REFERENCE)] * n
    intervals = summary_intervals(
        [REFERENCE] * n, "radiology", facts, invented, faithful, 200, sources=[NOTE] * n
    )
    low, high = intervals["base"]["unsupported_fact_rate"]
    assert 0.0 < low <= high < 1.0
    assert intervals["tuned"]["unsupported_fact_rate"] == [0.0, 0.0]
    low, high = intervals["delta"]["unsupported_fact_rate"]  # tuned - base, points: fewer unsupported
    assert low <= high < 0.0


def test_a_lower_is_better_main_metric_is_refused():
    with pytest.raises(MedtuneError, match=r"task.main_metric=unsupported_fact_rate is lower-is-better"):
        check_main_metric(OmegaConf.create({"main_metric": "unsupported_fact_rate"}))
    check_main_metric(OmegaConf.create({"main_metric": "rougeL"}))
