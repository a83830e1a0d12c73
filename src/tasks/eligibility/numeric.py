"""Criteria decided by a number in the record, without the model (task.numeric_rule).

A threshold criterion ("Hemoglobin ≥ 9.0 g/dL", "ECOG performance status 0–1", "Serum potassium
≤ 5.0 mmol/L") is met or not by one value of the record ("- Hemoglobin: 8.9 g/dL (2026-01-26)").
A 6-layer encoder compares 8.9 with 9.0 poorly, and a near miss at the bound is exactly the case a
screen must get right; a comparison gets it right and costs nothing. So such a criterion is
decided here when the decision is unambiguous, and the model reads only the others:

- the criterion is "<name> <op> <number> [unit]" (op one of ≥ > ≤ < >= <=) or
  "<name> <low>–<high> [unit]" (both bounds included), with nothing else in it (a second
  comparison such as "ALT ≤ 3 × ULN (≤ 120 U/L)" is left to the model);
- the record states one value for the name: a line holding the name, then the number, then the
  criterion's unit. The name may drop leading words ("Serum potassium" finds "Potassium") or be
  its bracketed abbreviation ("Urine albumin-to-creatinine ratio (UACR)"); age is also read from
  "54-year-old", "54 y/o" and "Age: 54";
- no value, or two different values: the model decides (an unknown value is "not met" in the
  labels, which the model learns from the record's silence).

How far the decisions are trusted (`confidence`) is measured on the training criteria labels
where the data has them; the model reads the criteria the rule leaves, and the pair's score
multiplies both (scoring.collate_inputs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NUMBER = r"(\d+(?:\.\d+)?)"
NAME = r"(?P<name>[^\d<>≤≥=]*?[^\s\d<>≤≥=])"  # words before the comparison, no digit in them
UNIT = r"(?P<unit>[^<>≤≥=()]*)"  # "g/dL", "× 10⁹/L"; a second comparison or a bracket: not a unit
COMPARISONS = {  # op -> (a lower bound?, bound included?)
    "≥": (True, True),
    ">=": (True, True),
    ">": (True, False),
    "≤": (False, True),
    "<=": (False, True),
    "<": (False, False),
}
BOUND = re.compile(rf"^{NAME}\s*(?P<op>≥|>=|≤|<=|<|>)\s*{NUMBER}\s*{UNIT}$")
RANGE = re.compile(rf"^{NAME}\s+{NUMBER}\s*(?:–|-|to)\s*{NUMBER}\s*{UNIT}$")
AGE = (
    re.compile(r"\b(\d{1,3})[- ]year[- ]old\b", re.IGNORECASE),
    re.compile(r"\b(\d{1,3})\s*y/?o\b", re.IGNORECASE),
    re.compile(r"\bage\s*:?\s*(\d{1,3})\b", re.IGNORECASE),
)
ABBREVIATION = re.compile(r"\(([^()]+)\)")
MODEL_READS = -1  # a criterion's decision when this rule cannot tell (0 / 1: not met / met)
UNMEASURED_CONFIDENCE = 0.99  # without criteria labels to measure it on


@dataclass(frozen=True)
class Threshold:
    name: str
    low: tuple[float, bool] | None  # (bound, included)
    high: tuple[float, bool] | None
    unit: str

    def holds(self, value: float) -> bool:
        low_ok = self.low is None or (value >= self.low[0] if self.low[1] else value > self.low[0])
        high_ok = self.high is None or (value <= self.high[0] if self.high[1] else value < self.high[0])
        return low_ok and high_ok


def parse(criterion: str) -> Threshold | None:
    """The criterion as a threshold on one named value, or None when it is anything else."""
    text = criterion.strip()
    if found := BOUND.match(text):
        lower, included = COMPARISONS[found["op"]]
        bound = (float(found[3]), included)
        return Threshold(
            found["name"], bound if lower else None, None if lower else bound, found["unit"].strip()
        )
    if found := RANGE.match(text):
        return Threshold(
            found["name"], (float(found[2]), True), (float(found[3]), True), found["unit"].strip()
        )
    return None


def names(name: str) -> list[str]:
    """What the record may call the value: a bracketed abbreviation, then the name, then the name
    without its leading words, longest first."""
    words = ABBREVIATION.sub("", name).split()
    return [found[1] for found in ABBREVIATION.finditer(name)] + [
        " ".join(words[i:]) for i in range(len(words))
    ]


def values(name: str, unit: str, lines: list[str]) -> set[float]:
    """Every value the record's lines state for `name` (followed by `unit` when it has one)."""
    if name.lower() == "age":
        return {float(m[1]) for line in lines for pattern in AGE for m in pattern.finditer(line)}
    pattern = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])\s*:?\s*{NUMBER}\s*(.*)", re.IGNORECASE)
    return {
        float(m[1]) for line in lines for m in pattern.finditer(line) if not unit or m[2].startswith(unit)
    }


def decide(criterion: str, lines: list[str]) -> bool | None:
    """Whether the record's value meets the criterion; None when this rule cannot tell."""
    threshold = parse(criterion)
    if threshold is None:
        return None
    for name in names(threshold.name):
        found = values(name, threshold.unit, lines)
        if found:
            return threshold.holds(found.pop()) if len(found) == 1 else None
    return None


def model_read(values: list, ruled: list[int]) -> list:
    """The entries of a per-criterion list (labels, kinds) for the criteria the model reads."""
    return [value for value, decision in zip(values, ruled, strict=True) if decision == MODEL_READS]


def confidence(decided: list[tuple[int, int]], configured: float | None) -> tuple[float, dict | None]:
    """(P(a decision is right), the agreement measured) from (decision, label) of the training
    criteria the rule decided, label -1 where unknown: configured when set, else (agreeing + 1) /
    (labelled + 2), else UNMEASURED_CONFIDENCE when none is labelled."""
    labelled = [(decision, label) for decision, label in decided if label >= 0]
    agreeing = sum(decision == label for decision, label in labelled)
    agreement = {"labelled": len(labelled), "share": agreeing / len(labelled)} if labelled else None
    if configured is not None:
        return configured, agreement
    return ((agreeing + 1) / (len(labelled) + 2) if labelled else UNMEASURED_CONFIDENCE), agreement
