"""Trial criteria on values and demographics, the trial they make up, and the label rule (`decide`).

Each criterion reads its status from the facts and can rewrite the facts it reads so that its
status becomes met / not met, either clearly or at the edge (a near miss). The criteria on the
patient's history (diagnoses, drug courses) are in history_criteria.py.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from src.tasks.eligibility.synthetic.catalogue_patients import MEASURES
from src.tasks.eligibility.synthetic.patient_facts import PatientFacts, format_value, grid_value, with_unit

MET, NOT_MET, UNKNOWN = "met", "not met", "unknown"
ELIGIBLE, EXCLUDED = "eligible", "excluded"


class Criterion:
    key: str  # the criteria_labels key
    text: str  # the bullet on the registry page
    touches: frozenset[str]  # facts make() may rewrite: two violations in one pair never share one
    droppable = False  # a measurement that a record may lack

    def status(self, facts: PatientFacts) -> str:
        raise NotImplementedError

    def make(
        self, rng: random.Random, facts: PatientFacts, trial: Trial, met: bool, near: bool = False
    ) -> str | None:
        """Rewrites the facts this criterion reads so its status is met (or not met).

        near: at the edge (value at a bound, washout ended N + 1 days ago, condition only in the
        family history, ...); returns the kind of near miss planted, otherwise None.
        """
        raise NotImplementedError

    def can_near(self, met: bool) -> bool:
        return False

    def can_make(self, met: bool) -> bool:
        """Whether make(met=met) is possible ("Age ≥ 18" has no adult value that fails it)."""
        return True

    def decoy(self, rng: random.Random, facts: PatientFacts) -> None:
        """Adds a mention of what the criterion is about that leaves its status unchanged."""

    def drop(self, facts: PatientFacts) -> None:
        raise NotImplementedError


class Threshold(Criterion):
    """A measurement within bounds: "eGFR ≥ 45", "HbA1c 7.0–10.5%", "HbA1c < 6.5%"."""

    def __init__(
        self,
        measure: str,
        lo: float | None = None,
        hi: float | None = None,
        *,
        hi_strict: bool = False,
        label: str | None = None,
        text: str | None = None,
    ):
        self.key = self.measure = measure
        self.m = MEASURES[measure]
        self.lo, self.hi, self.hi_strict = lo, hi, hi_strict
        self.touches = frozenset({measure})
        self.droppable = not self.m.always
        label = label or self.m.name
        if text is None:

            def fmt(v: float) -> str:
                return format_value(measure, v)

            if lo is not None and hi is not None:
                text = f"{label} {with_unit(f'{fmt(lo)}–{fmt(hi)}', self.m.unit)}"
            elif lo is not None:
                text = f"{label} ≥ {with_unit(fmt(lo), self.m.unit)}"
            else:
                text = f"{label} {'<' if hi_strict else '≤'} {with_unit(fmt(hi), self.m.unit)}"
        self.text = text

    def _inside(self) -> tuple[float, float]:
        low = self.m.plausible[0] if self.lo is None else self.lo
        high = self.m.plausible[1] if self.hi is None else self.hi
        if self.hi_strict:
            high = round(high - self.m.step, self.m.decimals)
        return low, high

    def status(self, facts):
        value = facts.value(self.measure)
        if value is None:
            return UNKNOWN
        low, high = self._inside()
        return MET if low <= value <= high else NOT_MET

    def _edges(self) -> list[tuple[float, float]]:
        """(closest value inside, closest value outside) for each written bound."""
        s, d = self.m.step, self.m.decimals
        low, high = self._inside()
        edges = []
        if self.lo is not None:
            edges.append((low, round(low - s, d)))
        if self.hi is not None:
            edges.append((high, round(high + s, d)))
        pl, ph = self.m.plausible
        return [e for e in edges if pl <= min(e) and max(e) <= ph]

    def can_near(self, met):
        return bool(self._edges())

    def can_make(self, met):
        if met:
            return True
        pl, ph = self.m.plausible
        low, high = self._inside()
        return (self.lo is not None and low - self.m.step >= pl) or (
            self.hi is not None and high + self.m.step <= ph
        )

    def _draw(self, rng: random.Random, met: bool) -> float:
        m, margin = self.m, 3 * self.m.step
        (pl, ph), (low, high) = m.plausible, self._inside()
        if met:
            # keep clear of the bounds so that only planted near misses sit at an edge
            a = low + margin if self.lo is not None else low
            b = high - margin if self.hi is not None else high
            regions = [(max(a, m.typical[0]), min(b, m.typical[1]))] if rng.random() < 0.7 else []
            regions += [(max(a, pl), min(b, ph)), (low, high)]
            return next(v for r in regions if (v := grid_value(rng, *r, m)) is not None)
        # well beyond the bound, or closer where the plausible range leaves no room (ECOG 3-4 for "0-1")
        sides = []
        if self.lo is not None:
            sides.append([(pl, low - margin - m.step), (pl, low - 2 * m.step), (pl, low - m.step)])
        if self.hi is not None:
            sides.append([(high + margin + m.step, ph), (high + 2 * m.step, ph), (high + m.step, ph)])
        draws = [next((v for r in side if (v := grid_value(rng, *r, m)) is not None), None) for side in sides]
        return rng.choice([v for v in draws if v is not None])

    def make(self, rng, facts, trial, met, near=False):
        if near:
            inside, outside = rng.choice(self._edges())
            value = inside if met else outside
        else:
            value = self._draw(rng, met)
        facts.set_value(self.measure, value, days_ago=rng.randint(3, 45))
        if not near:
            return None
        if value in (self.lo, self.hi):
            return "at_threshold"
        return "one_step_inside" if met else "one_step_outside"

    def drop(self, facts):
        facts.measurements.pop(self.measure, None)


class AgeRange(Threshold):
    def __init__(self, lo: int, hi: int | None = None):
        super().__init__("age", lo, hi)


class SexCriterion(Criterion):
    def __init__(self, sex: str, text: str):
        self.key, self.sex, self.text = "sex", sex, text
        self.touches = frozenset({"sex"})

    def status(self, facts):
        return MET if facts.sex == self.sex else NOT_MET

    def make(self, rng, facts, trial, met, near=False):
        facts.sex = self.sex if met else ("male" if self.sex == "female" else "female")
        return None


class Pregnancy(Criterion):
    key, text = "pregnancy", "Pregnant or breastfeeding women"
    touches = frozenset({"age", "sex", "pregnancy"})

    def status(self, facts):
        return MET if facts.pregnancy in ("pregnant", "breastfeeding") else NOT_MET

    def make(self, rng, facts, trial, met, near=False):
        if not met:
            facts.pregnancy = None  # pair_sampling._finalize writes "not pregnant" where it applies
            return None
        facts.sex = "female"
        low, high = trial.age_range
        if not max(low, 20) <= facts.age <= min(high, 44):
            facts.age = rng.randint(max(low, 20), min(high, 44))
        facts.pregnancy = rng.choice(("pregnant", "breastfeeding"))
        return None


@dataclass(frozen=True)
class Trial:
    name: str
    title: str
    inclusion: tuple[Criterion, ...]
    exclusion: tuple[Criterion, ...]

    @property
    def criteria(self) -> tuple[Criterion, ...]:
        return self.inclusion + self.exclusion

    @property
    def age_range(self) -> tuple[int, int]:
        age = next(c for c in self.inclusion if isinstance(c, AgeRange))
        return int(age.lo), int(age.hi if age.hi is not None else MEASURES["age"].plausible[1])

    @property
    def touched(self) -> frozenset[str]:
        """Every condition, drug and measurement a criterion reads: kept out of the background."""
        return frozenset().union(*(c.touches for c in self.criteria))


def decide(trial: Trial, facts: PatientFacts) -> tuple[str, dict[str, str]]:
    """(label, criteria_labels) from the facts: eligible iff every inclusion is met and no exclusion is."""
    labels = {c.key: c.status(facts) for c in trial.criteria}
    eligible = all(labels[c.key] == MET for c in trial.inclusion) and not any(
        labels[c.key] == MET for c in trial.exclusion
    )
    return (ELIGIBLE if eligible else EXCLUDED), labels
