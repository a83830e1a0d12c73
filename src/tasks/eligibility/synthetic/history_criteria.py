"""Trial criteria on the patient's history: own diagnoses and procedures, and drug courses.

Same contract as trial_criteria.Criterion: a status read from the facts, and facts rewritten to
reach a status, clearly or at the edge ("ruled out", "washout ended N + 1 days ago", ...).
"""

from __future__ import annotations

from src.tasks.eligibility.synthetic.catalogue_patients import CONDITIONS, DRUGS, RELATIVES
from src.tasks.eligibility.synthetic.patient_facts import (
    Medication,
    PatientFacts,
    diagnosis_years_ago,
    drugs_with,
)
from src.tasks.eligibility.synthetic.trial_criteria import MET, NOT_MET, Criterion


class ConditionCriterion(Criterion):
    """The patient's own diagnosis or procedure: "History of pancreatitis", "Documented atrial fibrillation".

    history: a resolved episode counts ("History of ..."); otherwise only unresolved entries do.
    """

    def __init__(self, key: str, conditions: tuple[str, ...], text: str, *, history: bool = False):
        self.key, self.conditions, self.text, self.history = key, conditions, text, history
        self.touches = frozenset(conditions)

    def status(self, facts):
        return MET if facts.has_condition(self.conditions, count_resolved=self.history) else NOT_MET

    def _resolvable(self) -> list[str]:
        return [c for c in self.conditions if CONDITIONS[c].resolved]

    def _traps(self) -> list[tuple[str, str]]:
        """(kind, condition): mentions that name the condition without making the status met."""
        traps = []
        for c in self.conditions:
            info = CONDITIONS[c]
            if info.familial and not info.procedure:
                traps.append(("family_history", c))
            if info.ruled_out:
                traps.append(("ruled_out", c))
            if info.resolved and not self.history:
                traps.append(("resolved", c))
        return traps

    def can_near(self, met):
        return bool(self._resolvable()) if met and self.history else not met and bool(self._traps())

    def make(self, rng, facts, trial, met, near=False):
        facts.remove_conditions(self.conditions)
        if met and near:  # a resolved episode still counts as "history of"
            facts.add_diagnosis(
                rng.choice(self._resolvable()), diagnosis_years_ago(rng, facts, None), resolved=True
            )
            return "resolved_history"
        if met:
            c = rng.choice(self.conditions)
            facts.add_diagnosis(c, diagnosis_years_ago(rng, facts, c))
            return None
        if not near:
            return None
        kind, c = rng.choice(self._traps())
        if kind == "family_history":
            facts.add_family(rng.choice(RELATIVES), c)
        elif kind == "ruled_out":
            facts.add_ruled_out(c)
        else:
            facts.add_diagnosis(c, diagnosis_years_ago(rng, facts, None), resolved=True)
        return kind

    def decoy(self, rng, facts):
        options = [
            (kind, c)
            for kind, c in self._traps()
            if kind == "family_history" or (kind == "ruled_out" and not facts.has_condition((c,)))
        ]
        if options:
            kind, c = rng.choice(options)
            if kind == "family_history":
                facts.add_family(rng.choice(RELATIVES), c)
            else:
                facts.add_ruled_out(c)


class Washout(Criterion):
    """Exclusion: treatment with a drug of a class within N days before screening (a washout)."""

    def __init__(self, key: str, tag: str, days: int, text: str):
        self.key, self.tag, self.days, self.text = key, tag, days, text
        self.touches = frozenset(drugs_with(tag))

    def _within(self, facts: PatientFacts, m: Medication) -> bool:
        return self.tag in DRUGS[m.drug][1] and (m.stop is None or m.stop >= facts.days_ago(self.days))

    def status(self, facts):
        return MET if any(self._within(facts, m) for m in facts.medications) else NOT_MET

    def can_near(self, met):
        return True

    def _add_course(self, rng, facts, stopped_days_ago: int | None) -> None:
        start = (stopped_days_ago or 0) + rng.randint(30, 700)
        facts.add_medication(rng.choice(drugs_with(self.tag)), start, stopped_days_ago)

    def make(self, rng, facts, trial, met, near=False):
        # older courses stay: they may be the prior lines of therapy another criterion requires
        facts.medications = [m for m in facts.medications if not self._within(facts, m)]
        if near:
            stopped = rng.choice((self.days, self.days - 1) if met else (self.days + 1, self.days + 2))
            self._add_course(rng, facts, stopped)
            return "washout_within" if met else "washout_ended"
        if met:
            stopped = None if rng.random() < 0.5 else rng.randint(3, self.days * 2 // 3)
            self._add_course(rng, facts, stopped)
        elif rng.random() < 0.3:
            self._add_course(rng, facts, rng.randint(self.days + 30, self.days + 700))
        return None

    def decoy(self, rng, facts):
        # a course that ended long before the window: mentioned, changes nothing
        self._add_course(rng, facts, rng.randint(self.days + 60, self.days + 900))


class StableMedication(Criterion):
    """Inclusion: on a drug of a class (or `count` drugs) at a stable dose for at least N days."""

    def __init__(self, key: str, tag: str, days: int, text: str, count: int = 1):
        self.key, self.tag, self.days, self.text, self.count = key, tag, days, text, count
        self.touches = frozenset(drugs_with(tag))

    def status(self, facts):
        since = facts.days_ago(self.days)
        stable = {m.drug for m in facts.courses(self.tag) if m.stop is None and m.start <= since}
        return MET if len(stable) >= self.count else NOT_MET

    def can_near(self, met):
        return True

    def make(self, rng, facts, trial, met, near=False):
        facts.remove_medications(self.tag)
        drugs = rng.sample(drugs_with(self.tag), self.count)
        for drug in drugs[:-1]:
            facts.add_medication(drug, rng.randint(self.days + 20, self.days + 2000))
        last = drugs[-1]
        if near:
            facts.add_medication(last, self.days if met else self.days - 1)
            return "stable_exactly" if met else "stable_too_short"
        if met:
            facts.add_medication(last, rng.randint(self.days + 20, self.days + 2000))
        elif rng.random() < 0.5:  # started recently
            facts.add_medication(last, rng.randint(1, self.days // 2))
        elif rng.random() < 0.5:  # stopped before screening
            stopped = rng.randint(20, 400)
            facts.add_medication(last, stopped + rng.randint(60, 900), stopped)
        return None


class PriorTherapy(Criterion):
    """A course of a drug class: prior (stopped) only, or also current with include_current."""

    def __init__(self, key: str, tag: str, text: str, *, include_current: bool = False):
        self.key, self.tag, self.text, self.include_current = key, tag, text, include_current
        self.touches = frozenset(drugs_with(tag))

    def status(self, facts):
        counted = [m for m in facts.courses(self.tag) if self.include_current or m.stop is not None]
        return MET if counted else NOT_MET

    def make(self, rng, facts, trial, met, near=False):
        facts.remove_medications(self.tag)
        if met:
            # ended 60+ days before screening: never inside an anticancer washout
            current = self.include_current and rng.random() < 0.3
            stopped = None if current else rng.randint(60, 360)
            facts.add_medication(
                rng.choice(drugs_with(self.tag)), (stopped or 0) + rng.randint(60, 180), stopped
            )
        return None
