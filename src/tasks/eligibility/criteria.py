"""Trial criteria as single criteria, patient records as lines, and per-criterion labels.

A registry page lists criteria as bullets under "Inclusion Criteria:" and "Exclusion Criteria:"
headings. A pair is eligible iff every inclusion criterion is met and no exclusion criterion is,
so a model can judge one criterion at a time against the few record lines it is about.
"""

from __future__ import annotations

import re

INCLUSION_HEADING = re.compile(r"^\s*inclusion criteria\s*:?\s*$", re.IGNORECASE | re.MULTILINE)
EXCLUSION_HEADING = re.compile(r"^\s*exclusion criteria\s*:?", re.IGNORECASE | re.MULTILINE)
BULLET = re.compile(r"^(?:[*\-•·]|\d+[.)])\s+")
# criteria_labels values: "met" means the criterion's statement holds for the patient; "unknown"
# (the record lacks what it reads) counts as not met, as the eligibility rule reads it.
STATUSES = {"met": True, "not met": False, "unknown": False}


def split_criteria(criteria: str) -> tuple[str, str]:
    """(inclusion part, exclusion part) of a registry-style criteria text; exclusion may be ''."""
    found = EXCLUSION_HEADING.search(criteria)
    if not found:
        return criteria, ""
    return criteria[: found.start()].strip(), criteria[found.end() :].strip()


def _items(part: str) -> list[str]:
    """The non-empty lines of a list, bullet marks ("* ", "- ", "1. ") removed."""
    return [BULLET.sub("", line.strip()) for line in part.splitlines() if line.strip()]


def criteria_list(criteria: str) -> list[tuple[str, bool]]:
    """Every criterion of the text, in order, with whether it is an exclusion criterion.

    One criterion per non-empty line. Text before an "Inclusion Criteria:" heading is the trial's
    title, not a criterion; without that heading, everything before "Exclusion Criteria:" is
    inclusion.
    """
    inclusion, exclusion = split_criteria(criteria)
    found = INCLUSION_HEADING.search(inclusion)
    if found:
        inclusion = inclusion[found.end() :]
    return [(text, False) for text in _items(inclusion)] + [(text, True) for text in _items(exclusion)]


def record_lines(record: str) -> list[str]:
    """The record's non-empty lines; a bullet line carries the heading it stands under
    ("Current medications: - Metformin ..."), which says what kind of fact it is."""
    lines, heading = [], ""
    for raw in record.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.endswith(":") and not BULLET.match(line):
            heading = line
        elif heading and BULLET.match(line):
            lines.append(f"{heading} {line}")
        else:
            heading = ""
            lines.append(line)
    return lines or [record.strip()]
