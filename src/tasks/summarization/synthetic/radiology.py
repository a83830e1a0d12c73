"""Synthetic radiology reports: EXAM, HISTORY, TECHNIQUE, COMPARISON, FINDINGS -> numbered IMPRESSION.

An exam has sections of normal statements (some of them pertinent negatives) and a pool of
abnormal findings (radiology_catalogue.py). A case draws 0-3 findings (radiology_findings.py);
each writes a sentence into its section (where it replaces the normal statements it contradicts)
and an impression item with its facts. Pertinent negatives still standing in FINDINGS may close
the impression, as radiologists write them.
"""

from __future__ import annotations

import random

from src.tasks.summarization.synthetic.note_parts import Facts, Note, age_sex, date, either
from src.tasks.summarization.synthetic.radiology_catalogue import EXAMS, MRI_KNEE, Normal
from src.tasks.summarization.synthetic.radiology_findings import pick_side


def _uncap(text: str) -> str:
    return text[:1].lower() + text[1:]


def build_radiology_report(rng: random.Random) -> Note:
    exam = rng.choice(EXAMS)
    knee_side = pick_side(rng)
    prior = date(rng, 2023) if rng.random() < 0.5 else None
    pool = list(exam.findings)
    rng.shuffle(pool)
    n_findings = rng.choice((0, 1, 1, 1, 2, 2, 2, 2, 3, 3))
    findings = [make(rng, knee_side if exam is MRI_KNEE else prior) for make in pool[:n_findings]]
    # One finding per section: two findings claiming the same section would contradict its text.
    findings = list({f.section: f for f in findings}.values())

    age, _, sex = age_sex(rng)
    name = rng.choice(exam.names).replace("{SIDE}", knee_side.upper())
    lines = [
        f"{either(rng, 'EXAM', 'EXAMINATION', 'STUDY')}: {name}",
        f"{either(rng, 'CLINICAL HISTORY', 'INDICATION', 'HISTORY', 'REASON FOR EXAM')}: "
        f"{age}-year-old {sex} with {rng.choice(exam.indications)}.",
        f"TECHNIQUE: {rng.choice(exam.techniques)}",
        f"COMPARISON: {f'Prior study dated {prior}.' if prior else either(rng, 'None.', 'None available.')}",
        "",
        "FINDINGS:",
    ]
    negatives: list[Normal] = []
    labelled = rng.random() < 0.7
    body = []
    for section, normals in exam.sections.items():
        sentences = [f.sentence for f in findings if f.section == section]
        contradicted = {word for f in findings if f.section == section for word in f.contradicts}
        for normal in normals:
            if any(word in normal.sentence.lower() for word in contradicted):
                continue
            if normal.facts and sentences and rng.random() < 0.1:
                continue  # radiologists do not list every pertinent negative (but fill every section)
            sentences.append(normal.sentence)
            if normal.facts:
                negatives.append(normal)
        body.append(f"{section}: {' '.join(sentences)}" if labelled else " ".join(sentences))
    lines += body if labelled else [" ".join(body)]

    facts = Facts()
    items = []
    for finding in findings:
        items.append(finding.impression)
        facts.extend(finding.facts)
    rng.shuffle(negatives)
    for negative in negatives[: rng.choice((0, 1, 1, 2)) if findings else rng.choice((1, 2, 2, 3))]:
        # "No evidence of X" and "No X" state the same negative (the fact drops the filler)
        items.append(
            negative.sentence if rng.random() < 0.6 else "No evidence of " + _uncap(negative.sentence[3:])
        )
        facts.extend(negative.facts)
    summary = "\n".join(f"{i}. {item}" for i, item in enumerate(items, start=1))
    return Note("\n".join(lines), summary, facts.items)
