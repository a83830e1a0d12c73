"""Synthetic discharge summaries -> a brief summary of a few sentences.

A case is a principal problem (with its work-up, treatment, optional procedure and new
discharge medicines), a few chronic comorbidities with their home medicines, a length of stay,
a disposition and follow-up. The note lays these out in the usual sections; the summary says who
was admitted with what, how it was treated, and how and on what the patient left.
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass, field

from src.tasks.summarization.synthetic.note_parts import Facts, Note, age_sex, cap, either, join, num


@dataclass
class Problem:
    """A principal problem. `name` and `facts` are filled per case (side, severity)."""

    name: str
    facts: list[tuple[str, str]]
    presentation: str
    workup: str
    treatment: str  # inpatient, for the summary: "was treated with ..."
    course: str  # extra hospital-course sentences
    discharge_meds: list[tuple[str, str, str]]  # (drug, dose as written, how taken)
    procedure: tuple[str, list[tuple[str, str]], str] | None = None  # (name, facts incl. result's, result)
    los: tuple[int, int] = (2, 6)
    treatment_facts: list[tuple[str, str]] = field(default_factory=list)
    result: tuple[str, list[tuple[str, str]]] | None = None  # a work-up result the summary may quote


def _pneumonia(rng: random.Random) -> Problem:
    side = rng.choice(("right", "left"))
    lobe = rng.choice(
        ("upper lobe", "lower lobe", "middle lobe") if side == "right" else ("upper lobe", "lower lobe")
    )
    drug = rng.choice(
        [
            ("Amoxicillin-clavulanate", "875 mg", "by mouth twice daily for 5 more days"),
            ("Cefpodoxime", "200 mg", "by mouth twice daily for 5 more days"),
            ("Doxycycline", "100 mg", "by mouth twice daily for 5 more days"),
        ]
    )
    return Problem(
        f"community-acquired pneumonia of the {side} {lobe}",
        [("diagnosis", "pneumonia"), ("laterality", f"{side} {lobe}")],
        f"{rng.randint(2, 7)} days of fever, productive cough and pleuritic chest pain",
        f"Chest radiograph showed consolidation in the {side} {lobe}. White count was "
        f"{num(rng.uniform(12, 22))}.",
        either(rng, "IV ceftriaxone and azithromycin", "IV ceftriaxone and doxycycline"),
        "Fever resolved by hospital day 2 and oxygen was weaned to room air. Transitioned to oral "
        "antibiotics.",
        [drug],
    )


def _heart_failure(rng: random.Random) -> Problem:
    ef = rng.choice((20, 25, 30, 35, 40))
    lost = rng.uniform(2.0, 7.5)
    dose = rng.choice(("20 mg", "40 mg", "80 mg"))
    return Problem(
        "acute on chronic systolic heart failure",
        [("diagnosis", "heart failure")],
        "worsening dyspnea on exertion, orthopnea and leg swelling",
        f"BNP was elevated. Echocardiogram showed an ejection fraction of {ef}%.",
        "IV furosemide",
        f"Diuresed {num(lost)} kg with improvement in symptoms. Guideline-directed therapy was optimised.",
        [
            ("Furosemide", dose, "by mouth daily"),
            ("Metoprolol succinate", rng.choice(("25 mg", "50 mg")), "daily"),
        ],
        los=(3, 7),
        result=(f"Ejection fraction {ef}%.", [("measurement", f"{ef}%")]),
    )


def _copd(rng: random.Random) -> Problem:
    return Problem(
        "COPD exacerbation",
        [("diagnosis", "copd")],
        "increased dyspnea, wheezing and sputum production",
        "Chest radiograph showed hyperinflation without consolidation.",
        either(
            rng,
            "nebulised bronchodilators, IV methylprednisolone and azithromycin",
            "nebulised bronchodilators and oral prednisone",
        ),
        "Wheezing improved and the patient was weaned to baseline oxygen.",
        [
            ("Prednisone", "40 mg", "by mouth daily for 3 more days"),
            ("Tiotropium", "18 mcg", "inhaled daily"),
        ],
    )


def _cellulitis(rng: random.Random) -> Problem:
    side = rng.choice(("right", "left"))
    return Problem(
        f"cellulitis of the {side} leg",
        [("diagnosis", "cellulitis"), ("laterality", f"{side} leg")],
        f"{rng.randint(2, 5)} days of spreading redness, warmth and pain of the {side} leg",
        "Ultrasound showed no abscess. Blood cultures remained negative.",
        "IV cefazolin",
        "Erythema receded from the marked borders and the patient remained afebrile.",
        [("Cephalexin", "500 mg", "by mouth four times daily for 7 days")],
    )


def _pyelonephritis(rng: random.Random) -> Problem:
    return Problem(
        "acute pyelonephritis",
        [("diagnosis", "pyelonephritis")],
        "fever, flank pain and dysuria",
        "Urinalysis showed pyuria; urine culture grew pan-sensitive Escherichia coli.",
        "IV ceftriaxone",
        "Fever resolved and the patient tolerated oral intake.",
        [("Ciprofloxacin", "500 mg", "by mouth twice daily for 7 days")],
    )


def _dka(rng: random.Random) -> Problem:
    units = rng.choice((14, 18, 20, 24, 30))
    return Problem(
        "diabetic ketoacidosis",
        [("diagnosis", "diabetic ketoacidosis")],
        "polyuria, vomiting and abdominal pain after missing insulin doses",
        f"Anion gap was {rng.randint(18, 30)} with positive serum ketones.",
        "an insulin infusion and IV fluids",
        "The anion gap closed within 24 hours and the patient was transitioned to subcutaneous insulin. "
        "Diabetes education was provided.",
        [("Insulin glargine", f"{units} units", "subcutaneously at bedtime")],
    )


def _gi_bleed(rng: random.Random) -> Problem:
    units = rng.randint(1, 4)
    return Problem(
        "upper GI bleed",
        [("diagnosis", "gastrointestinal bleeding")],
        "melena and lightheadedness",
        f"Hemoglobin was {num(rng.uniform(6.2, 8.5))} on arrival.",
        f"{units} units of packed red blood cells and an IV proton pump inhibitor",
        "Hemoglobin remained stable after the procedure and the diet was advanced.",
        [("Pantoprazole", "40 mg", "by mouth twice daily")],
        procedure=(
            "esophagogastroduodenoscopy",
            [("procedure", "esophagogastroduodenoscopy")],
            "a clean-based duodenal ulcer",
        ),
        treatment_facts=[("measurement", f"{units} units")],
    )


def _afib(rng: random.Random) -> Problem:
    return Problem(
        "atrial fibrillation with rapid ventricular response",
        [("diagnosis", "atrial fibrillation")],
        "palpitations and dyspnea",
        f"ECG showed atrial fibrillation at {rng.randint(130, 170)} beats per minute.",
        "IV diltiazem followed by oral rate control",
        "Heart rate was controlled and anticoagulation was started.",
        [
            ("Metoprolol tartrate", rng.choice(("25 mg", "50 mg")), "by mouth twice daily"),
            ("Apixaban", "5 mg", "by mouth twice daily"),
        ],
    )


def _nstemi(rng: random.Random) -> Problem:
    return Problem(
        "NSTEMI",
        [("diagnosis", "myocardial infarction")],
        "substernal chest pressure at rest",
        f"Troponin peaked at {num(rng.uniform(0.5, 12))}.",
        "aspirin, heparin infusion and a high-intensity statin",
        "The patient remained free of chest pain after revascularisation.",
        [
            ("Aspirin", "81 mg", "daily"),
            ("Ticagrelor", "90 mg", "twice daily"),
            ("Atorvastatin", "80 mg", "daily"),
        ],
        procedure=(
            "cardiac catheterization",
            [("procedure", "cardiac catheterization"), ("laterality", "left anterior descending artery")],
            "a culprit lesion of the left anterior descending artery treated with a drug-eluting stent",
        ),
    )


def _cholecystitis(rng: random.Random) -> Problem:
    return Problem(
        "acute cholecystitis",
        [("diagnosis", "cholecystitis")],
        "right upper quadrant pain, fever and nausea",
        "Ultrasound showed gallstones with gallbladder wall thickening.",
        "IV piperacillin-tazobactam",
        "Diet was advanced after surgery and pain was controlled with oral analgesics.",
        [("Oxycodone", "5 mg", "by mouth every 6 hours as needed for pain")],
        procedure=(
            "laparoscopic cholecystectomy",
            [("procedure", "cholecystectomy"), ("diagnosis", "gangrenous cholecystitis")],
            "gangrenous cholecystitis",
        ),
        los=(2, 4),
    )


def _hip_fracture(rng: random.Random) -> Problem:
    side = rng.choice(("right", "left"))
    return Problem(
        f"{side} femoral neck fracture",
        [("laterality", f"{side} femoral neck"), ("diagnosis", "hip fracture")],
        f"a mechanical fall at home with inability to bear weight on the {side} leg",
        f"Radiographs showed a displaced {side} femoral neck fracture.",
        "orthopedic surgery and physical therapy",
        "Weight bearing as tolerated from postoperative day 1 with physical therapy.",
        [("Enoxaparin", "40 mg", "subcutaneously daily for 28 days")],
        procedure=(
            f"{side} hip hemiarthroplasty",
            [("laterality", f"{side} hip"), ("procedure", "hemiarthroplasty")],
            "an uncomplicated operation",
        ),
        los=(3, 8),
    )


PROBLEMS = (
    _pneumonia,
    _pneumonia,
    _heart_failure,
    _copd,
    _cellulitis,
    _pyelonephritis,
    _dka,
    _gi_bleed,
    _afib,
    _nstemi,
    _cholecystitis,
    _hip_fracture,
)

# comorbidity: (as written, its canonical diagnosis, home medicines (drug, dose, how))
COMORBIDITIES = {
    "hypertension": (
        "hypertension",
        [("Lisinopril", ("10 mg", "20 mg", "40 mg"), "daily"), ("Amlodipine", ("5 mg", "10 mg"), "daily")],
    ),
    "type 2 diabetes mellitus": ("diabetes", [("Metformin", ("500 mg", "1000 mg"), "twice daily")]),
    "hyperlipidemia": ("hyperlipidemia", [("Atorvastatin", ("20 mg", "40 mg"), "at bedtime")]),
    "hypothyroidism": ("hypothyroidism", [("Levothyroxine", ("50 mcg", "75 mcg", "100 mcg"), "daily")]),
    "chronic kidney disease": ("chronic kidney disease", []),
    "coronary artery disease": ("coronary artery disease", [("Aspirin", ("81 mg",), "daily")]),
    "obstructive sleep apnea": ("sleep apnea", []),
    "depression": ("depression", [("Sertraline", ("50 mg", "100 mg"), "daily")]),
    "gout": ("gout", [("Allopurinol", ("100 mg", "300 mg"), "daily")]),
    "obesity": ("obesity", []),
}

DISPOSITIONS = {
    "home": "home",
    "home with home health services": "home with home health",
    "a skilled nursing facility": "to a skilled nursing facility",
    "acute inpatient rehabilitation": "to inpatient rehabilitation",
}
FOLLOW_UP = (
    "primary care",
    "cardiology",
    "pulmonology",
    "general surgery",
    "orthopedics",
    "gastroenterology",
)


def build_discharge_summary(rng: random.Random) -> Note:
    problem = rng.choice(PROBLEMS)(rng)
    age, man, sex = age_sex(rng)
    comorbid = rng.sample(sorted(COMORBIDITIES), rng.choice((0, 1, 2, 2, 3, 4)))
    los = rng.randint(*problem.los)
    admitted = datetime.date(2024, 1, 1) + datetime.timedelta(days=rng.randrange(366))
    discharged = admitted + datetime.timedelta(days=los)
    disposition = rng.choice(sorted(DISPOSITIONS))
    clinic = rng.choice(FOLLOW_UP)
    weeks = rng.choice(("1 week", "2 weeks", "7-10 days", "4 weeks"))

    home_meds = [(drug, rng.choice(doses), how) for c in comorbid for drug, doses, how in COMORBIDITIES[c][1]]
    meds = problem.discharge_meds + [
        m for m in home_meds if m[0] not in {d[0] for d in problem.discharge_meds}
    ]
    history = f" with a history of {join(comorbid)}" if comorbid else ""
    proc_line = "None."
    course = [f"The patient was treated with {problem.treatment}."]
    if problem.procedure:
        proc_name, _, result = problem.procedure
        proc_line = f"{cap(proc_name)} on hospital day {rng.randint(1, max(1, los - 1))}."
        course.append(
            f"{cap(proc_name)} showed {result}; the patient tolerated the procedure without complications."
        )
    course.append(problem.course)
    diagnoses = [cap(problem.name)] + [cap(c) for c in comorbid]
    lines = [
        either(rng, "DISCHARGE SUMMARY", "HOSPITAL DISCHARGE SUMMARY"),
        f"ADMISSION DATE: {admitted:%m/%d/%Y}",
        f"DISCHARGE DATE: {discharged:%m/%d/%Y}",
        "",
        f"{either(rng, 'ADMITTING DIAGNOSIS', 'ADMISSION DIAGNOSIS', 'REASON FOR ADMISSION')}: "
        f"{cap(problem.name)}.",
        "",
        f"HISTORY OF PRESENT ILLNESS: The patient is a {age}-year-old {sex}{history} who presented with "
        f"{problem.presentation}. {problem.workup}",
        "",
        f"HOSPITAL COURSE: {' '.join(course)}",
        "",
        f"PROCEDURES: {proc_line}",
        "",
        "DISCHARGE DIAGNOSES:",
        *(f"{i}. {d}." for i, d in enumerate(diagnoses, start=1)),
        "",
        "DISCHARGE MEDICATIONS:",
        *(f"{i}. {drug} {dose} {how}." for i, (drug, dose, how) in enumerate(meds, start=1)),
        "",
        f"CONDITION AT DISCHARGE: {either(rng, 'Stable', 'Good', 'Improved')}.",
        f"DISPOSITION: Discharged to {disposition}.",
        f"FOLLOW-UP: {cap(clinic)} in {weeks}.",
    ]

    facts = Facts()
    who = f"{age}-year-old {man}"
    if comorbid and rng.random() < 0.7:
        who += history
        facts.extend([("diagnosis", COMORBIDITIES[c][0]) for c in comorbid])
    opening = either(rng, "admitted with", "was admitted for", "presented with")
    sentences = [f"{cap(who)} {opening} {problem.name}."]
    facts.extend(problem.facts)
    treated = f"Treated with {problem.treatment}"
    facts.extend(problem.treatment_facts)
    if problem.procedure:
        proc_name, proc_facts, result = problem.procedure
        treated += f"; {proc_name} showed {result}"
        facts.extend(proc_facts)
        if rng.random() < 0.4:
            treated += " without complications"
            facts.add("negation", "no complications")
    sentences.append(treated + ".")
    if problem.result and rng.random() < 0.6:
        sentences.append(problem.result[0])
        facts.extend(problem.result[1])
    key_meds = problem.discharge_meds[: rng.choice((1, len(problem.discharge_meds)))]
    med_text = join([f"{drug.lower()} {dose} {how}" for drug, dose, how in key_meds])
    sentences.append(f"Discharged {DISPOSITIONS[disposition]} on hospital day {los + 1} on {med_text}.")
    facts.extend([("measurement", dose) for _, dose, _ in key_meds])
    if rng.random() < 0.6:
        sentences.append(f"Follow up with {clinic} in {weeks}.")
    return Note("\n".join(lines), " ".join(sentences), facts.items)
