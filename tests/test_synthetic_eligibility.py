"""The synthetic eligibility generator: determinism, schema, class balance and the label rules."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from src.tasks.eligibility.synthetic import (
    ELIGIBLE,
    EXCLUDED,
    MEASURES,
    MET,
    NOT_MET,
    TRIALS,
    UNKNOWN,
    ConditionCriterion,
    PatientFacts,
    Threshold,
    conforming_facts,
    decide,
    format_value,
    generate_eligibility_dataset,
    generate_eligibility_rows,
    generate_pairs,
    make_row,
    render_criteria,
    render_patient,
)

ROW_KEYS = {"id", "patient", "criteria", "label", "criteria_labels"}
BY_CRITERIA_TEXT = {render_criteria(t): t for t in TRIALS.values()}


@pytest.fixture(scope="module")
def pairs():
    """2,000 pairs with seed 0 (about a second)."""
    return generate_pairs(2000, 0, "train")


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _facts(trial_name: str, seed: int = 1) -> PatientFacts:
    facts = conforming_facts(TRIALS[trial_name], random.Random(seed))
    assert decide(TRIALS[trial_name], facts)[0] == ELIGIBLE  # every test starts from an eligible patient
    return facts


def _label(trial_name: str, facts: PatientFacts) -> tuple[str, dict[str, str]]:
    return decide(TRIALS[trial_name], facts)


# ---------------------------------------------------------------------------------------------
# Determinism, schema, splits, balance
# ---------------------------------------------------------------------------------------------


def test_same_seed_gives_identical_rows_and_files(tmp_path):
    assert generate_eligibility_rows(80, 3, "train") == generate_eligibility_rows(80, 3, "train")
    assert generate_eligibility_rows(80, 3, "train") != generate_eligibility_rows(80, 4, "train")
    a, b = tmp_path / "a", tmp_path / "b"
    generate_eligibility_dataset(a, seed=3, n_train=50, n_eval=20)
    generate_eligibility_dataset(b, seed=3, n_train=50, n_eval=20)
    for name in ("train.jsonl", "eval.jsonl"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_a_row_does_not_depend_on_how_many_rows_precede_it():
    assert generate_eligibility_rows(30, 0, "train")[:10] == generate_eligibility_rows(10, 0, "train")


def test_schema(pairs):
    for pair in pairs:
        row = pair.row
        assert set(row) == ROW_KEYS
        assert re.fullmatch(r"train-\d{5}", row["id"])
        assert row["label"] in (ELIGIBLE, EXCLUDED)
        trial = BY_CRITERIA_TEXT[row["criteria"]]
        assert list(row["criteria_labels"]) == [c.key for c in trial.criteria]
        assert set(row["criteria_labels"].values()) <= {MET, NOT_MET, UNKNOWN}
        assert row["patient"].startswith("Screening date: ")


def test_criterion_keys_are_unique_within_each_trial():
    for trial in TRIALS.values():
        keys = [c.key for c in trial.criteria]
        assert len(keys) == len(set(keys)), trial.name


def test_dataset_files_have_unique_ids_and_disjoint_splits(tmp_path):
    generate_eligibility_dataset(tmp_path, seed=0, n_train=300, n_eval=100)
    train, eval_rows = _read(tmp_path / "train.jsonl"), _read(tmp_path / "eval.jsonl")
    assert (len(train), len(eval_rows)) == (300, 100)
    ids = [r["id"] for r in train + eval_rows]
    assert len(ids) == len(set(ids))
    assert all(r["id"].startswith("train-") for r in train)
    assert all(r["id"].startswith("eval-") for r in eval_rows)
    assert not {r["patient"] for r in train} & {r["patient"] for r in eval_rows}


def test_class_balance_and_near_miss_share(pairs):
    eligible = sum(p.row["label"] == ELIGIBLE for p in pairs) / len(pairs)
    near = sum(p.near_miss is not None for p in pairs) / len(pairs)
    assert 0.25 <= eligible <= 0.35, eligible
    assert 0.20 <= near <= 0.30, near
    by_trial = Counter((p.trial.name, p.row["label"]) for p in pairs)
    for name in TRIALS:  # every trial has both labels
        assert by_trial[name, ELIGIBLE] >= 20 and by_trial[name, EXCLUDED] >= 20, name


def test_label_is_the_rule_applied_to_the_criteria_labels(pairs):
    for pair in pairs:
        labels = pair.row["criteria_labels"]
        eligible = all(labels[c.key] == MET for c in pair.trial.inclusion) and not any(
            labels[c.key] == MET for c in pair.trial.exclusion
        )
        assert pair.row["label"] == (ELIGIBLE if eligible else EXCLUDED), pair.row["id"]


def test_planted_scenarios_give_the_intended_label(pairs):
    for pair in pairs:
        labels = pair.row["criteria_labels"]
        failing = [c.key for c in pair.trial.inclusion if labels[c.key] != MET]
        failing += [c.key for c in pair.trial.exclusion if labels[c.key] == MET]
        expected = ELIGIBLE if pair.scenario in ("eligible", "near_eligible") else EXCLUDED
        assert pair.row["label"] == expected, (pair.row["id"], pair.scenario, failing)
        if pair.scenario in ("near_excluded", "one_violation", "missing_data"):
            assert len(failing) == 1, (pair.row["id"], failing)  # the near miss alone decides
        if pair.scenario == "missing_data":
            assert labels[failing[0]] == UNKNOWN
        assert (pair.near_miss is not None) == (pair.scenario in ("near_eligible", "near_excluded"))


def test_threshold_near_misses_sit_at_or_one_step_from_a_bound(pairs):
    seen = Counter()
    for pair in pairs:
        if pair.near_miss not in ("at_threshold", "one_step_outside", "one_step_inside"):
            continue
        (key,) = pair.planted
        c = next(c for c in pair.trial.criteria if c.key == key)
        value, bounds = pair.facts.value(key), [b for b in (c.lo, c.hi) if b is not None]
        if pair.near_miss == "at_threshold":
            assert value in bounds, (pair.row["id"], key, value)
        else:
            assert min(abs(value - b) for b in bounds) == pytest.approx(c.m.step), (
                pair.row["id"],
                key,
                value,
            )
        seen[pair.near_miss] += 1
    assert seen["at_threshold"] > 50 and seen["one_step_outside"] > 50


def test_relatives_and_ruled_out_mentions_carry_no_label_signal(pairs):
    """Decoys put excluded conditions in the family history or ruled out for every label, not only
    in the eligible near misses, so a model cannot learn "pancreatitis mentioned, so eligible"."""

    def mentions_an_excluded_condition(pair):
        keys = {k for c in pair.trial.exclusion if isinstance(c, ConditionCriterion) for k in c.conditions}
        return any(k in keys for k in pair.facts.ruled_out + [k for _, k in pair.facts.family_history])

    mentioned = [p for p in pairs if mentions_an_excluded_condition(p)]
    overall = sum(p.row["label"] == ELIGIBLE for p in pairs) / len(pairs)
    among = sum(p.row["label"] == ELIGIBLE for p in mentioned) / len(mentioned)
    assert len(mentioned) > 200
    assert abs(among - overall) < 0.15, (among, overall)


# ---------------------------------------------------------------------------------------------
# Label rules on hand-built cases
# ---------------------------------------------------------------------------------------------


def test_conforming_patients_are_eligible_for_every_trial():
    for name, trial in TRIALS.items():
        for seed in range(15):
            label, labels = decide(trial, conforming_facts(trial, random.Random(seed)))
            assert label == ELIGIBLE, (name, seed, labels)


@pytest.mark.parametrize(
    ("trial", "key", "at_bound", "outside"),
    [
        ("t2dm_xr217", "egfr", 45, 44),  # eGFR ≥ 45
        ("t2dm_xr217", "hba1c", 10.5, 10.6),  # HbA1c 7.0–10.5%
        ("t2dm_xr217", "hba1c", 7.0, 6.9),
        ("t2dm_xr217", "age", 75, 76),  # age 18–75
        ("hfref_cv88", "lvef", 40, 41),  # LVEF ≤ 40%
        ("nsclc_onc41", "platelets", 100, 99),
        ("nsclc_onc41", "alt", 120, 121),  # ALT ≤ 3 × ULN (≤ 120 U/L)
        ("nsclc_onc41", "ecog", 1, 2),
        ("asthma_ab9", "eosinophils", 300, 290),  # recorded in steps of 10
        ("htn_as2", "potassium", 3.5, 3.4),  # potassium 3.5–5.0
        ("obesity_ob3", "bmi", 30.0, 29.9),
    ],
)
def test_a_value_at_the_threshold_is_met_and_one_step_outside_is_not(trial, key, at_bound, outside):
    facts = _facts(trial)
    facts.set_value(key, at_bound)
    label, labels = _label(trial, facts)
    assert (label, labels[key]) == (ELIGIBLE, MET)
    facts.set_value(key, outside)
    label, labels = _label(trial, facts)
    assert (label, labels[key]) == (EXCLUDED, NOT_MET)


def test_a_strict_bound_excludes_the_value_written():
    facts = _facts("obesity_ob3")  # HbA1c < 6.5%
    facts.set_value("hba1c", 6.4)
    assert _label("obesity_ob3", facts)[0] == ELIGIBLE
    facts.set_value("hba1c", 6.5)
    assert _label("obesity_ob3", facts)[0] == EXCLUDED


def test_an_exclusion_threshold_excludes_at_the_bound():
    facts = _facts("asthma_ab9")  # exclusion: smoking history ≥ 10 pack-years
    facts.set_value("pack_years", 9)
    assert _label("asthma_ab9", facts)[0] == ELIGIBLE
    facts.set_value("pack_years", 10)
    label, labels = _label("asthma_ab9", facts)
    assert (label, labels["pack_years"]) == (EXCLUDED, MET)


def test_family_history_or_ruled_out_does_not_exclude_but_the_own_diagnosis_does():
    facts = _facts("t2dm_xr217")  # exclusion: history of acute or chronic pancreatitis
    facts.add_family("mother", "pancreatitis")
    facts.add_ruled_out("pancreatitis")
    label, labels = _label("t2dm_xr217", facts)
    assert (label, labels["pancreatitis_history"]) == (ELIGIBLE, NOT_MET)
    text = render_patient(facts).lower()
    assert "mother with acute pancreatitis" in text or "acute pancreatitis (mother)" in text
    assert "pancreatitis ruled out" in text or "no evidence of acute pancreatitis" in text
    facts.add_diagnosis("pancreatitis", years_ago=6, resolved=True)  # "history of" counts a resolved episode
    label, labels = _label("t2dm_xr217", facts)
    assert (label, labels["pancreatitis_history"]) == (EXCLUDED, MET)


def test_only_active_disease_counts_where_the_criterion_says_active():
    facts = _facts("nsclc_onc41")  # exclusion: active hepatitis B or hepatitis C infection
    facts.add_diagnosis("hepatitis_c", years_ago=8, resolved=True)
    assert _label("nsclc_onc41", facts)[1]["hepatitis_bc"] == NOT_MET
    assert "sustained virologic response" in render_patient(facts)
    facts.add_diagnosis("hepatitis_c", years_ago=2)
    label, labels = _label("nsclc_onc41", facts)
    assert (label, labels["hepatitis_bc"]) == (EXCLUDED, MET)


def test_a_required_diagnosis_only_in_the_family_history_is_not_met():
    facts = _facts("copd_tr3")
    facts.remove_conditions(("copd",))
    facts.add_family("father", "copd")
    label, labels = _label("copd_tr3", facts)
    assert (label, labels["copd"]) == (EXCLUDED, NOT_MET)


@pytest.mark.parametrize(("stopped_days_ago", "label"), [(91, ELIGIBLE), (90, EXCLUDED), (89, EXCLUDED)])
def test_washout_boundary(stopped_days_ago, label):
    facts = _facts("t2dm_xr217")  # exclusion: GLP-1 receptor agonist within 90 days before screening
    facts.remove_medications("glp1ra")
    facts.add_medication("liraglutide", started_days_ago=500, stopped_days_ago=stopped_days_ago)
    assert _label("t2dm_xr217", facts)[0] == label
    stop = facts.days_ago(stopped_days_ago).isoformat()
    assert stop in render_patient(facts)  # the stop date the washout is computed from is in the text


def test_a_current_drug_is_inside_any_washout():
    facts = _facts("t2dm_xr217")
    facts.add_medication("semaglutide", started_days_ago=400)
    assert _label("t2dm_xr217", facts)[1]["glp1ra_washout"] == MET


@pytest.mark.parametrize(("started_days_ago", "status"), [(90, MET), (89, NOT_MET)])
def test_stable_dose_boundary(started_days_ago, status):
    facts = _facts("t2dm_xr217")  # inclusion: stable metformin for at least 90 days
    facts.remove_medications("metformin")
    facts.add_medication("metformin", started_days_ago=started_days_ago)
    assert _label("t2dm_xr217", facts)[1]["metformin_stable"] == status


def test_a_missing_required_lab_is_unknown_and_not_eligible():
    facts = _facts("t2dm_xr217")
    del facts.measurements["hba1c"]
    label, labels = _label("t2dm_xr217", facts)
    assert (label, labels["hba1c"]) == (EXCLUDED, UNKNOWN)
    assert "HbA1c" not in render_patient(facts)


def test_pregnancy_excludes():
    facts = _facts("ra_jk4")
    facts.sex, facts.age, facts.pregnancy = "female", 31, "not pregnant"
    assert _label("ra_jk4", facts)[0] == ELIGIBLE
    facts.pregnancy = "breastfeeding"
    assert _label("ra_jk4", facts)[0] == EXCLUDED
    assert "breastfeeding" in render_patient(facts)


def test_every_criterion_can_be_made_met_and_not_met():
    """make() reaches the status it is asked for, clear or at the edge, on every trial."""
    for trial in TRIALS.values():
        for c in trial.criteria:
            for met in (True, False):
                for near in (False, True):
                    if not (c.can_near(met) if near else c.can_make(met)):
                        continue
                    for seed in range(3):
                        rng = random.Random(seed)
                        facts = conforming_facts(trial, rng)
                        c.make(rng, facts, trial, met=met, near=near)
                        assert c.status(facts) == (MET if met else NOT_MET), (trial.name, c.key, met, near)


# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------


def test_criteria_text_is_a_registry_page():
    for trial in TRIALS.values():
        text = render_criteria(trial)
        assert text.splitlines()[0] == trial.title
        inclusion, exclusion = text.index("\nInclusion Criteria:\n"), text.index("\nExclusion Criteria:\n")
        assert inclusion < exclusion
        for c in trial.inclusion:
            assert inclusion < text.index(f"* {c.text}") < exclusion
        for c in trial.exclusion:
            assert text.index(f"* {c.text}") > exclusion
        for c in trial.criteria:  # the numbers a threshold compares with are written
            if isinstance(c, Threshold):
                for bound in (c.lo, c.hi):
                    if bound is not None:
                        assert format_value(c.key, bound) in c.text, c.text


def test_patient_text_states_every_fact_the_labels_read(pairs):
    for pair in pairs[:400]:
        facts, text = pair.facts, pair.row["patient"]
        assert re.search(rf"\b{facts.age}(-year-old| y/o| years)", text)
        for key, m in facts.measurements.items():
            value = format_value(key, m.value)
            if key == "sbp":
                pattern = rf"BP {value}/"
            elif key == "pack_years":
                pattern = "never smoker" if m.value == 0 else rf"\b{value} pack-years?"
            else:
                pattern = rf"{re.escape(MEASURES[key].name)}:? {re.escape(value)}"
            assert re.search(pattern, text), (pair.row["id"], key, value)
        for med in facts.medications:
            assert (med.stop or med.start).isoformat() in text, (pair.row["id"], med)
        for d in facts.history:
            assert d.since.strftime("%Y-%m") in text, (pair.row["id"], d)


def test_make_row_renders_the_facts_it_labels():
    trial = TRIALS["t2dm_xr217"]
    facts = _facts("t2dm_xr217")
    facts.set_value("egfr", 44)
    row = make_row("case-1", trial, facts, random.Random(0))
    assert row["label"] == EXCLUDED and row["criteria_labels"]["egfr"] == NOT_MET
    assert re.search(r"eGFR:? 44 mL/min/1.73m²", row["patient"])
    assert row["criteria"] == render_criteria(trial)
