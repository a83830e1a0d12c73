"""The facts of a synthetic patient, which every label is derived from, and how a value is written.

`PatientFacts`: age, sex, diagnoses and procedures with dates, medications with start and stop
dates, dated measurements, family history, ruled-out findings, pregnancy and smoking status, all
dated from the screening date on the first line of every record (`SCREENING_DATE`). Also the
helpers the criteria, the sampler and the renderer share: values on a measure's grid, diagnosis
dates, drug classes, and a value as written.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from src.tasks.eligibility.synthetic.catalogue_patients import CONDITIONS, DRUGS, MEASURES, Measure

SCREENING_DATE = date(2026, 3, 1)


@dataclass
class Diagnosis:
    key: str  # a CONDITIONS key (procedures included)
    since: date
    resolved: bool = False


@dataclass
class Medication:
    drug: str  # a DRUGS key
    start: date
    stop: date | None = None  # None: current


@dataclass
class Measurement:
    value: float
    day: date


@dataclass
class PatientFacts:
    age: int
    sex: str  # "female" | "male"
    screening_date: date = SCREENING_DATE
    history: list[Diagnosis] = field(default_factory=list)
    medications: list[Medication] = field(default_factory=list)
    measurements: dict[str, Measurement] = field(default_factory=dict)
    family_history: list[tuple[str, str]] = field(default_factory=list)  # (relative, condition key)
    ruled_out: list[str] = field(default_factory=list)  # condition keys
    pregnancy: str | None = None  # "pregnant" | "breastfeeding" | "not pregnant"; None: not applicable
    current_smoker: bool = False  # with pack_years > 0; pack_years 0 is a never smoker

    def days_ago(self, days: int) -> date:
        return self.screening_date - timedelta(days=days)

    def value(self, key: str) -> float | None:
        if key == "age":
            return self.age
        found = self.measurements.get(key)
        return None if found is None else found.value

    def set_value(self, key: str, value: float, days_ago: int = 14) -> None:
        if key == "age":
            self.age = int(value)
        else:
            self.measurements[key] = Measurement(value, self.days_ago(days_ago))

    def has_condition(self, keys: tuple[str, ...], count_resolved: bool = True) -> bool:
        return any(d.key in keys and (count_resolved or not d.resolved) for d in self.history)

    def add_diagnosis(self, key: str, years_ago: float = 3, resolved: bool = False) -> None:
        self.history.append(Diagnosis(key, self.days_ago(round(365.25 * years_ago)), resolved))

    def remove_conditions(self, keys: tuple[str, ...]) -> None:
        self.history = [d for d in self.history if d.key not in keys]

    def add_family(self, relative: str, key: str) -> None:
        self.family_history.append((relative, key))

    def add_ruled_out(self, key: str) -> None:
        self.ruled_out.append(key)

    def add_medication(self, drug: str, started_days_ago: int, stopped_days_ago: int | None = None) -> None:
        stop = None if stopped_days_ago is None else self.days_ago(stopped_days_ago)
        self.medications.append(Medication(drug, self.days_ago(started_days_ago), stop))

    def remove_medications(self, tag: str) -> None:
        self.medications = [m for m in self.medications if tag not in DRUGS[m.drug][1]]

    def courses(self, tag: str) -> list[Medication]:
        return [m for m in self.medications if tag in DRUGS[m.drug][1]]


def drugs_with(tag: str) -> list[str]:
    """The DRUGS keys of one class, in catalogue order."""
    return [name for name, (_, tags) in DRUGS.items() if tag in tags]


def format_value(key: str, value: float) -> str:
    """A measurement value as every record and criterion writes it (fixed decimals per measure)."""
    return f"{value:.{MEASURES[key].decimals}f}"


def with_unit(number: str, unit: str) -> str:
    """A written value with its unit: "7.2%", "44 mL/min/1.73m²", "1" (ECOG has none)."""
    if not unit:
        return number
    return number + unit if unit.startswith("%") else f"{number} {unit}"


def grid_value(rng: random.Random, low: float, high: float, m: Measure) -> float | None:
    """A value on the measure's grid in [low, high], or None when the interval is empty."""
    n = math.floor((high - low) / m.step + 1e-9)
    if n < 0:
        return None
    return round(low + rng.randint(0, n) * m.step, m.decimals)


def diagnosis_years_ago(rng: random.Random, facts: PatientFacts, condition: str | None) -> float:
    """How long before screening a condition (None: any resolved episode) was diagnosed."""
    if condition is not None and CONDITIONS[condition].recent:  # before any prior anticancer course
        return rng.randint(600, 1500) / 365.25
    return rng.randint(1, max(1, min(20, facts.age - 20))) + rng.random()
