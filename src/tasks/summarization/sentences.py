"""A note's sentence units: what an extractive summary copies, each with the section it sits in.

MTSamples notes lost their line breaks to commas ("PREOPERATIVE DIAGNOSIS: , Morbid obesity.,
POSTOPERATIVE DIAGNOSIS:  ,Morbid obesity.,PROCEDURE: , Laparoscopic ..."), so a unit ends at
a sentence end (. ! ?) followed by a space or a comma, at a line break, at a comma before a
numbered item (",2.  Hypertension"), and where a section header starts. Headers ("PROCEDURE:",
two or more upper-case letters before a colon, at the note's start or after a break) are the
unit's context, never its text: the encoder reads "header [SEP] sentence", the summary copies
the sentence. Item numbers, stray commas and spaces are trimmed off; a piece without a letter
is no unit. Each unit keeps its character offsets in the note: note[start:end] == text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A header: upper-case words (digits, / & ( ) ' - inside) then a colon, where a line could start.
_HEADER = re.compile(r"(?:^|(?<=[.,;:!?\n]))\s*([A-Z][A-Z0-9 /&()'-]*[A-Z)])\s*:")
_BREAK = re.compile(r"(?<=[.!?])(?=[\s,])|\n|,(?=\s*\d{1,2}\.\s)")
_TRIM = " ,;\t\n\r"
_ITEM = re.compile(r"^\d{1,2}\.\s+")


@dataclass(frozen=True)
class Unit:
    header: str  # the section it sits in ("" before the first header)
    text: str
    start: int
    end: int


def _header_spans(note: str) -> list[tuple[int, int, str]]:
    """(start, end, header) of each section header, in note order."""
    spans = []
    for match in _HEADER.finditer(note):
        name = match.group(1)
        if sum(c.isalpha() for c in name) >= 2:
            spans.append((match.start(1), match.end(), " ".join(name.split())))
    return spans


def _units_of(note: str, start: int, end: int, header: str) -> list[Unit]:
    units = []
    cuts = [start, *(m.end() for m in _BREAK.finditer(note, start, end)), end]
    for left, right in zip(cuts, cuts[1:], strict=False):
        piece = note[left:right]
        lead = len(piece) - len(piece.lstrip(_TRIM))
        item = _ITEM.match(piece[lead:])
        lead += item.end() if item else 0
        text = piece[lead:].rstrip(_TRIM)
        if any(c.isalpha() for c in text):
            units.append(Unit(header, text, left + lead, left + lead + len(text)))
    return units


def split_units(note: str) -> list[Unit]:
    """The note's sentence units in note order (module doc)."""
    headers = _header_spans(note)
    bounds = [(0, headers[0][0] if headers else len(note), "")]
    for i, (_, body_start, name) in enumerate(headers):
        body_end = headers[i + 1][0] if i + 1 < len(headers) else len(note)
        bounds.append((body_start, body_end, name))
    return [unit for start, end, name in bounds for unit in _units_of(note, start, end, name)]


def join_units(units: list[Unit]) -> str:
    """An extractive summary: the units' texts in note order, each ending in a full stop."""
    ordered = sorted(units, key=lambda unit: unit.start)
    return " ".join(u.text if u.text[-1] in ".!?" else f"{u.text}." for u in ordered)
