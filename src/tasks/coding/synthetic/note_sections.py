"""A synthetic coding note under construction (`Sections`) and the text helpers its renderers share.

Each problem renderer adds to the sections (HPI sentences, PMH terms, exam findings, labs, A/P
items) and records the symptoms the review of systems must not deny and the traps it planted.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from src.tasks.coding.synthetic.cases import Case
from src.tasks.coding.synthetic.catalogue_codes import SPECIFIC_TERMS


def cap(text: str) -> str:
    """Upper-cases the first letter."""
    return text[:1].upper() + text[1:]


def uncap(text: str) -> str:
    """Lower-cases a leading capital unless the word is an acronym (COPD, PNA)."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def term(rng: random.Random, code: str) -> str:
    """One of the terms that name exactly this code."""
    return rng.choice(SPECIFIC_TERMS[code])


def join(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


@dataclass
class Sections:
    hpi: list[str] = field(default_factory=list)
    pmh: list[str] = field(default_factory=list)
    exam: dict[str, str] = field(default_factory=dict)
    labs: list[str] = field(default_factory=list)
    ap: list[str] = field(default_factory=list)
    fh: list[str] = field(default_factory=list)
    sh: list[str] = field(default_factory=list)
    ros_exclude: set[str] = field(default_factory=set)  # symptoms the note must not deny
    trap_count: int = 0


def med_names(case: Case, keys: list[str]) -> list[str]:
    """The current drugs of `keys`, in medication-list order."""
    return [m for m in case.meds if m in keys]


def med_or(case: Case, keys: list[str], default: str) -> str:
    """The first current drug of `keys`, else `default`."""
    found = med_names(case, keys)
    return found[0] if found else default
