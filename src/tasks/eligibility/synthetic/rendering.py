"""A synthetic eligibility pair as text: the trial's registry page and the patient's record.

The record is a clinician's structured summary of the facts; the random stream only varies the
wording and the order, and every fact a criterion reads is written.
"""

from __future__ import annotations

import random

from src.tasks.eligibility.synthetic.catalogue_patients import CONDITIONS, DRUGS, MEASURES
from src.tasks.eligibility.synthetic.patient_facts import Measurement, PatientFacts, format_value, with_unit
from src.tasks.eligibility.synthetic.trial_criteria import Trial, decide


def render_criteria(trial: Trial) -> str:
    """The trial as a registry page lists it: title, inclusion and exclusion bullet lists."""
    lines = [trial.title, "", "Inclusion Criteria:"]
    lines += [f"* {c.text}" for c in trial.inclusion]
    lines += ["", "Exclusion Criteria:"]
    lines += [f"* {c.text}" for c in trial.exclusion]
    return "\n".join(lines)


def _lower(name: str) -> str:
    """Lower-cases the first letter unless the word is an acronym ("COPD", "HFrEF")."""
    return name if name[1:2].isupper() else name[0].lower() + name[1:]


def _measurement_line(key: str, m: Measurement, rng: random.Random) -> str:
    measure = MEASURES[key]
    value = with_unit(format_value(key, m.value), measure.unit)
    if rng.random() < 0.5:
        return f"- {measure.name} {value} ({m.day.isoformat()})"
    return f"- {measure.name}: {value} ({m.day.isoformat()})"


def render_patient(facts: PatientFacts, rng: random.Random | None = None) -> str:
    """The record as a clinician's structured summary; rng only varies the wording and order."""
    rng = rng or random.Random(0)
    sex = facts.sex
    lines = [f"Screening date: {facts.screening_date.isoformat()}"]
    lines.append(
        rng.choice(
            [
                f"{facts.age}-year-old {'woman' if sex == 'female' else 'man'}",
                f"Age: {facts.age} years. Sex: {sex.capitalize()}.",
                f"{facts.age} y/o {'F' if sex == 'female' else 'M'}",
            ]
        )
    )

    def section(headings: tuple[str, ...], items: list[str]) -> None:
        if items:
            lines.append(rng.choice(headings))
            lines.extend(items)

    diagnoses, procedures = [], []
    for d in sorted(facts.history, key=lambda d: d.since):
        info = CONDITIONS[d.key]
        name, month = rng.choice(info.names), d.since.strftime("%Y-%m")
        if info.procedure:
            procedures.append(f"- {name} ({month})")
        elif d.resolved:
            diagnoses.append(f"- {name} ({month}; {info.resolved})")
        else:
            note = f", {info.active}" if info.active else ""
            diagnoses.append(f"- {name} (diagnosed {month}{note})")
    section(("Medical history:", "Diagnoses:", "Past medical history:"), diagnoses)
    section(("Procedures:", "Surgical history:"), procedures)

    current, previous, anticancer = [], [], []
    for med in sorted(facts.medications, key=lambda m: m.start):
        display, tags = DRUGS[med.drug]
        start = med.start.isoformat()
        if med.stop is None:
            current.append(f"- {display} (since {start})")
        elif "anticancer" in tags:
            anticancer.append(f"- {display} ({start} to {med.stop.isoformat()})")
        else:
            previous.append(
                rng.choice(
                    [f"- {display} ({start} to {med.stop.isoformat()})", f"- {display} (stopped {med.stop})"]
                )
            )
    section(("Current medications:", "Medications:"), current)
    section(("Previous medications:", "Discontinued medications:"), previous)
    section(("Prior anticancer therapy:", "Oncologic treatment history:"), anticancer)

    labs = [
        _measurement_line(k, m, rng) for k, m in facts.measurements.items() if MEASURES[k].section == "labs"
    ]
    rng.shuffle(labs)
    section(("Labs:", "Laboratory results:", "Recent labs:"), labs)
    vitals = []
    if "sbp" in facts.measurements:
        sbp = facts.measurements["sbp"]
        dbp = rng.randint(60, min(105, int(sbp.value) - 30))
        vitals.append(f"seated BP {format_value('sbp', sbp.value)}/{dbp} mmHg ({sbp.day.isoformat()})")
    if "bmi" in facts.measurements:
        bmi = facts.measurements["bmi"]
        vitals.append(f"BMI {format_value('bmi', bmi.value)} kg/m² ({bmi.day.isoformat()})")
    if vitals:
        lines.append("Vitals: " + ", ".join(vitals))
    for key, template in [
        ("lvef", "Echocardiogram ({day}): LVEF {value}%"),
        ("fev1", "Spirometry ({day}): FEV1 {value}% predicted"),
        ("ecog", "ECOG performance status: {value} (assessed {day})"),
        ("cha2ds2vasc", "CHA₂DS₂-VASc score: {value} ({day})"),
    ]:
        if key in facts.measurements:
            m = facts.measurements[key]
            lines.append(template.format(day=m.day.isoformat(), value=format_value(key, m.value)))

    pack_years = int(facts.value("pack_years") or 0)
    amount = f"{pack_years} pack-year{'' if pack_years == 1 else 's'}"
    if pack_years == 0:
        lines.append("Social history: never smoker.")
    elif facts.current_smoker:
        lines.append(f"Social history: current smoker, {amount}.")
    else:
        quit_year = facts.screening_date.year - rng.randint(1, 15)
        lines.append(f"Social history: former smoker, {amount} (quit {quit_year}).")

    if facts.pregnancy == "pregnant":
        lines.append(f"Pregnancy status: pregnant, {rng.randint(6, 30)} weeks' gestation.")
    elif facts.pregnancy == "breastfeeding":
        lines.append("Pregnancy status: not pregnant; currently breastfeeding.")
    elif facts.pregnancy == "not pregnant":
        lines.append(
            f"Pregnancy status: negative serum hCG ({facts.days_ago(rng.randint(3, 20))}); not breastfeeding."
        )
    elif sex == "female":
        lines.append("Postmenopausal.")

    if facts.family_history:
        family = [
            rng.choice(
                [
                    f"{relative} with {_lower(CONDITIONS[c].plain)}",
                    f"{_lower(CONDITIONS[c].plain)} ({relative})",
                ]
            )
            for relative, c in facts.family_history
        ]
        lines.append("Family history: " + "; ".join(family) + ".")
    ruled_out = []
    for c in facts.ruled_out:
        info, month = CONDITIONS[c], facts.days_ago(rng.randint(30, 1000)).strftime("%Y-%m")
        ruled_out.append(
            rng.choice(
                [
                    f"- {info.plain} ruled out ({info.ruled_out}, {month})",
                    f"- No evidence of {_lower(info.plain)} ({info.ruled_out}, {month})",
                ]
            )
        )
    section(("Ruled out:", "Negative work-up:"), ruled_out)
    return "\n".join(lines)


def make_row(row_id: str, trial: Trial, facts: PatientFacts, rng: random.Random | None = None) -> dict:
    label, criteria_labels = decide(trial, facts)
    return {
        "id": row_id,
        "patient": render_patient(facts, rng),
        "criteria": render_criteria(trial),
        "label": label,
        "criteria_labels": criteria_labels,
    }
