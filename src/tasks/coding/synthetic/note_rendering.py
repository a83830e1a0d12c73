"""A synthetic coding case rendered as a progress note (clinic or inpatient), traps included.

The problem renderers (note_chronic.py, note_acute.py) fill the sections; this module adds the
vitals, exam, review of systems, history, family and social lines, the negated diagnoses that
carry no code, and lays the note out with varied headings.
"""

from __future__ import annotations

import random

from src.tasks.coding.synthetic.cases import Case, suspected
from src.tasks.coding.synthetic.catalogue_cases import FAMILY_HISTORY
from src.tasks.coding.synthetic.catalogue_codes import CODE_TERMS, DISTRACTOR_MEDS, MEDS
from src.tasks.coding.synthetic.catalogue_phrases import (
    ALLERGIES,
    AP_CODA,
    AP_HEADERS,
    CC_PRINCIPAL,
    CC_WORKUP,
    EXAM_DEFAULTS,
    EXAM_EXTRAS,
    EXAM_ORDER,
    FAMILY_NEGATIONS,
    FAMILY_TEXT,
    FILLER_CLINIC,
    FILLER_INPT,
    HEALTH_MAINTENANCE,
    HISTORY_TEXT,
    HPI_CHRONIC,
    NEGATED_DX,
    OPENERS_CLINIC,
    OPENERS_INPT,
    ROS_POOL,
)
from src.tasks.coding.synthetic.note_acute import ACUTE_RENDERERS, render_workup
from src.tasks.coding.synthetic.note_chronic import CHRONIC_RENDERERS
from src.tasks.coding.synthetic.note_sections import Sections, cap, join, uncap
from src.tasks.coding.synthetic.provenance import Trace

# concept -> renderer, for every problem a case can hold
_RENDERERS = {**CHRONIC_RENDERERS, **ACUTE_RENDERERS}


def _vitals(rng, case) -> str:
    p = case.problems
    if "htn" in p and not case.info["bp_ok"]:
        sys_bp, dia = rng.randint(142, 168), rng.randint(86, 99)
    else:
        sys_bp, dia = rng.randint(108, 134), rng.randint(64, 84)
    case.info["bp"] = f"{sys_bp}/{dia}"
    hr = rng.randint(96, 112) if case.principal in ("pna", "pe") else rng.randint(58, 88)
    case.info["hr"] = hr
    temp = round(rng.uniform(36.3, 37.4), 1)
    spo2 = (
        rng.randint(90, 94) if ("copd" in p or case.principal in ("pna", "pe", "hf")) else rng.randint(95, 99)
    )
    show_bmi = "obesity" in p or case.bmi >= 30 or rng.random() < 0.7
    bmi = f", BMI {case.bmi}" if show_bmi else ""
    if rng.random() < 0.5:
        return f"BP {sys_bp}/{dia}, HR {hr}, T {temp} C, RR {rng.randint(14, 20)}, SpO2 {spo2}% RA{bmi}"
    temp_f = round(temp * 9 / 5 + 32, 1)
    return f"T {temp_f}F  BP {sys_bp}/{dia}  P {hr}  R {rng.randint(14, 20)}  O2 sat {spo2}%{bmi}"


def _exam(rng, s: Sections) -> str:
    parts = []
    for system in EXAM_ORDER:
        if system in s.exam:
            parts.append(f"{system}: {s.exam[system]}")
        elif system in EXAM_DEFAULTS and rng.random() < 0.85:
            parts.append(f"{system}: {rng.choice(EXAM_DEFAULTS[system])}")
    return ". ".join(parts) + "."


def _ros(rng, case, s) -> str:
    allowed = [sym for sym in ROS_POOL if sym not in s.ros_exclude]
    chosen = rng.sample(allowed, k=min(len(allowed), rng.randint(3, 6)))
    if "shortness of breath" in chosen and "SOB" in chosen:
        chosen.remove("SOB")
    if any(
        sym in CODE_TERMS["R07.9"] + CODE_TERMS["R06.02"] + CODE_TERMS["R05.9"] + ["fatigue"]
        for sym in chosen
    ):
        s.trap_count += 1
    return (
        rng.choice(["Denies ", "Negative for ", "No "]) + ", ".join(chosen[:-1]) + " or " + chosen[-1] + "."
    )


def _history_line(rng, case, code) -> str:
    text = rng.choice(HISTORY_TEXT[code])
    return text.format(year=rng.randint(1998, 2021), side=rng.choice(["right", "left"]), n=rng.randint(2, 4))


def _family_lines(rng, case, s) -> list[str]:
    lines = []
    for rel, code in case.family:
        cond = rng.choice(FAMILY_HISTORY[code][1])
        pos = "her" if case.sex == "F" else "his"
        lines.append(
            rng.choice(FAMILY_TEXT).format(Rel=cap(rel), rel=rel, cond=cond, age=rng.randint(45, 78), pos=pos)
        )
    present = [code for _, code in case.family]
    negs = [text for code, text in FAMILY_NEGATIONS if code not in present]
    if negs and rng.random() < 0.4:
        lines.append(rng.choice(negs))
        s.trap_count += 1
    if case.family:
        s.trap_count += 1  # a relative's condition named in the note is itself a trap
    return lines


def _smoking_line(rng, case) -> str:
    year = rng.randint(1995, 2021)
    packs = rng.randint(10, 45)
    return {
        "current": rng.choice([
            f"Current smoker, 1 ppd, {packs} pack-years.",
            f"Smoker, half a pack per day for {rng.randint(10, 40)} years.",
            "Smokes cigarettes daily; nicotine dependence, interested in quitting.",
        ]),
        "former": rng.choice([
            f"Former smoker, quit in {year} ({packs} pack-years).",
            f"Ex-smoker; quit smoking in {year}.",
            f"Former smoker ({packs} pack-years), quit {year}.",
        ]),
        "never": rng.choice(["Never smoker.", "Denies tobacco use.", "No tobacco, never smoked."]),
        "unknown": "",
    }[case.smoking]  # fmt: skip


def _basic_labs(rng, case) -> str:
    """Unremarkable chemistry and counts (haemoglobin and creatinine come from the problems)."""
    wbc = rng.uniform(11.0, 15.5) if case.principal in ("pna", "cellulitis", "uti") else rng.uniform(4.8, 9.6)
    return (
        f"Na {rng.randint(136, 143)}, K {rng.uniform(3.6, 4.9):.1f}, HCO3 {rng.randint(22, 28)}, "
        f"glucose {rng.randint(84, 132)}, WBC {wbc:.1f}, Plt {rng.randint(160, 380)}"
    )


def _bullet(style: str, i: int) -> str:
    return {"num": f"{i}. ", "hash": "# ", "dash": "- "}[style]


def render_note(rng: random.Random, case: Case, trace: Trace | None = None) -> str:
    """The progress note of a case; also records the vitals it draws in case.info. A trace, when
    given, records where the note states each code (provenance.py); it draws nothing."""
    s = Sections()
    trace = trace if trace is not None else Trace()
    vitals = _vitals(rng, case)
    order = list(case.problems)
    if case.principal in order:  # principal problem first in the A/P
        order.remove(case.principal)
        order.insert(0, case.principal)
    for concept in order:
        n_ap, n_pmh = len(s.ap), len(s.pmh)
        _RENDERERS[concept](rng, case, s)
        trace.items[concept], trace.terms[concept] = s.ap[n_ap:], s.pmh[n_pmh:]
        if concept != case.principal and concept in HPI_CHRONIC and rng.random() < 0.6:
            if not (concept == "af" and "palpitations" in s.ros_exclude and case.principal == "af"):
                s.hpi.append(rng.choice(HPI_CHRONIC[concept]))
    if case.workup:
        n_hpi = len(s.hpi)
        trace.rule_out = render_workup(rng, case, s)
        trace.workup_mentions = s.hpi[n_hpi:]  # the presenting symptom in the HPI
        trace.workup = s.ap[0]

    pmh_hist = [_history_line(rng, case, code) for code in case.history]
    trace.history = pmh_hist
    if pmh_hist:
        s.trap_count += 1

    # Trap: a negated or ruled-out diagnosis that the note does not carry.
    negs = [(c, t) for c, t in NEGATED_DX if c not in case.problems and not suspected(case, c)]
    if negs and rng.random() < 0.35:
        _, text = rng.choice(negs)
        text = text.format(
            monitor="Telemetry" if case.setting == "inpatient" else "Recent Holter monitor",
            bnp=rng.randint(20, 80),
            a1c=round(rng.uniform(4.9, 5.6), 1),
            hgb=round(rng.uniform(13.0, 15.2), 1),
        )
        trace.negated.append(text.rstrip("."))
        if rng.random() < 0.5:
            s.labs.append(text.rstrip("."))
        else:
            s.ap.append(text)
        s.trap_count += 1

    sexw = {"F": rng.choice(["woman", "female", "F"]), "M": rng.choice(["man", "male", "M"])}[case.sex]
    pmh_terms = list(dict.fromkeys(s.pmh))
    if pmh_terms:
        pmh_summary = join(pmh_terms[:3])
    elif pmh_hist:
        pmh_summary = pmh_hist[0].split(" (")[0].split(",")[0]
    else:
        pmh_summary = "no significant past history"
    principal_term = s.ap[0].split(":")[0].split(",")[0] if case.principal and s.ap else ""
    lines: list[str] = []
    if case.setting == "inpatient":
        why = uncap(principal_term.split(" with rapid")[0])
        if case.principal == "af":
            why += " with rapid ventricular response"
        hd = rng.randint(2, 5)
        opener = rng.choice(OPENERS_INPT).format(
            age=case.age, sexw=sexw, pmh=pmh_summary, why=why, days=hd - 1, hd=hd
        )
        filler = rng.sample(FILLER_INPT, k=rng.randint(2, 3))
    else:
        if case.workup:
            why, cc = CC_WORKUP[case.workup[0]].lower(), CC_WORKUP[case.workup[0]]
            trace.workup_mentions.append(cc)
        elif case.principal:
            why, cc = uncap(principal_term), rng.choice(CC_PRINCIPAL[case.principal])
        else:
            why = rng.choice(["routine follow-up", "a 3-month follow-up", "chronic disease management"])
            cc = f"Follow-up of {join(pmh_terms[:2])}" if pmh_terms else "Annual visit"
        opener = rng.choice(OPENERS_CLINIC).format(age=case.age, sexw=sexw, pmh=pmh_summary, why=why)
        filler = rng.sample(FILLER_CLINIC, k=rng.randint(2, 4))
    hpi = [opener] + rng.sample(s.hpi + filler, len(s.hpi) + len(filler))
    if rng.random() < 0.35 and case.smoking in ("current", "former"):
        hpi.append(_smoking_line(rng, case))
        trace.smoking.append(hpi[-1])

    if case.setting == "inpatient":
        lines.append(
            rng.choice(
                ["Hospital Medicine Progress Note", "INPATIENT PROGRESS NOTE", "Progress Note - Medicine"]
            )
        )
        lines.append(rng.choice(["Subjective: ", "Interval History: ", "S: "]) + " ".join(hpi))
    else:
        if rng.random() < 0.4:
            lines.append(
                rng.choice(["Clinic Visit", "OUTPATIENT FOLLOW-UP NOTE", "Primary Care Progress Note"])
            )
        lines.append(rng.choice(["Chief Complaint: ", "CC: ", "Reason for visit: "]) + cc)
        lines.append(rng.choice(["HPI: ", "History of Present Illness: "]) + " ".join(hpi))

    pmh_items = pmh_terms + pmh_hist
    if pmh_items:
        lines.append(rng.choice(["PMH: ", "Past Medical History: ", "PMHx: "]) + "; ".join(pmh_items) + ".")

    meds = list(case.meds)
    for extra in rng.sample(DISTRACTOR_MEDS, k=rng.randint(0, 3)):
        if extra not in meds and not (extra == "omeprazole" and rng.random() < 0.5):
            meds.append(extra)
    trace.meds = {m: rng.choice(MEDS[m]) for m in meds}
    med_text = "; ".join(trace.meds.values()) if meds else "none"
    lines.append(
        rng.choice(["Medications: ", "Meds: ", "Current Medications: ", "Home Medications: "]) + med_text
    )

    allergy = rng.choice(ALLERGIES)
    if case.info.get("asa_allergy") or ("aspirin" not in case.meds and rng.random() < 0.06):
        allergy = "aspirin (GI upset)"
        s.trap_count += 1
    lines.append(rng.choice(["Allergies: ", "ALLERGIES: "]) + allergy)

    fam = _family_lines(rng, case, s)
    trace.family = fam[: len(case.family)]
    trace.negated += fam[len(case.family) :]  # a negated family history
    if fam or rng.random() < 0.45:
        lines.append(
            rng.choice(["Family History: ", "FH: ", "FHx: "]) + (" ".join(fam) or "Noncontributory.")
        )
    smoke = _smoking_line(rng, case)
    if case.smoking in ("current", "former") or (smoke and rng.random() < 0.75):
        extras = rng.sample(
            ["Occasional alcohol.", "Lives with spouse.", "Retired teacher.", "No alcohol.", "Lives alone.",
             "Works in construction.", "No illicit drug use.", "Independent in ADLs."],
            k=rng.randint(1, 3),
        )  # fmt: skip
        lines.append(
            rng.choice(["Social History: ", "SH: ", "Social: "]) + " ".join([smoke] + extras).strip()
        )
        if case.smoking == "never":
            s.trap_count += 1
            trace.negated.append(smoke)
        elif smoke:
            trace.smoking.append(smoke)

    if rng.random() < 0.65:
        lines.append(rng.choice(["ROS: ", "Review of Systems: "]) + _ros(rng, case, s))
        trace.negated.append(lines[-1].split(": ", 1)[1])
    lines.append(rng.choice(["Vitals: ", "VS: ", "Vital Signs: "]) + vitals)
    exam = _exam(rng, s)
    for extra in rng.sample(EXAM_EXTRAS, k=rng.randint(0, 2)):
        exam += f" {extra}."
    lines.append(rng.choice(["Exam: ", "Physical Exam: ", "PHYSICAL EXAMINATION: "]) + exam)
    if case.setting == "inpatient" or rng.random() < 0.4:
        s.labs.insert(0, _basic_labs(rng, case))
    if s.labs:
        lines.append(rng.choice(["Labs: ", "Data: ", "Results: "]) + "; ".join(s.labs) + ".")

    lines.append(rng.choice(AP_HEADERS))
    style = rng.choice(["num", "hash", "dash"])
    items = list(s.ap)
    if case.smoking == "current" and rng.random() < 0.4:
        items.append("Nicotine dependence: counseled on cessation >3 minutes, offered nicotine patch.")
    if case.setting == "clinic" and rng.random() < 0.4:
        upkeep = [h for h in HEALTH_MAINTENANCE[case.sex] if not ("PSA" in h and "Z85.46" in case.history)]
        items.append("Health maintenance: " + " ".join(rng.sample(upkeep, k=min(2, len(upkeep)))))
    trace.ap_extra = items[len(s.ap) :]
    for i, item in enumerate(items):
        if rng.random() < 0.4:
            items[i] = item + " " + rng.choice(AP_CODA[case.setting])
    lines += [_bullet(style, i) + item for i, item in enumerate(items, 1)]
    if case.setting == "clinic":
        lines.append(
            rng.choice(["Follow-up in 3 months.", "RTC 6 weeks.", "Return in 3-4 months or sooner PRN."])
        )
    else:
        dispo = [
            "Dispo: anticipate discharge home in 1-2 days.",
            "Dispo: continue inpatient care; PT/OT evaluation.",
        ]
        if case.principal not in ("dvt", "pe"):  # already anticoagulated
            dispo.append("PT/OT consulted; DVT prophylaxis per protocol.")
        lines.append(rng.choice(dispo))
    return "\n".join(lines)
