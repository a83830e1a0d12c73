"""Sampling one synthetic eligibility pair: a trial, a conforming patient, a planted scenario, decoys.

A patient who meets the trial (`conforming_facts`) gets background that no criterion reads, then
one scenario of catalogue_trials.SCENARIOS rewrites the facts of one or two criteria, and decoys
mention what other criteria are about without changing their status.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from src.tasks.eligibility.synthetic.catalogue_patients import CONDITIONS, MEASURES, RELATIVES
from src.tasks.eligibility.synthetic.catalogue_trials import DECOY_RATE, SCENARIOS, TRIALS
from src.tasks.eligibility.synthetic.patient_facts import PatientFacts, diagnosis_years_ago, grid_value
from src.tasks.eligibility.synthetic.rendering import make_row
from src.tasks.eligibility.synthetic.trial_criteria import Criterion, Trial


def _add_background(rng: random.Random, facts: PatientFacts, trial: Trial) -> None:
    """Comorbidities, drugs, labs, smoking and family history that no criterion of the trial reads."""
    blocked = trial.touched
    pool = [
        k
        for k, c in CONDITIONS.items()
        if c.common and k not in blocked and c.sex in (None, facts.sex) and not facts.has_condition((k,))
    ]
    for key in rng.sample(pool, rng.randint(0, 4)):
        info = CONDITIONS[key]
        resolved = info.resolved is not None and rng.random() < 0.6
        facts.add_diagnosis(key, diagnosis_years_ago(rng, facts, key), resolved=resolved)
        drugs = [d for d in info.drugs if d not in blocked]
        if drugs and not resolved and rng.random() < 0.85:
            facts.add_medication(rng.choice(drugs), rng.randint(60, 3000))
    for key, m in MEASURES.items():
        if key not in blocked and rng.random() < m.background:
            facts.set_value(key, grid_value(rng, *m.typical, m), days_ago=rng.randint(3, 45))
    if "pack_years" not in blocked:
        facts.set_value("pack_years", 0 if rng.random() < 0.55 else rng.randint(1, min(50, facts.age - 15)))
    facts.current_smoker = rng.random() < 0.35
    familial = [k for k, c in CONDITIONS.items() if k not in blocked and c.familial and not c.procedure]
    for _ in range(rng.randint(0, 2)):
        facts.add_family(rng.choice(RELATIVES), rng.choice(familial))
    negatable = [
        k for k, c in CONDITIONS.items() if k not in blocked and c.ruled_out and not facts.has_condition((k,))
    ]
    if rng.random() < 0.2:
        facts.add_ruled_out(rng.choice(negatable))


def _finalize(facts: PatientFacts) -> None:
    """Pregnancy status is recorded for women aged 50 or younger only."""
    if facts.sex == "female" and facts.age <= 50:
        facts.pregnancy = facts.pregnancy or "not pregnant"
    else:
        facts.pregnancy = None


def conforming_facts(trial: Trial, rng: random.Random) -> PatientFacts:
    """A patient who meets every inclusion criterion and no exclusion criterion of the trial."""
    facts = PatientFacts(age=40, sex=rng.choice(("female", "male")))
    for c in trial.criteria:
        c.make(rng, facts, trial, met=c in trial.inclusion)
    _add_background(rng, facts, trial)
    _finalize(facts)
    return facts


@dataclass
class EligibilityPair:
    row: dict
    trial: Trial
    facts: PatientFacts
    scenario: str  # a SCENARIOS name
    planted: tuple[str, ...]  # keys of the criteria the scenario rewrote
    near_miss: str | None  # kind of the deciding near miss planted ("at_threshold", "ruled_out", ...)


def sample_pair(rng: random.Random, row_id: str) -> EligibilityPair:
    """A trial, a conforming patient, then one scenario of SCENARIOS planted on it, then decoys."""
    trial = TRIALS[rng.choice(sorted(TRIALS))]
    facts = conforming_facts(trial, rng)
    scenario = rng.choices([s for s, _ in SCENARIOS], [w for _, w in SCENARIOS])[0]
    conform = {c.key: c in trial.inclusion for c in trial.criteria}  # the met-ness of an eligible patient
    planted: list[Criterion] = []
    near_miss = None
    if scenario in ("near_eligible", "near_excluded"):
        flip = scenario == "near_excluded"
        planted = [rng.choice([c for c in trial.criteria if c.can_near(conform[c.key] != flip)])]
        near_miss = planted[0].make(rng, facts, trial, met=conform[planted[0].key] != flip, near=True)
    elif scenario == "missing_data":
        planted = [rng.choice([c for c in trial.inclusion if c.droppable])]
        planted[0].drop(facts)
    elif scenario != "eligible":
        violable = [c for c in trial.criteria if c.can_make(not conform[c.key])]
        planted = [rng.choice(violable)]
        if scenario == "two_violations":
            planted.append(rng.choice([c for c in violable if not c.touches & planted[0].touches]))
        for c in planted:
            c.make(rng, facts, trial, met=not conform[c.key])
    # a decoy never touches what a planted criterion reads (an old platinum course would satisfy
    # "prior platinum" again), so it changes no status
    for c in trial.criteria:
        if not any(c.touches & p.touches for p in planted) and rng.random() < DECOY_RATE:
            c.decoy(rng, facts)
    _finalize(facts)
    row = make_row(row_id, trial, facts, rng)
    return EligibilityPair(row, trial, facts, scenario, tuple(c.key for c in planted), near_miss)
