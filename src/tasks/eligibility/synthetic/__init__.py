"""Deterministic synthetic clinical-trial eligibility screening pairs (patient record, trial criteria).

Each row pairs one trial of a fixed catalogue (`TRIALS`, written as on a ClinicalTrials.gov page: a
title line, then "Inclusion Criteria:" and "Exclusion Criteria:" bullet lists) with a structured
patient summary, and carries the gold label and one label per criterion. A pair is built in two
steps. First the patient *facts* (`PatientFacts`: age, sex, diagnoses and procedures with dates,
medications with start and stop dates, dated measurements, family history, ruled-out findings,
pregnancy and smoking status) are sampled for the trial; then they are rendered into text with
varied templates (`render_patient`). The labels come from the facts alone (`decide`), never from
the text, and every fact a criterion reads is written in the text.

This module holds the entry points and re-exports what callers read the pairs with. The parts:
catalogue_patients.py and catalogue_trials.py (the tables: conditions, drugs, measures, trials,
scenario shares), patient_facts.py (the facts), trial_criteria.py and history_criteria.py (the
criteria and `decide`), pair_sampling.py (one pair), rendering.py (the texts).

Label rules the generator applies exactly (`decide`):
  * eligible iff every inclusion criterion is "met" and no exclusion criterion is "met";
  * a criterion is a statement about the patient and "met" means the statement holds, so a "met"
    exclusion criterion excludes the patient;
  * "unknown" only when the measurement a criterion reads is absent from the record (no HbA1c, no
    echocardiogram, ...). An unknown inclusion criterion is not met, so a missing required lab makes
    the patient not eligible; an unknown exclusion does not exclude (age, sex and smoking history are
    always documented, so exclusions are never unknown). Diagnoses, procedures and medications
    missing from the record are absent ("not met"), never "unknown";
  * numeric bounds are inclusive exactly as written: "≥ 45" and "25–75" include 45 and 25, "< 6.5"
    excludes 6.5; "ALT ≤ 3 × ULN (≤ 120 U/L)" compares the value in U/L;
  * a condition counts only as the patient's own diagnosis or procedure: a mention in the family
    history or as ruled out never counts. "History of ..." criteria also count resolved episodes;
    the others ("Active hepatitis B or C", "Untreated brain metastases") count unresolved ones only;
  * washouts, "... within N days before screening": met when a drug of that class is current or was
    stopped on or after the screening date minus N days (stopped N days before is within, N + 1 is not);
  * "stable ... for at least N days": a current drug of the class started on or before the screening
    date minus N days (N days is enough, N - 1 is not); "at least 2" counts distinct drugs;
  * "prior" therapy means a course with a stop date; "prior or current" also counts ongoing drugs;
  * "Pregnant or breastfeeding women" reads the pregnancy status, which records of women aged 50 or
    younger always state; for men and older women it is not met;
  * dates count from the screening date on the first line of every record (`SCREENING_DATE`).

Mix of pairs (each pair from its own random stream, `SCENARIOS`): clean eligible; eligible near
misses (a value exactly at a bound, a washout that ended N + 1 days ago, an excluded condition only in
the family history or ruled out, a resolved episode where only active disease excludes); excluded
near misses (a value one step outside a bound such as eGFR 44 for "≥ 45" or age 76 for "18–75", a
washout that ended N or N - 1 days ago, a required diagnosis only in the family history or ruled
out); one or two clear violations; a missing required measurement. Decoys that change no label
(relatives' and ruled-out conditions, drug courses stopped long before a washout) are added to pairs
of every label so that their mere mention carries no signal.

Seed 0, 7,000 rows (`generate_pairs(7000, 0, "train")`, about 3 s on one core): 30.0% eligible,
25.6% decisive near misses (pairs with a `near_miss`: 13.5% eligible, 12.1% excluded), 10.2% with a
missing required measurement.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from src.tasks.eligibility.synthetic.catalogue_patients import MEASURES
from src.tasks.eligibility.synthetic.catalogue_trials import TRIALS
from src.tasks.eligibility.synthetic.history_criteria import ConditionCriterion
from src.tasks.eligibility.synthetic.pair_sampling import EligibilityPair, conforming_facts, sample_pair
from src.tasks.eligibility.synthetic.patient_facts import PatientFacts, format_value
from src.tasks.eligibility.synthetic.rendering import make_row, render_criteria, render_patient
from src.tasks.eligibility.synthetic.trial_criteria import (
    ELIGIBLE,
    EXCLUDED,
    MET,
    NOT_MET,
    UNKNOWN,
    Threshold,
    decide,
)

# The generator's public face: the entry points, and what tests and callers read the pairs with.
__all__ = [
    "ELIGIBLE",
    "EXCLUDED",
    "GENERATOR_VERSION",
    "MEASURES",
    "MET",
    "NOT_MET",
    "TRIALS",
    "UNKNOWN",
    "ConditionCriterion",
    "EligibilityPair",
    "PatientFacts",
    "Threshold",
    "conforming_facts",
    "decide",
    "format_value",
    "generate_eligibility_dataset",
    "generate_eligibility_rows",
    "generate_pairs",
    "make_row",
    "render_criteria",
    "render_patient",
]

GENERATOR_VERSION = "1.0.0"


def generate_pairs(n: int, seed: int, id_prefix: str) -> list[EligibilityPair]:
    """The rows of `generate_eligibility_rows` with the facts and the planted scenario behind each."""
    pairs = []
    for i in range(n):
        # one stream per pair: a pair never depends on how many precede it
        rng = random.Random(f"medtune-eligibility:{seed}:{id_prefix}:{i}")
        pairs.append(sample_pair(rng, f"{id_prefix}-{i:05d}"))
    return pairs


def generate_eligibility_rows(n: int, seed: int, id_prefix: str) -> list[dict]:
    """n rows {"id", "patient", "criteria", "label", "criteria_labels"}; same (n, seed), same rows."""
    return [pair.row for pair in generate_pairs(n, seed, id_prefix)]


def generate_eligibility_dataset(folder: Path, seed: int, n_train: int, n_eval: int) -> None:
    """Writes folder/train.jsonl and folder/eval.jsonl (ids "train-..." and "eval-...", disjoint streams)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("eval", n_eval)):
        with open(folder / f"{split}.jsonl", "w", encoding="utf-8", newline="\n") as f:
            for row in generate_eligibility_rows(n, seed, split):
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
