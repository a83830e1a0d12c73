"""Where a synthetic note states each gold code, and where it plants negated or family mentions.

render_note fills a Trace as it writes (the pieces of text, never a random draw, so the notes are
the same with or without one); `locate` turns it into character offsets into the finished note:
  * stated: code -> the text that documents it: the A/P item of its problem (the work-up item for
    a work-up symptom, the item naming the procedure for a CPT code, the CKD item for E11.22), the
    PMH line of a personal-history code, the family line of a family-history code, the medication
    of a Z79 code, the smoking sentences of a smoking code;
  * mentions: code -> every place the note names the problem by the terms its renderer used in the
    PMH (the opener and PMH lines), or a work-up's symptom in the HPI and chief complaint, plus the
    stated text: a wider, still positive, target (drugs named elsewhere than the list are not);
  * negated: denied symptoms (ROS), negated or ruled-out diagnoses, the rule-out of a work-up,
    negated family history, "never smoker";
  * family: relatives' conditions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from src.tasks.coding.synthetic.cases import Case, bmi_code, case_codes, htn_code
from src.tasks.coding.synthetic.catalogue_codes import MED_Z79

# CPT code -> phrases the renderers use when the procedure was done in the visit
_PROCEDURE_MARKERS = {
    "20610": ("injection performed today",),
    "81002": ("Point-of-care urinalysis",),
    "93000": ("ECG in clinic today", "12-lead ECG performed"),
    "94640": ("nebulizer treatment given",),
}


@dataclass
class Trace:
    """Pieces of a note as render_note writes them (see the module doc)."""

    items: dict[str, list[str]] = field(default_factory=dict)  # concept -> its A/P items
    terms: dict[str, list[str]] = field(default_factory=dict)  # concept -> its PMH terms
    workup: str = ""  # the work-up's A/P item
    rule_out: str = ""  # its rule-out clause
    workup_mentions: list[str] = field(default_factory=list)  # its HPI sentence and chief complaint
    ap_extra: list[str] = field(default_factory=list)  # A/P items added after the problems
    history: list[str] = field(default_factory=list)  # PMH lines, in case.history order
    family: list[str] = field(default_factory=list)  # relatives' lines, in case.family order
    meds: dict[str, str] = field(default_factory=dict)  # medication key -> its text
    smoking: list[str] = field(default_factory=list)
    negated: list[str] = field(default_factory=list)


def stated_pieces(case: Case, trace: Trace) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
    """(code -> the pieces of text that state it (see the module doc), concept -> the codes its
    A/P items state)."""
    out: dict[str, list[str]] = {}
    by_concept: dict[str, set[str]] = {}

    def add(code: str, pieces: list[str], concept: str = "") -> None:
        out.setdefault(code, []).extend(piece for piece in pieces if piece)
        by_concept.setdefault(concept, set()).add(code)

    for concept, items in trace.items.items():
        if concept == "htn":
            add(htn_code(case), items[:1], concept)
        elif concept == "dm":
            for code in ("E11.65", "E11.9"):
                add(code, items[:1], concept)
            neuro = [c for c in case.dm_comps if c in ("E11.40", "E11.42")]
            for code, item in zip(neuro, items[1:], strict=False):
                add(code, [item], concept)
        elif concept == "obesity":
            add(case.problems["obesity"], items, concept)
            add(bmi_code(case.bmi), items, concept)
        else:
            add(case.problems[concept], items, concept)
    add("E11.22", trace.items.get("ckd", []))
    if case.workup:
        add(case.workup[0], [trace.workup])
    every_item = [item for items in trace.items.values() for item in items] + [trace.workup]
    for code in case.procedures:
        add(code, [item for item in every_item if any(m in item for m in _PROCEDURE_MARKERS.get(code, ()))])
    for code, line in zip(case.history, trace.history, strict=True):
        add(code, [line])
    for (_, code), line in zip(case.family, trace.family, strict=True):
        add(code, [line])
    for med, text in trace.meds.items():
        if med in MED_Z79:
            add(MED_Z79[med], [text])
    smoking = {"current": "F17.210", "former": "Z87.891"}.get(case.smoking)
    if smoking:
        nicotine = [item for item in trace.ap_extra if item.startswith("Nicotine dependence")]
        add(smoking, trace.smoking + nicotine)
    return out, by_concept


def locate(text: str, piece: str) -> list[tuple[int, int]]:
    """Every occurrence of piece in text, as (start, end)."""
    return [(m.start(), m.end()) for m in re.finditer(re.escape(piece), text)]


def _term_spans(text: str, term: str) -> list[tuple[int, int]]:
    pattern = rf"(?<!\w){re.escape(term)}(?!\w)"
    return [(m.start(), m.end()) for m in re.finditer(pattern, text, re.IGNORECASE)]


def note_provenance(text: str, case: Case, trace: Trace) -> dict:
    """{"stated": {code: [[start, end], ...]}, "mentions": {code: [...]}, "negated": [...],
    "family": [...]}: offsets into the note (see the module doc). A code the note states nowhere
    the generator can point at (a combination code such as I12.9 is stated by its parts) has no
    entry."""
    pieces, by_concept = stated_pieces(case, trace)
    stated = {
        code: sorted({span for piece in parts for span in locate(text, piece)})
        for code, parts in pieces.items()
    }
    gold = set(case_codes(case))  # the dm item names E11.65 or E11.9, whichever the case has
    stated = {code: spans for code, spans in stated.items() if spans and code in gold}
    mentions = {code: set(spans) for code, spans in stated.items()}
    for concept, terms in trace.terms.items():
        spans = {span for term in terms for span in _term_spans(text, term)}
        for code in by_concept.get(concept, ()):
            if code in mentions:
                mentions[code] |= spans
    if case.workup and case.workup[0] in mentions:
        mentions[case.workup[0]] |= {span for piece in trace.workup_mentions for span in locate(text, piece)}
    negated = sorted(
        {span for piece in trace.negated + [trace.rule_out] if piece for span in locate(text, piece)}
    )
    family = sorted({span for piece in trace.family for span in locate(text, piece)})
    as_lists = lambda spans: [list(span) for span in spans]  # noqa: E731 - JSON-ready pairs
    return {
        "stated": {code: as_lists(spans) for code, spans in sorted(stated.items())},
        "mentions": {code: as_lists(sorted(spans)) for code, spans in sorted(mentions.items())},
        "negated": as_lists(negated),
        "family": as_lists(family),
    }
