"""Renderers of the problems a synthetic coding visit or admission is about, and of the work-up.

Infections, venous thromboembolism and knee osteoarthritis (with the office injection): each
writes its PMH term or presenting complaint, A/P item and supporting lines like the chronic
renderers (note_chronic.py). The outpatient symptom work-up goes first in the A/P.
"""

from __future__ import annotations

import random

from src.tasks.coding.synthetic.cases import Case
from src.tasks.coding.synthetic.catalogue_codes import SHARED_TERMS, SPECIFIC_TERMS
from src.tasks.coding.synthetic.catalogue_phrases import RULE_OUT, SIDE_OTHER, WORKUP_TEXT
from src.tasks.coding.synthetic.note_sections import Sections, cap, term


def _r_knee_oa(rng, case, s):
    code, side = case.problems["knee_oa"], case.info["knee_side"]
    s.pmh.append(
        rng.choice(SHARED_TERMS[("M17.11", "M17.12", "M17.0")]) if rng.random() < 0.5 else term(rng, code)
    )
    where = "both knees" if side == "bilateral" else f"the {side} knee"
    s.exam["MSK"] = f"crepitus and medial joint line tenderness of {where}, no effusion"
    text = f"{cap(term(rng, code))}: X-ray with joint space narrowing."
    if "20610" in case.procedures:
        text += (
            f" {cap(side)} knee intra-articular injection performed today: triamcinolone 40 mg with "
            "lidocaine under sterile technique, tolerated well."
        )
    elif case.principal == "knee_oa" and case.setting == "clinic":
        text += rng.choice([
            " Discussed corticosteroid knee injection; patient prefers to defer.",
            " Last joint injection 2 years ago with good relief; not repeated today.",
        ])  # fmt: skip
        s.trap_count += 1
    text += " Continue acetaminophen and home exercises."
    s.ap.append(text)


def _r_pna(rng, case, s):
    s.ros_exclude |= {"cough", "fever", "shortness of breath"}
    s.exam["Lungs"] = "crackles at the right base"
    s.labs.append("CXR with right lower lobe infiltrate")
    name = cap(term(rng, "J18.9"))
    if case.setting == "inpatient":
        s.hpi.append(
            rng.choice(["Cough improving, afebrile for 24 hours.", "Less short of breath; sputum thinning."])
        )
        s.ap.append(
            f"{name}: day {rng.randint(2, 4)} of ceftriaxone and azithromycin, clinically improving. "
            "Transition to oral cefpodoxime to complete 5 days."
        )
    else:
        s.hpi.append("Productive cough and fever to 38.6 C for 4 days.")
        s.ap.append(
            f"{name}: CXR confirms infiltrate. Amoxicillin-clavulanate plus doxycycline x5 days; "
            "return precautions."
        )


def _r_uti(rng, case, s):
    s.ros_exclude |= {"dysuria", "fever"}
    name = cap(term(rng, "N39.0"))
    if "81002" in case.procedures:
        ua = "Point-of-care urinalysis in clinic: positive leukocyte esterase and nitrite."
    else:
        ua = "UA with pyuria; urine culture pending."
    abx = "ceftriaxone IV" if case.setting == "inpatient" else "nitrofurantoin 100 mg BID x5 days"
    s.hpi.append(
        rng.choice(["Dysuria and urinary frequency for 3 days.", "Burning with urination, no flank pain."])
    )
    s.ap.append(f"{name}: {ua} Start {abx}; follow culture.")


def _r_cellulitis(rng, case, s):
    code, side = case.problems["cellulitis"], case.info["cellulitis_side"]
    s.ros_exclude |= {"fever", "rash", "leg swelling"}
    s.hpi.append(f"Redness and swelling of the {side} lower leg{rng.choice([' for 3 days', ', improving'])}.")
    s.exam["Skin"] = f"warm, tender erythema of the {side} shin, no fluctuance"
    s.exam["Ext"] = f"{side} lower leg edematous, {SIDE_OTHER[side]} leg without edema"
    abx = (
        "IV cefazolin, transition to cephalexin"
        if case.setting == "inpatient"
        else "cephalexin 500 mg QID x7 days"
    )
    s.ap.append(f"{cap(term(rng, code))}: margins marked, {abx}. Elevate the leg.")


def _r_dvt(rng, case, s):
    code, side = case.problems["dvt"], case.info["dvt_side"]
    s.ros_exclude |= {"leg swelling"}
    s.hpi.append(f"{rng.choice(['Swelling and aching', 'Pain and swelling'])} of the {side} calf for 5 days.")
    s.exam["Ext"] = f"{side} calf swollen and tender, {side} leg 3 cm larger than the {SIDE_OTHER[side]}"
    s.labs.append(f"Venous duplex: acute occlusive thrombus, {side} leg")
    s.ap.append(
        f"{cap(term(rng, code))}: provoked, after recent travel. Start apixaban 10 mg BID x7 days, "
        "then 5 mg BID; planned 3 months."
    )


def _r_pe(rng, case, s):
    s.ros_exclude |= {"shortness of breath", "chest pain"}
    s.hpi.append("Pleuritic chest pain improved; dyspnea with exertion only.")
    s.labs.append("CTA chest: segmental emboli, no RV strain")
    s.ap.append(
        f"{cap(term(rng, 'I26.99'))}: hemodynamically stable. Heparin drip; "
        "transition to apixaban before discharge."
    )


def render_workup(rng: random.Random, case: Case, s: Sections) -> str:
    """The outpatient work-up: the symptom is coded, the suspected condition is only ruled out.
    Returns the rule-out clause."""
    symptom, suspect = case.workup
    hpi, tests = WORKUP_TEXT[symptom]
    s.hpi.append(rng.choice(hpi))
    s.ros_exclude.add(SPECIFIC_TERMS[symptom][0])
    if symptom == "R06.02":
        s.ros_exclude.add("SOB")
    r_o = rng.choice(RULE_OUT).format(x=suspect)
    text = f"{cap(term(rng, symptom))}, {r_o}; {tests[suspect]}."
    if "93000" in case.procedures:
        text += " ECG in clinic today: normal sinus rhythm, no ST changes."
    s.ap.insert(0, text)
    s.trap_count += 1
    return r_o


# concept -> renderer, for every acute (or visit-motivating) concept a case can hold
ACUTE_RENDERERS = {
    "knee_oa": _r_knee_oa,
    "pna": _r_pna,
    "uti": _r_uti,
    "cellulitis": _r_cellulitis,
    "dvt": _r_dvt,
    "pe": _r_pe,
}
