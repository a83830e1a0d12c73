"""Deterministic synthetic clinical notes with gold ICD-10-CM (and a few CPT) codes.

Each note is built in two steps. First a *case* is sampled: the active problems (with their
specific variant: laterality, stage, heart-failure type, ...), the current medications,
personal and family history, smoking status, an outpatient symptom work-up and the office
procedures. The gold codes are derived from the case alone by a fixed set of coding rules
(`_case_codes`). Then the case is rendered into a progress note with varied templates, and
*trap* mentions are added that name a condition without making it codeable: negations,
family history, resolved/historical conditions, rule-outs, discontinued or allergic drugs.

Coding rules the generator applies exactly (and the notes document consistently):
  * negated, ruled-out and (in clinic notes) uncertain diagnoses are not coded; an outpatient
    work-up codes the presenting symptom (cough, shortness of breath, chest pain, fatigue);
  * symptoms that belong to a confirmed diagnosis are not coded;
  * relatives' conditions give family-history Z codes; resolved conditions give history Z codes
    (old MI gives I25.2); a former smoker gets Z87.891, a current smoker F17.210;
  * hypertension with CKD and/or heart failure uses the combination codes I12.9/I11.0/I13.0;
    type 2 diabetes with CKD is E11.22 (plus the CKD stage), one E11 code per complication;
  * BMI Z68 codes only accompany a documented obesity diagnosis;
  * Z79 long-term drug codes come from the current medication list only (not from drugs that
    are discussed, newly started, stopped or listed as allergies);
  * CPT codes only for procedures performed in the clinic during the visit.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import simple_icd_10_cm as icd

GENERATOR_VERSION = "1.0.0"

# ---------------------------------------------------------------------------------------------
# Lexicon. _SPECIFIC: terms that name exactly this code (used where the note is specific).
# _SHARED: generic terms a note uses for every member of a family without an unspecified code
# of its own (laterality families); they are listed under each member in CODE_TERMS.
# ---------------------------------------------------------------------------------------------
_SPECIFIC: dict[str, list[str]] = {
    # hypertension; with CKD and/or heart failure the combination codes replace I10
    "I10": ["hypertension", "HTN", "essential hypertension", "high blood pressure"],
    "I12.9": ["hypertensive chronic kidney disease", "hypertensive CKD"],
    "I11.0": ["hypertensive heart disease with heart failure", "hypertensive heart disease"],
    "I13.0": [
        "hypertensive heart and chronic kidney disease with heart failure",
        "hypertensive heart and kidney disease",
    ],
    # type 2 diabetes
    "E11.9": ["type 2 diabetes mellitus", "type 2 diabetes", "T2DM", "DM2", "DM type 2"],
    "E11.65": [
        "type 2 diabetes with hyperglycemia",
        "T2DM with hyperglycemia",
        "poorly controlled type 2 diabetes",
        "poorly controlled T2DM",
        "DM2 with hyperglycemia",
    ],
    "E11.22": [
        "T2DM with diabetic CKD",
        "type 2 diabetes with diabetic chronic kidney disease",
        "diabetic chronic kidney disease",
        "diabetic kidney disease",
    ],
    "E11.40": ["diabetic neuropathy", "T2DM with diabetic neuropathy", "type 2 diabetes with neuropathy"],
    "E11.42": [
        "diabetic peripheral neuropathy",
        "diabetic polyneuropathy",
        "T2DM with peripheral neuropathy",
    ],
    # chronic kidney disease: the stage must be written by the provider
    "N18.9": ["CKD", "chronic kidney disease"],
    "N18.2": ["CKD stage 2", "CKD 2", "chronic kidney disease stage 2"],
    "N18.30": ["CKD stage 3", "CKD 3", "chronic kidney disease stage 3"],
    "N18.31": ["CKD stage 3a", "CKD 3a", "chronic kidney disease stage 3a"],
    "N18.32": ["CKD stage 3b", "CKD 3b", "chronic kidney disease stage 3b"],
    "N18.4": ["CKD stage 4", "CKD 4", "chronic kidney disease stage 4", "stage 4 CKD"],
    # heart failure: type and acuity
    "I50.9": ["CHF", "congestive heart failure", "heart failure"],
    "I50.22": [
        "chronic systolic heart failure",
        "chronic HFrEF",
        "chronic systolic CHF",
        "chronic heart failure with reduced ejection fraction",
    ],
    "I50.23": [
        "acute on chronic systolic heart failure",
        "acute on chronic HFrEF",
        "acute on chronic systolic CHF",
    ],
    "I50.32": [
        "chronic diastolic heart failure",
        "chronic HFpEF",
        "chronic diastolic CHF",
        "chronic heart failure with preserved ejection fraction",
    ],
    "I50.33": [
        "acute on chronic diastolic heart failure",
        "acute on chronic HFpEF",
        "acute on chronic diastolic CHF",
    ],
    # lungs
    "J44.9": ["COPD", "chronic obstructive pulmonary disease"],
    "J44.1": ["COPD exacerbation", "acute exacerbation of COPD", "AECOPD", "COPD with acute exacerbation"],
    "J45.909": ["asthma", "asthma, uncomplicated", "bronchial asthma"],
    "J45.40": ["moderate persistent asthma", "asthma, moderate persistent"],
    "J45.901": ["asthma exacerbation", "acute asthma exacerbation", "asthma with acute exacerbation"],
    "J18.9": ["pneumonia", "community-acquired pneumonia", "CAP", "PNA"],
    "G47.33": ["obstructive sleep apnea", "OSA"],
    # heart and vessels
    "I48.91": ["atrial fibrillation", "AFib", "AF", "A-fib"],
    "I48.0": ["paroxysmal atrial fibrillation", "paroxysmal AFib", "PAF", "paroxysmal AF"],
    "I48.21": ["permanent atrial fibrillation", "permanent AFib", "permanent AF"],
    "I25.10": ["coronary artery disease", "CAD", "atherosclerotic heart disease", "ASHD"],
    "I25.2": ["old MI", "prior MI", "history of MI", "remote MI", "old myocardial infarction"],
    "Z95.1": ["s/p CABG", "status post CABG", "history of CABG", "CABG"],
    "I82.401": [
        "right lower extremity DVT",
        "right leg DVT",
        "DVT of the right lower extremity",
        "acute deep vein thrombosis of the right leg",
    ],
    "I82.402": [
        "left lower extremity DVT",
        "left leg DVT",
        "DVT of the left lower extremity",
        "acute deep vein thrombosis of the left leg",
    ],
    "I26.99": ["pulmonary embolism", "PE", "acute PE", "acute pulmonary embolism"],
    # metabolic
    "E78.5": ["hyperlipidemia", "HLD", "dyslipidemia"],
    "E78.00": ["hypercholesterolemia", "high cholesterol", "pure hypercholesterolemia"],
    "E78.2": ["mixed hyperlipidemia", "combined hyperlipidemia", "mixed dyslipidemia"],
    "E03.9": ["hypothyroidism", "hypothyroid", "acquired hypothyroidism"],
    "E55.9": ["vitamin D deficiency", "low vitamin D", "hypovitaminosis D"],
    "E66.9": ["obesity", "obese"],
    "E66.811": ["class 1 obesity", "obesity class 1", "obesity, class 1"],
    "E66.812": ["class 2 obesity", "obesity class 2", "obesity, class 2"],
    "E66.01": ["morbid obesity", "severe obesity", "morbidly obese"],
    "M10.9": ["gout", "gouty arthritis"],
    # GI / GU
    "K21.9": ["GERD", "gastroesophageal reflux disease", "acid reflux"],
    "N39.0": ["UTI", "urinary tract infection"],
    "N40.0": ["BPH", "benign prostatic hyperplasia"],
    "N40.1": [
        "BPH with LUTS",
        "BPH with lower urinary tract symptoms",
        "benign prostatic hyperplasia with LUTS",
    ],
    # mental health
    "F32.A": ["depression", "depressive disorder", "depression, unspecified"],
    "F32.9": ["major depressive disorder", "MDD", "major depression"],
    "F33.1": [
        "major depressive disorder, recurrent, moderate",
        "MDD, recurrent, moderate",
        "recurrent major depression, moderate",
    ],
    "F41.1": ["generalized anxiety disorder", "GAD", "generalized anxiety"],
    "F41.9": ["anxiety", "anxiety disorder", "anxiety disorder, unspecified"],
    "F17.210": ["current smoker", "smoker", "nicotine dependence", "cigarette smoker", "smokes cigarettes"],
    "Z87.891": ["former smoker", "ex-smoker", "quit smoking", "history of smoking"],
    # skin, musculoskeletal, neuro, blood
    "L03.115": ["right lower extremity cellulitis", "RLE cellulitis", "cellulitis of the right leg"],
    "L03.116": ["left lower extremity cellulitis", "LLE cellulitis", "cellulitis of the left leg"],
    "M17.11": ["right knee osteoarthritis", "osteoarthritis of the right knee", "right knee OA"],
    "M17.12": ["left knee osteoarthritis", "osteoarthritis of the left knee", "left knee OA"],
    "M17.0": ["bilateral knee osteoarthritis", "osteoarthritis of both knees", "bilateral knee OA"],
    "M54.50": ["low back pain", "LBP", "lumbago", "mechanical low back pain"],
    "M81.0": ["osteoporosis", "postmenopausal osteoporosis", "age-related osteoporosis"],
    "G43.909": ["migraine", "migraines", "migraine headache"],
    "G43.009": ["migraine without aura", "migraines without aura", "common migraine"],
    "D50.9": ["iron deficiency anemia", "IDA", "iron-deficiency anemia"],
    "D64.9": ["anemia", "normocytic anemia", "anemia, unspecified"],
    # symptoms, coded only for an outpatient work-up without a confirmed diagnosis
    "R05.9": ["cough", "persistent cough"],
    "R06.02": ["shortness of breath", "SOB"],
    "R07.9": ["chest pain", "chest discomfort"],
    "R53.83": ["fatigue", "tiredness"],
    # personal history
    "Z86.718": ["history of DVT", "h/o DVT", "prior DVT", "remote DVT"],
    "Z86.711": ["history of PE", "h/o PE", "prior pulmonary embolism", "history of pulmonary embolism"],
    "Z85.3": ["history of breast cancer", "h/o breast cancer", "breast cancer"],
    "Z85.46": ["history of prostate cancer", "h/o prostate cancer", "prostate cancer"],
    "Z86.73": ["history of stroke", "prior CVA", "history of TIA", "h/o CVA"],
    "Z87.440": ["history of recurrent UTIs", "recurrent UTIs", "history of UTIs"],
    # family history
    "Z80.3": ["family history of breast cancer", "breast cancer"],
    "Z80.0": ["family history of colon cancer", "colon cancer"],
    "Z82.49": [
        "family history of premature CAD",
        "family history of CAD",
        "MI",
        "coronary artery disease",
        "CAD",
        "hypertension",
        "HTN",
        "heart disease",
    ],
    "Z83.3": ["family history of diabetes", "diabetes", "type 2 diabetes", "T2DM"],
    "Z82.3": ["family history of stroke", "stroke", "CVA"],
    # long-term (current) drug therapy, from the medication list
    "Z79.4": ["insulin", "insulin glargine", "insulin lispro", "Lantus"],
    "Z79.84": ["metformin", "glipizide", "sitagliptin", "linagliptin", "empagliflozin"],
    "Z79.85": ["semaglutide", "dulaglutide", "Ozempic", "Trulicity"],
    "Z79.01": ["apixaban", "rivaroxaban", "warfarin", "Eliquis", "Xarelto", "anticoagulation"],
    "Z79.82": ["aspirin", "ASA"],
    "Z79.02": ["clopidogrel", "Plavix"],
    # CPT: office procedures
    "93000": ["ECG", "EKG", "12-lead ECG", "electrocardiogram"],
    "20610": ["knee injection", "intra-articular injection", "joint injection"],
    "94640": ["nebulizer treatment", "DuoNeb", "albuterol nebulizer"],
    "81002": ["UA dipstick", "urine dipstick", "point-of-care urinalysis"],
}
_SHARED: dict[tuple[str, ...], list[str]] = {
    ("I82.401", "I82.402"): ["DVT", "deep vein thrombosis"],
    ("L03.115", "L03.116"): ["cellulitis"],
    ("M17.11", "M17.12", "M17.0"): ["knee osteoarthritis", "knee OA"],
}

# BMI codes: one per whole BMI unit 30-39, then 40-44.9 and 45-49.9 (adult).
_BMI_BANDS: list[tuple[float, float, str]] = [(30.0 + i, 31.0 + i, f"Z68.3{i}") for i in range(10)] + [
    (40.0, 45.0, "Z68.41"),
    (45.0, 50.0, "Z68.42"),
]


def _bmi_code(bmi: float) -> str:
    for lo, hi, code in _BMI_BANDS:
        if lo <= bmi < hi:
            return code
    raise ValueError(f"no BMI code for {bmi}")


def _build_code_terms() -> dict[str, list[str]]:
    terms = {code: list(words) for code, words in _SPECIFIC.items()}
    for codes, words in _SHARED.items():
        for code in codes:
            terms[code] += words
    for lo, hi, code in _BMI_BANDS:
        terms[code] = [f"BMI {v / 10:.1f}" for v in range(int(lo * 10), int(hi * 10))]
    return terms


CODE_TERMS: dict[str, list[str]] = _build_code_terms()

# CPT descriptions in our own words.
CPT_DESCRIPTIONS = {
    "93000": "Resting 12-lead electrocardiogram recorded in the office, with interpretation and report",
    "20610": "Needle injection or aspiration of a large joint such as the knee, no imaging guidance",
    "94640": "Inhaled bronchodilator treatment given in the office by nebulizer or inhaler",
    "81002": "Office urine dipstick test read by eye, without microscopy",
}

# ---------------------------------------------------------------------------------------------
# Medications: drug -> dose strings; which drugs carry a long-term-therapy Z79 code.
# ---------------------------------------------------------------------------------------------
MEDS: dict[str, list[str]] = {
    "lisinopril": ["lisinopril 10 mg daily", "lisinopril 20 mg daily", "lisinopril 40 mg daily"],
    "losartan": ["losartan 50 mg daily", "losartan 100 mg daily"],
    "amlodipine": ["amlodipine 5 mg daily", "amlodipine 10 mg daily"],
    "hydrochlorothiazide": ["hydrochlorothiazide 25 mg daily", "HCTZ 12.5 mg daily"],
    "chlorthalidone": ["chlorthalidone 25 mg daily"],
    "metformin": ["metformin 500 mg BID", "metformin 1000 mg BID", "metformin ER 1000 mg daily"],
    "glipizide": ["glipizide 5 mg daily", "glipizide 10 mg BID"],
    "sitagliptin": ["sitagliptin 100 mg daily"],
    "linagliptin": ["linagliptin 5 mg daily"],
    "empagliflozin": ["empagliflozin 10 mg daily", "empagliflozin 25 mg daily"],
    "insulin glargine": [
        "insulin glargine 20 units at bedtime",
        "insulin glargine (Lantus) 32 units nightly",
    ],
    "insulin lispro": ["insulin lispro 6 units with meals", "insulin lispro sliding scale with meals"],
    "semaglutide": ["semaglutide 1 mg SC weekly", "semaglutide (Ozempic) 0.5 mg weekly"],
    "dulaglutide": ["dulaglutide (Trulicity) 1.5 mg SC weekly"],
    "gabapentin": ["gabapentin 300 mg TID", "gabapentin 600 mg at bedtime"],
    "furosemide": ["furosemide 40 mg daily", "furosemide 20 mg BID"],
    "carvedilol": ["carvedilol 12.5 mg BID", "carvedilol 25 mg BID"],
    "metoprolol": ["metoprolol succinate 50 mg daily", "metoprolol tartrate 25 mg BID"],
    "sacubitril-valsartan": ["sacubitril-valsartan 49/51 mg BID"],
    "spironolactone": ["spironolactone 25 mg daily"],
    "diltiazem": ["diltiazem ER 180 mg daily"],
    "apixaban": ["apixaban 5 mg BID", "apixaban (Eliquis) 5 mg BID"],
    "rivaroxaban": ["rivaroxaban 20 mg daily", "rivaroxaban (Xarelto) 20 mg with dinner"],
    "warfarin": ["warfarin 5 mg daily (INR goal 2-3)", "warfarin per INR clinic"],
    "aspirin": ["aspirin 81 mg daily", "ASA 81 mg daily"],
    "clopidogrel": ["clopidogrel 75 mg daily"],
    "atorvastatin": ["atorvastatin 40 mg nightly", "atorvastatin 80 mg daily"],
    "rosuvastatin": ["rosuvastatin 10 mg daily", "rosuvastatin 20 mg daily"],
    "simvastatin": ["simvastatin 20 mg nightly"],
    "pravastatin": ["pravastatin 40 mg nightly"],
    "ezetimibe": ["ezetimibe 10 mg daily"],
    "levothyroxine": [
        "levothyroxine 50 mcg daily",
        "levothyroxine 88 mcg daily",
        "levothyroxine 112 mcg daily",
    ],
    "omeprazole": ["omeprazole 20 mg daily", "omeprazole 40 mg daily before breakfast"],
    "pantoprazole": ["pantoprazole 40 mg daily"],
    "famotidine": ["famotidine 20 mg BID"],
    "sertraline": ["sertraline 50 mg daily", "sertraline 100 mg daily"],
    "escitalopram": ["escitalopram 10 mg daily", "escitalopram 20 mg daily"],
    "fluoxetine": ["fluoxetine 20 mg daily"],
    "bupropion": ["bupropion XL 150 mg daily"],
    "buspirone": ["buspirone 10 mg BID"],
    "tiotropium": ["tiotropium 18 mcg inhaled daily"],
    "budesonide-formoterol": ["budesonide-formoterol 160/4.5 2 puffs BID"],
    "fluticasone-salmeterol": ["fluticasone-salmeterol 250/50 1 inhalation BID"],
    "montelukast": ["montelukast 10 mg nightly"],
    "albuterol": ["albuterol HFA 2 puffs q4-6h PRN", "albuterol inhaler PRN wheeze"],
    "sumatriptan": ["sumatriptan 50 mg PRN migraine", "sumatriptan 100 mg PRN"],
    "topiramate": ["topiramate 50 mg BID"],
    "ferrous sulfate": ["ferrous sulfate 325 mg daily", "ferrous sulfate 325 mg every other day"],
    "tamsulosin": ["tamsulosin 0.4 mg nightly"],
    "finasteride": ["finasteride 5 mg daily"],
    "allopurinol": ["allopurinol 300 mg daily", "allopurinol 100 mg daily"],
    "ergocalciferol": ["ergocalciferol 50,000 IU weekly"],
    "alendronate": ["alendronate 70 mg weekly"],
    "nitroglycerin": ["nitroglycerin 0.4 mg SL PRN"],
    "CPAP": ["CPAP nightly"],
    # distractors: no code of their own
    "acetaminophen": ["acetaminophen 650 mg q6h PRN", "acetaminophen 500 mg PRN pain"],
    "multivitamin": ["multivitamin daily"],
    "vitamin D3": ["vitamin D3 2,000 IU daily", "cholecalciferol 1,000 IU daily"],
    "docusate": ["docusate 100 mg BID PRN"],
    "melatonin": ["melatonin 3 mg at bedtime"],
    "loratadine": ["loratadine 10 mg daily"],
    "fluticasone nasal": ["fluticasone nasal spray 2 sprays daily"],
    "calcium carbonate": ["calcium carbonate 600 mg BID"],
    "fish oil": ["fish oil 1 g daily"],
}
MED_Z79: dict[str, str] = {
    "metformin": "Z79.84",
    "glipizide": "Z79.84",
    "sitagliptin": "Z79.84",
    "linagliptin": "Z79.84",
    "empagliflozin": "Z79.84",
    "insulin glargine": "Z79.4",
    "insulin lispro": "Z79.4",
    "semaglutide": "Z79.85",
    "dulaglutide": "Z79.85",
    "apixaban": "Z79.01",
    "rivaroxaban": "Z79.01",
    "warfarin": "Z79.01",
    "aspirin": "Z79.82",
    "clopidogrel": "Z79.02",
}
_DISTRACTOR_MEDS = [
    "acetaminophen", "multivitamin", "vitamin D3", "docusate", "melatonin",
    "loratadine", "fluticasone nasal", "calcium carbonate", "fish oil", "omeprazole",
]  # fmt: skip
_DM_REGIMENS: list[tuple[tuple[str, ...], float]] = [
    (("metformin",), 0.25),
    (("metformin", "glipizide"), 0.08),
    (("metformin", "insulin glargine"), 0.16),
    (("insulin glargine", "insulin lispro"), 0.09),
    (("insulin glargine",), 0.05),
    (("metformin", "semaglutide"), 0.12),
    (("metformin", "dulaglutide"), 0.06),
    (("metformin", "sitagliptin"), 0.05),
    (("metformin", "empagliflozin"), 0.05),
    ((), 0.1),  # diet-controlled
]
_ANTICOAGULANTS = ["apixaban", "rivaroxaban", "warfarin"]

# ---------------------------------------------------------------------------------------------
# Case: everything the codes are derived from.
# ---------------------------------------------------------------------------------------------


@dataclass
class _Case:
    setting: str  # "clinic" | "inpatient"
    age: int
    sex: str  # "F" | "M"
    bmi: float
    principal: str | None = None  # concept that motivates the visit / admission
    problems: dict[str, str] = field(default_factory=dict)  # concept -> ICD code (variant)
    dm_comps: list[str] = field(default_factory=list)  # E11 complication codes (not CKD)
    info: dict = field(default_factory=dict)  # render details: side, values, flags
    meds: list[str] = field(default_factory=list)  # current medication keys
    history: list[str] = field(default_factory=list)  # personal-history codes
    family: list[tuple[str, str]] = field(default_factory=list)  # (relative, code)
    smoking: str = "unknown"  # never | former | current | unknown
    workup: tuple[str, str] | None = None  # (symptom code, suspected condition)
    procedures: list[str] = field(default_factory=list)  # CPT codes

    def clone(self) -> _Case:
        return _Case(
            self.setting, self.age, self.sex, self.bmi, self.principal, dict(self.problems),
            list(self.dm_comps), dict(self.info), list(self.meds), list(self.history),
            list(self.family), self.smoking, self.workup, list(self.procedures),
        )  # fmt: skip

    def add_med(self, med: str) -> None:
        if med not in self.meds:
            self.meds.append(med)


def _htn_code(case: _Case) -> str:
    hf, ckd = "hf" in case.problems, "ckd" in case.problems
    return "I13.0" if hf and ckd else "I11.0" if hf else "I12.9" if ckd else "I10"


def _case_codes(case: _Case) -> list[str]:
    """The gold codes: a pure function of the case (the coding rules live here)."""
    p = case.problems
    codes = [code for concept, code in p.items() if concept not in ("htn", "dm", "obesity")]
    if "dm" in p:
        comps = list(case.dm_comps) + (["E11.22"] if "ckd" in p else [])
        codes += comps or ["E11.9"]
    if "htn" in p:
        codes.append(_htn_code(case))
    if "obesity" in p:
        codes += [p["obesity"], _bmi_code(case.bmi)]
    if case.smoking == "current":
        codes.append("F17.210")
    elif case.smoking == "former":
        codes.append("Z87.891")
    codes += case.history + [code for _, code in case.family]
    codes += [MED_Z79[m] for m in case.meds if m in MED_Z79]
    if case.workup:
        codes.append(case.workup[0])
    codes += case.procedures
    return sorted(set(codes))


# ---------------------------------------------------------------------------------------------
# Concept samplers: each adds one concept to a case (returns False when it does not fit).
# ---------------------------------------------------------------------------------------------


def _wpick(rng: random.Random, options: list[tuple[object, float]]):
    return rng.choices([o for o, _ in options], [w for _, w in options])[0]


def _add_htn(rng, case, principal):
    case.problems["htn"] = "I10"
    options = ["lisinopril", "losartan", "amlodipine", "hydrochlorothiazide", "chlorthalidone"]
    if "sacubitril-valsartan" in case.meds:  # already on an ARB (as the ARNI)
        options = options[2:]
    first = rng.choice(options)
    case.add_med(first)
    if rng.random() < 0.45:
        second = rng.choice(["amlodipine", "hydrochlorothiazide", "chlorthalidone"])
        case.add_med(second)
    case.info["bp_ok"] = rng.random() < 0.62
    return True


def _add_dm(rng, case, principal):
    case.problems["dm"] = "E11"
    if rng.random() < 0.38:
        case.dm_comps.append("E11.65")
    if rng.random() < 0.28:
        case.dm_comps.append(rng.choice(["E11.40", "E11.42"]))
        case.add_med("gabapentin")
    for med in _wpick(rng, _DM_REGIMENS):
        case.add_med(med)
    hyper = "E11.65" in case.dm_comps
    case.info["a1c"] = round(rng.uniform(8.6, 12.4) if hyper else rng.uniform(6.2, 7.6), 1)
    return True


_CKD_EGFR = {"N18.2": (62, 86), "N18.30": (32, 58), "N18.31": (45, 59), "N18.32": (30, 44), "N18.4": (16, 29)}


def _add_ckd(rng, case, principal):
    stage = _wpick(
        rng,
        [
            ("N18.9", 0.14),
            ("N18.2", 0.14),
            ("N18.30", 0.17),
            ("N18.31", 0.2),
            ("N18.32", 0.18),
            ("N18.4", 0.17),
        ],
    )
    case.problems["ckd"] = stage
    lo, hi = _CKD_EGFR.get(stage, (35, 55))
    case.info["egfr"] = rng.randint(lo, hi)
    case.info["cr"] = round(min(4.2, 0.9 * 75 / case.info["egfr"] + rng.uniform(-0.1, 0.1)), 2)
    if stage == "N18.4" and "metformin" in case.meds:  # contraindicated at eGFR < 30
        case.meds[case.meds.index("metformin")] = "linagliptin"
    return True


def _add_hf(rng, case, principal):
    if principal:
        code = rng.choice(["I50.23", "I50.33"])
    else:
        code = _wpick(rng, [("I50.22", 0.38), ("I50.32", 0.33), ("I50.9", 0.29)])
    case.problems["hf"] = code
    case.add_med("furosemide")
    if code in ("I50.22", "I50.23"):
        case.info["ef"] = rng.choice([20, 25, 30, 35])
        case.add_med(rng.choice(["carvedilol", "metoprolol"]))
        # the ARNI replaces an ACE inhibitor or ARB
        case.meds = [m for m in case.meds if m not in ("lisinopril", "losartan")]
        case.add_med("sacubitril-valsartan")
        if rng.random() < 0.5:
            case.add_med("spironolactone")
    elif code in ("I50.32", "I50.33"):
        case.info["ef"] = rng.choice([55, 60, 65])
    return True


def _add_copd(rng, case, principal):
    if "asthma" in case.problems:
        return False
    case.problems["copd"] = "J44.1" if principal else "J44.9"
    case.add_med(rng.choice(["tiotropium", "budesonide-formoterol"]))
    case.add_med("albuterol")
    if principal and case.setting == "clinic" and rng.random() < 0.55:
        case.procedures.append("94640")
    return True


def _add_asthma(rng, case, principal):
    if "copd" in case.problems:
        return False
    case.problems["asthma"] = "J45.901" if principal else _wpick(rng, [("J45.909", 0.55), ("J45.40", 0.45)])
    case.add_med(rng.choice(["fluticasone-salmeterol", "budesonide-formoterol", "montelukast"]))
    case.add_med("albuterol")
    if principal and case.setting == "clinic" and rng.random() < 0.55:
        case.procedures.append("94640")
    return True


def _add_af(rng, case, principal):
    options = (
        [("I48.91", 0.45), ("I48.0", 0.55)]
        if principal
        else [("I48.91", 0.4), ("I48.0", 0.3), ("I48.21", 0.3)]
    )
    case.problems["af"] = _wpick(rng, options)
    case.add_med(rng.choice(["metoprolol", "diltiazem"]))
    if not any(m in case.meds for m in _ANTICOAGULANTS) and rng.random() < 0.72:
        case.add_med(rng.choice(_ANTICOAGULANTS))
    case.info["chads"] = (
        rng.randint(2, 5) if any(m in case.meds for m in _ANTICOAGULANTS) else rng.randint(0, 3)
    )
    if case.setting == "clinic" and rng.random() < 0.3:
        case.procedures.append("93000")
    return True


def _add_cad(rng, case, principal):
    case.problems["cad"] = "I25.10"
    if rng.random() < 0.78:
        case.add_med("aspirin")
    elif rng.random() < 0.6:
        case.info["asa_allergy"] = True
    if rng.random() < 0.45:
        case.add_med("clopidogrel")
    case.add_med(rng.choice(["atorvastatin", "rosuvastatin"]))
    if rng.random() < 0.5:
        case.add_med("metoprolol")
    if rng.random() < 0.3:
        case.add_med("nitroglycerin")
    for code in ("Z95.1", "I25.2"):  # prior CABG / old MI (also sampled on their own)
        if rng.random() < 0.3 and code not in case.history:
            case.history.append(code)
    if case.setting == "clinic" and rng.random() < 0.15 and "93000" not in case.procedures:
        case.procedures.append("93000")
    return True


def _add_cad_history(code):
    """Prior CABG (Z95.1) or old MI (I25.2): both imply coronary artery disease."""

    def add(rng, case, principal):
        if code in case.history or not _fits_patient("cad", case):
            return False
        if "cad" not in case.problems:
            _add_cad(rng, case, False)
        case.history.append(code)
        return True

    return add


def _add_simple(concept, options, meds, med_prob=1.0):
    """Sampler for a chronic problem with variants and a single typical drug."""

    def add(rng, case, principal):
        case.problems[concept] = _wpick(rng, options) if isinstance(options, list) else options
        if meds and rng.random() < med_prob:
            chosen = rng.choice(meds)
            if not (concept == "hld" and any(m in case.meds for m in ("atorvastatin", "rosuvastatin"))):
                case.add_med(chosen)
        return True

    return add


def _add_obesity(rng, case, principal):
    code = _wpick(rng, [("E66.9", 0.3), ("E66.811", 0.22), ("E66.812", 0.28), ("E66.01", 0.2)])
    lo, hi = {
        "E66.9": (30.0, 39.9),
        "E66.811": (30.0, 34.9),
        "E66.812": (35.0, 39.9),
        "E66.01": (40.0, 49.9),
    }[code]
    case.problems["obesity"] = code
    case.bmi = rng.randint(int(lo * 10), int(hi * 10)) / 10
    return True


def _acute(concept, code):
    def add(rng, case, principal):
        if not principal:
            return False
        case.problems[concept] = code
        return True

    return add


def _add_lateral(concept, right, left):
    def add(rng, case, principal):
        if not principal:
            return False
        side = rng.choice(["right", "left"])
        case.problems[concept] = right if side == "right" else left
        case.info[concept + "_side"] = side
        return True

    return add


def _add_knee_oa(rng, case, principal):
    side = _wpick(rng, [("right", 0.38), ("left", 0.36), ("bilateral", 0.26)])
    case.problems["knee_oa"] = {"right": "M17.11", "left": "M17.12", "bilateral": "M17.0"}[side]
    case.info["knee_side"] = side
    if principal and case.setting == "clinic" and side != "bilateral" and rng.random() < 0.55:
        case.procedures.append("20610")
    return True


def _add_uti(rng, case, principal):
    if not principal:
        return False
    case.problems["uti"] = "N39.0"
    if case.setting == "clinic" and rng.random() < 0.6:
        case.procedures.append("81002")
    return True


def _add_pe(rng, case, principal):
    if not principal or "Z86.711" in case.history:
        return False
    case.problems["pe"] = "I26.99"
    return True


def _add_dvt(rng, case, principal):
    if not principal or "Z86.718" in case.history:
        return False
    return _add_lateral("dvt", "I82.401", "I82.402")(rng, case, principal)


def _add_smoking(status):
    def add(rng, case, principal):
        if case.smoking != "unknown":
            return False
        case.smoking = status
        return True

    return add


# (code, allowed sex or None, conflicting concept, drug it often brings)
_HISTORY = {
    "hx_dvt": ("Z86.718", None, "dvt"),
    "hx_pe": ("Z86.711", None, "pe"),
    "hx_breast_ca": ("Z85.3", "F", None),
    "hx_prostate_ca": ("Z85.46", "M", None),
    "hx_stroke": ("Z86.73", None, None),
    "hx_uti": ("Z87.440", "F", "uti"),
}


def _add_history(key):
    code, sex, conflict = _HISTORY[key]

    def add(rng, case, principal):
        if (sex and case.sex != sex) or conflict in case.problems or code in case.history:
            return False
        case.history.append(code)
        if key == "hx_stroke" and rng.random() < 0.6:
            case.add_med(rng.choice(["aspirin", "aspirin", "clopidogrel"]))
        return True

    return add


# family-history code -> (relatives, condition phrases as written in the note)
_FAMILY = {
    "Z80.3": (["mother", "sister", "maternal aunt", "maternal grandmother"], ["breast cancer"]),
    "Z80.0": (["father", "mother", "brother", "paternal uncle"], ["colon cancer"]),
    "Z82.49": (
        ["father", "mother", "brother"],
        ["MI", "coronary artery disease", "CAD", "hypertension", "HTN", "heart disease"],
    ),
    "Z83.3": (["mother", "father", "sister", "brother"], ["type 2 diabetes", "diabetes", "T2DM"]),
    "Z82.3": (["father", "mother", "grandmother"], ["stroke", "CVA"]),
}


def _add_family(code):
    def add(rng, case, principal):
        if any(c == code for _, c in case.family):
            return False
        case.family.append((rng.choice(_FAMILY[code][0]), code))
        return True

    return add


# Outpatient work-up: symptom code -> conditions the provider wants to rule out (and the
# concept that must be absent for the rule-out to make sense).
_WORKUPS = {
    "R05.9": [("pneumonia", "pna"), ("asthma", "asthma"), ("COPD", "copd")],
    "R06.02": [("pulmonary embolism", "pe"), ("CHF", "hf"), ("asthma", "asthma"), ("anemia", "anemia")],
    "R07.9": [("CAD", "cad"), ("pulmonary embolism", "pe"), ("GERD", "gerd")],
    "R53.83": [
        ("hypothyroidism", "hypothyroid"),
        ("anemia", "anemia"),
        ("OSA", "osa"),
        ("type 2 diabetes", "dm"),
    ],
}


def _add_workup(rng, case, principal):
    if not principal or case.setting != "clinic":
        return False
    symptom = rng.choice(list(_WORKUPS))
    suspects = [name for name, concept in _WORKUPS[symptom]]
    case.workup = (symptom, rng.choice(suspects))
    if symptom == "R07.9" and rng.random() < 0.6:
        case.procedures.append("93000")
    return True


def _workup_ok(case: _Case) -> bool:
    """A rule-out is only plausible for a condition the patient is not known to have."""
    if not case.workup:
        return True
    concept = dict(_WORKUPS[case.workup[0]])[case.workup[1]]
    return concept not in case.problems


_SAMPLERS = {
    "htn": _add_htn,
    "dm": _add_dm,
    "ckd": _add_ckd,
    "hf": _add_hf,
    "copd": _add_copd,
    "asthma": _add_asthma,
    "af": _add_af,
    "cad": _add_cad,
    "cabg": _add_cad_history("Z95.1"),
    "old_mi": _add_cad_history("I25.2"),
    "hld": _add_simple(
        "hld",
        [("E78.5", 0.55), ("E78.00", 0.25), ("E78.2", 0.2)],
        ["atorvastatin", "rosuvastatin", "simvastatin", "pravastatin"],
        0.85,
    ),
    "hypothyroid": _add_simple("hypothyroid", "E03.9", ["levothyroxine"]),
    "gerd": _add_simple("gerd", "K21.9", ["omeprazole", "pantoprazole", "famotidine"]),
    "depression": _add_simple(
        "depression",
        [("F32.A", 0.36), ("F32.9", 0.34), ("F33.1", 0.3)],
        ["sertraline", "escitalopram", "fluoxetine", "bupropion"],
        0.85,
    ),
    "anxiety": _add_simple("anxiety", [("F41.1", 0.55), ("F41.9", 0.45)], ["buspirone", "escitalopram"], 0.6),
    "obesity": _add_obesity,
    "osa": _add_simple("osa", "G47.33", ["CPAP"]),
    "bph": _add_simple("bph", [("N40.0", 0.45), ("N40.1", 0.55)], ["tamsulosin", "finasteride"]),
    "gout": _add_simple("gout", "M10.9", ["allopurinol"]),
    "vitd": _add_simple("vitd", "E55.9", ["ergocalciferol"]),
    "osteoporosis": _add_simple("osteoporosis", "M81.0", ["alendronate"]),
    "anemia": _add_simple("anemia", [("D50.9", 0.6), ("D64.9", 0.4)], ["ferrous sulfate"], 0.0),
    "migraine": _add_simple(
        "migraine", [("G43.909", 0.55), ("G43.009", 0.45)], ["sumatriptan", "topiramate"]
    ),
    "lbp": _add_simple("lbp", "M54.50", []),
    "knee_oa": _add_knee_oa,
    "pna": _acute("pna", "J18.9"),
    "uti": _add_uti,
    "cellulitis": _add_lateral("cellulitis", "L03.115", "L03.116"),
    "dvt": _add_dvt,
    "pe": _add_pe,
    "workup": _add_workup,
    "smoker": _add_smoking("current"),
    "former_smoker": _add_smoking("former"),
    **{key: _add_history(key) for key in _HISTORY},
    "fh_breast_ca": _add_family("Z80.3"),
    "fh_colon_ca": _add_family("Z80.0"),
    "fh_cad": _add_family("Z82.49"),
    "fh_dm": _add_family("Z83.3"),
    "fh_stroke": _add_family("Z82.3"),
}

# What a visit / admission is about. None: a chronic-disease follow-up.
_PRINCIPAL_WEIGHTS = {
    "clinic": [
        (None, 0.36), ("workup", 0.2), ("uti", 0.05), ("cellulitis", 0.04), ("pna", 0.04),
        ("copd", 0.045), ("asthma", 0.05), ("knee_oa", 0.07), ("lbp", 0.04), ("migraine", 0.035),
        ("dvt", 0.03),
    ],
    "inpatient": [
        ("pna", 0.2), ("hf", 0.22), ("copd", 0.14), ("cellulitis", 0.12), ("uti", 0.1),
        ("dvt", 0.07), ("pe", 0.08), ("af", 0.07),
    ],
}  # fmt: skip
# Comorbidities and other codeable facts; sex- or age-specific ones are filtered in _build_case.
_COMORBID_WEIGHTS = {
    "htn": 11, "hld": 7, "dm": 8.5, "obesity": 12, "ckd": 5.5, "hf": 3.2, "copd": 2.6,
    "asthma": 2.4, "af": 3.2, "cad": 3.6, "cabg": 1.6, "old_mi": 1.6, "hypothyroid": 3.2,
    "gerd": 3.2, "depression": 3.8,
    "anxiety": 3, "knee_oa": 2, "lbp": 1.5, "migraine": 1.5, "anemia": 2.2, "osa": 1.8, "bph": 3.6,
    "gout": 1.5, "vitd": 1.8, "osteoporosis": 2.2, "smoker": 3.2, "former_smoker": 4.2,
    "hx_dvt": 1.6, "hx_pe": 1.1, "hx_breast_ca": 2.2, "hx_prostate_ca": 2.0, "hx_stroke": 1.5,
    "hx_uti": 1.8, "fh_breast_ca": 2.0, "fh_colon_ca": 1.4, "fh_cad": 2.2, "fh_dm": 1.6,
    "fh_stroke": 1.2,
}  # fmt: skip
# Related problems cluster: a concept's weight is multiplied when a related one is present.
_AFFINITY = {
    "htn": ("dm", "ckd", "hf", "cad", "af", "obesity"),
    "ckd": ("htn", "dm", "hf"),
    "dm": ("htn", "hld", "obesity", "ckd", "cad"),
    "hf": ("htn", "ckd", "af", "cad"),
    "hld": ("dm", "cad", "htn"),
    "cad": ("hld", "dm", "htn", "hf"),
    "cabg": ("cad",),
    "old_mi": ("cad",),
    "af": ("hf", "htn"),
    "obesity": ("dm", "osa", "htn"),
    "osa": ("obesity",),
    "copd": ("smoker", "former_smoker"),
    "smoker": ("copd",),
    "former_smoker": ("copd", "cad"),
}
_AFFINITY_BOOST = 2.6
_CODE_COUNT_WEIGHTS = [(1, 0.12), (2, 0.23), (3, 0.27), (4, 0.2), (5, 0.11), (6, 0.07)]
MAX_CODES = 6


def _build_case(rng: random.Random) -> _Case:
    setting = "inpatient" if rng.random() < 0.3 else "clinic"
    sex = rng.choice("FM")
    age = rng.randint(24, 92) if setting == "clinic" else rng.randint(38, 94)
    case = _Case(setting, age, sex, bmi=round(rng.uniform(19.5, 29.8), 1))
    target = _wpick(rng, _CODE_COUNT_WEIGHTS)

    principal = _wpick(rng, _PRINCIPAL_WEIGHTS[setting])
    case.principal = principal
    if principal:
        for _ in range(20):  # the principal problem must fit within the 6-code cap
            trial = case.clone()
            _SAMPLERS[principal](rng, trial, True)
            if len(_case_codes(trial)) <= MAX_CODES:
                break
        case = trial
        target = max(target, len(_case_codes(case)))

    pool = [k for k in _COMORBID_WEIGHTS if _fits_patient(k, case)]
    for _ in range(40):
        if len(_case_codes(case)) >= target:
            break
        present = set(case.problems) | {case.principal} | ({"smoker"} if case.smoking == "current" else set())
        weights = [
            _COMORBID_WEIGHTS[k] * (_AFFINITY_BOOST if present.intersection(_AFFINITY.get(k, ())) else 1.0)
            for k in pool
        ]
        concept = rng.choices(pool, weights)[0]
        if concept in case.problems or (concept == principal):
            continue
        trial = case.clone()
        if _SAMPLERS[concept](rng, trial, False) and _workup_ok(trial) and len(_case_codes(trial)) <= target:
            case = trial
    if case.smoking == "unknown" and rng.random() < 0.55:
        case.smoking = "never"
    # A few obese-range BMIs without an obesity diagnosis: such BMIs are not codeable.
    if "obesity" not in case.problems and rng.random() < 0.1:
        case.bmi = round(rng.uniform(30.0, 36.0), 1)
    return case


def _fits_patient(concept: str, case: _Case) -> bool:
    if concept == "bph":
        return case.sex == "M" and case.age >= 50
    if concept == "osteoporosis":
        return case.age >= 55
    if concept in ("hld", "cad", "cabg", "old_mi", "af", "hf", "ckd", "hx_stroke", "hx_prostate_ca"):
        return case.age >= 40
    return True


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _uncap(text: str) -> str:
    """Lower-cases a leading capital unless the word is an acronym (COPD, PNA)."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _term(rng: random.Random, code: str) -> str:
    return rng.choice(_SPECIFIC[code])


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


@dataclass
class _Sections:
    hpi: list[str] = field(default_factory=list)
    pmh: list[str] = field(default_factory=list)
    exam: dict[str, str] = field(default_factory=dict)
    labs: list[str] = field(default_factory=list)
    ap: list[str] = field(default_factory=list)
    fh: list[str] = field(default_factory=list)
    sh: list[str] = field(default_factory=list)
    ros_exclude: set[str] = field(default_factory=set)  # symptoms the note must not deny
    trap_count: int = 0


_SIDE_OTHER = {"right": "left", "left": "right"}


def _med_names(case: _Case, keys: list[str]) -> list[str]:
    return [m for m in case.meds if m in keys]


def _r_htn(rng, case, s):
    code = _htn_code(case)
    s.pmh.append(_term(rng, "I10"))
    name = _term(rng, code) if code != "I10" and rng.random() < 0.5 else _term(rng, "I10")
    meds = _med_names(
        case,
        [
            "lisinopril",
            "losartan",
            "amlodipine",
            "hydrochlorothiazide",
            "chlorthalidone",
            "sacubitril-valsartan",
        ],
    ) or ["current regimen"]
    if case.info["bp_ok"]:
        plan = rng.choice(
            [f"Continue {_join(meds)}.", "Continue current regimen.", f"At goal on {_join(meds)}."]
        )
        status = rng.choice(["at goal", "well controlled", "controlled"])
    else:
        plan = rng.choice(
            [f"Increase {meds[0]}; home BP log, recheck in 4 weeks.", "Low-sodium diet; titrate therapy."]
        )
        status = rng.choice(["above goal", "not at goal", "elevated today"])
    s.ap.append(f"{_cap(name)}: BP {case.info['bp']}, {status}. {plan}")


def _r_dm(rng, case, s):
    s.pmh.append(_term(rng, "E11.9"))
    hyper = "E11.65" in case.dm_comps
    a1c = case.info["a1c"]
    s.labs.append(f"A1c {a1c}%")
    dm_meds = [m for m in case.meds if MED_Z79.get(m) in ("Z79.84", "Z79.4", "Z79.85")]
    if dm_meds and rng.random() < 0.5:
        s.hpi.append(rng.choice(["Reports good adherence to", "Taking"]) + f" {_join(dm_meds)}.")
    if hyper:
        s.hpi.append(
            rng.choice(["Fasting sugars in the 200s.", "Home glucose readings 180-260.", "Reports polyuria."])
        )
        name = _term(rng, "E11.65")
        if "insulin glargine" in case.meds:
            plan = "Increase insulin glargine by 2 units every 3 days to fasting goal 80-130."
        elif dm_meds:
            plan = f"Maximize {dm_meds[0]}; diabetes education referral."
        else:
            plan = "Diabetes education; recheck A1c in 3 months."
        s.ap.append(f"{_cap(name)}: A1c {a1c}%, above goal. {plan}")
    else:
        name = _term(rng, "E11.9")
        plan = f"Continue {_join(dm_meds)}." if dm_meds else "Diet-controlled; reinforced diet and exercise."
        s.ap.append(f"{_cap(name)}: A1c {a1c}%, at goal. {plan} Annual eye and foot exams.")
    if not any(MED_Z79.get(m) == "Z79.4" for m in case.meds) and rng.random() < 0.25:
        s.ap[-1] += rng.choice([" Discussed starting insulin; patient prefers to defer.", " Not on insulin."])
        s.trap_count += 1
    for comp in case.dm_comps:
        if comp in ("E11.40", "E11.42"):
            s.exam["Neuro"] = "decreased monofilament sensation in both feet"
            s.ap.append(
                f"{_cap(_term(rng, comp))}: stable numbness and tingling in both feet. "
                f"Continue gabapentin; podiatry referral."
            )


def _r_ckd(rng, case, s):
    stage = case.problems["ckd"]
    s.pmh.append(_term(rng, stage))
    name = _term(rng, stage)
    if "dm" in case.problems and rng.random() < 0.5:
        name = f"{_term(rng, 'E11.22')}, {_term(rng, stage) if stage != 'N18.9' else 'stage not documented'}"
    if stage == "N18.9":
        s.labs.append(f"Cr {case.info['cr']} mg/dL")
        values = f"creatinine {case.info['cr']}"
    else:
        s.labs.append(f"Cr {case.info['cr']} mg/dL, eGFR {case.info['egfr']} mL/min/1.73m2")
        values = f"eGFR {case.info['egfr']}"
    plan = rng.choice(
        [
            "Avoid NSAIDs; renally dose medications.",
            "Repeat BMP in 3 months.",
            "Nephrology follow-up as scheduled.",
        ]
    )
    s.ap.append(f"{_cap(name)}: {values}, stable. {plan}")


def _r_hf(rng, case, s):
    code = case.problems["hf"]
    acute = code in ("I50.23", "I50.33")
    chronic_code = {"I50.23": "I50.22", "I50.33": "I50.32"}.get(code, code)
    s.pmh.append(_term(rng, chronic_code) if rng.random() < 0.6 else _term(rng, "I50.9"))
    ef = f"EF {case.info['ef']}%" if "ef" in case.info else "EF not yet assessed"
    if acute:
        s.ros_exclude |= {"shortness of breath", "leg swelling"}
        s.hpi.append(rng.choice([
            "Breathing better, now able to lie flat.",
            "Orthopnea improving; down 2.1 kg since admission.",
            "Dyspnea improving with diuresis.",
        ]))  # fmt: skip
        s.exam.update(
            CV="JVP 9 cm, regular rhythm", Lungs="bibasilar crackles", Ext="2+ pitting edema to the shins"
        )
        s.labs.append(f"BNP {rng.randint(900, 3400)} pg/mL on admission")
        s.ap.append(
            f"{_cap(_term(rng, code))}: {ef}. Diuresing on IV furosemide {rng.choice([40, 80])} mg BID, "
            f"net negative {rng.uniform(0.8, 2.6):.1f} L. Daily weights, strict I/O."
        )
    else:
        s.ap.append(
            f"{_cap(_term(rng, code))}: {ef}, euvolemic, NYHA class {rng.choice(['I', 'II'])}. "
            f"Continue furosemide; daily weights, 2 g sodium diet."
        )
    if "pna" not in case.problems and rng.random() < 0.4:
        s.labs.append("CXR with vascular congestion, no evidence of pneumonia")
        s.trap_count += 1


def _r_copd(rng, case, s):
    code = case.problems["copd"]
    s.pmh.append(_term(rng, "J44.9"))
    inhaler = _med_names(case, ["tiotropium", "budesonide-formoterol"])[0]
    if code == "J44.9":
        s.exam.setdefault("Lungs", "diminished breath sounds, no wheezes")
        s.ap.append(
            f"{_cap(_term(rng, code))}: stable, no exacerbations this year. "
            f"Continue {inhaler}, albuterol PRN."
        )
        return
    s.ros_exclude |= {"cough", "shortness of breath"}
    s.exam["Lungs"] = "diffuse expiratory wheezes, prolonged expiratory phase"
    s.hpi.append(rng.choice([
        "Increased cough, wheeze and sputum.",
        "Worsening dyspnea and sputum production for several days.",
    ]))  # fmt: skip
    if case.setting == "inpatient":
        plan = (
            f"Prednisone 40 mg day {rng.randint(2, 4)}/5, azithromycin, scheduled DuoNeb. "
            f"SpO2 {rng.randint(90, 93)}% on 2 L; wean to room air."
        )
    elif "94640" in case.procedures:
        plan = (
            "DuoNeb nebulizer treatment given in clinic with improved air movement. Prednisone 40 mg x5 days."
        )
    else:
        plan = "Prednisone 40 mg x5 days and doxycycline x5 days; no nebulizer treatment needed today."
        s.trap_count += 1
    s.ap.append(f"{_cap(_term(rng, code))}: {plan}")


def _r_asthma(rng, case, s):
    code = case.problems["asthma"]
    s.pmh.append(_term(rng, "J45.909") if code != "J45.40" else _term(rng, "J45.40"))
    ctrl = _med_names(case, ["fluticasone-salmeterol", "budesonide-formoterol", "montelukast"])[0]
    if code != "J45.901":
        s.ap.append(
            f"{_cap(_term(rng, code))}: well controlled on {ctrl}, rescue inhaler use under twice weekly."
        )
        return
    s.ros_exclude |= {"cough", "shortness of breath"}
    s.exam["Lungs"] = "scattered expiratory wheezes, good air entry"
    s.hpi.append(
        rng.choice(["Wheezing and chest tightness after cold exposure.", "Night-time wheeze for 4 days."])
    )
    if "94640" in case.procedures:
        plan = "Albuterol nebulizer treatment given in clinic; peak flow improved from 55% to 80% of best."
    else:
        plan = f"Peak flow {rng.randint(60, 75)}% of best. Increase albuterol; prednisone burst x5 days."
    s.ap.append(f"{_cap(_term(rng, code))}: {plan} Continue {ctrl}.")


def _r_af(rng, case, s):
    code = case.problems["af"]
    s.pmh.append(_term(rng, code) if rng.random() < 0.6 else _term(rng, "I48.91"))
    s.exam["CV"] = "irregularly irregular rhythm, no murmur"
    s.ros_exclude.add("palpitations")
    anticoag = _med_names(case, _ANTICOAGULANTS)
    rate = _med_names(case, ["metoprolol", "diltiazem"])[0]
    name = _cap(_term(rng, code))
    if case.principal == "af":
        head = (
            f"{name} with rapid ventricular response: HR 140s on admission, now {case.info['hr']} on {rate}."
        )
    else:
        head = f"{name}: rate controlled on {rate}, HR {case.info['hr']}."
    if anticoag:
        tail = f"CHA2DS2-VASc {case.info['chads']}; continue {anticoag[0]}."
    else:
        tail = rng.choice([
            f"CHA2DS2-VASc {case.info['chads']}; declined anticoagulation after risk discussion.",
            f"CHA2DS2-VASc {case.info['chads']}; not on anticoagulation, revisit at next visit.",
        ])  # fmt: skip
        s.trap_count += 1
    if "93000" in case.procedures:
        tail += f" ECG in clinic today: atrial fibrillation, rate {case.info['hr']}, no acute ST changes."
    s.ap.append(f"{head} {tail}")


def _r_cad(rng, case, s):
    s.pmh.append(_term(rng, "I25.10"))
    s.ros_exclude.add("chest pain")
    meds = _med_names(case, ["aspirin", "clopidogrel", "atorvastatin", "rosuvastatin", "metoprolol"])
    text = f"{_cap(_term(rng, 'I25.10'))}: no angina. Continue {_join(meds)}."
    if "93000" in case.procedures and case.principal != "af":
        text += " 12-lead ECG performed in clinic: sinus rhythm, no ischemic changes."
    elif case.setting == "clinic" and rng.random() < 0.3:
        text += rng.choice([" Last ECG (2023) unchanged.", " Stress test last year without ischemia."])
        s.trap_count += 1
    s.ap.append(text)


# Interval-history sentences for stable chronic problems (no new codeable facts).
_HPI_CHRONIC = {
    "htn": ["Home BP readings mostly 120s-130s.", "Checks blood pressure at home twice a week."],
    "hld": ["Tolerating statin without myalgias.", "Trying to limit fried foods."],
    "hypothyroid": ["Takes levothyroxine on an empty stomach.", "No heat or cold intolerance."],
    "gerd": ["Occasional heartburn after large meals.", "Avoids eating late at night."],
    "depression": ["Mood better than last visit; sleeping 7 hours.", "Still some low motivation; no SI."],
    "anxiety": ["Worry improved with therapy.", "Sleep is disrupted by racing thoughts."],
    "obesity": ["Weight up 2 kg since last visit.", "Working on portion control."],
    "osa": ["Using CPAP most nights; less daytime sleepiness.", "Wife notes no more snoring on CPAP."],
    "bph": ["Gets up twice at night to urinate.", "Urinary stream stable."],
    "gout": ["No joint flares since last visit."],
    "osteoporosis": ["No falls or fractures this year."],
    "ckd": ["Avoiding NSAIDs as advised."],
    "af": ["Occasional palpitations, no syncope.", "Tolerating rate control without dizziness."],
    "cad": ["Walks daily without exertional symptoms.", "Completed cardiac rehab last year."],
    "hf": ["Weighs self daily; weight stable.", "Sleeps on one pillow."],
    "migraine": ["Headaches triggered by poor sleep.", "Keeps a headache diary."],
    "lbp": ["Pain worse with lifting, better with rest.", "No bowel or bladder changes."],
    "vitd": ["Taking vitamin D supplement weekly."],
}


def _r_simple(concept):
    """A/P line for chronic problems with a standard status + plan structure."""

    def render(rng, case, s):
        code = case.problems[concept]
        s.pmh.append(_term(rng, code) if concept not in _GENERIC_PMH else _term(rng, _GENERIC_PMH[concept]))
        status, plan = _SIMPLE_AP[concept](rng, case, s)
        s.ap.append(f"{_cap(_term(rng, code))}: {status}. {plan}")

    return render


# the PMH list names these problems by their unspecified code's terms
_GENERIC_PMH = {
    "hld": "E78.5",
    "depression": "F32.A",
    "anxiety": "F41.9",
    "migraine": "G43.909",
    "bph": "N40.0",
}


def _med_or(case, keys, default):
    found = _med_names(case, keys)
    return found[0] if found else default


def _ap_hld(rng, case, s):
    ldl = rng.randint(62, 165)
    s.labs.append(f"LDL {ldl} mg/dL")
    statin = _med_or(case, ["atorvastatin", "rosuvastatin", "simvastatin", "pravastatin"], "")
    if statin:
        return f"LDL {ldl} on {statin}", "Continue; repeat lipid panel in 12 months."
    return f"LDL {ldl}", "Statin-intolerant; diet counseling, consider ezetimibe."


def _ap_hypothyroid(rng, case, s):
    tsh = round(rng.uniform(0.8, 6.4), 2)
    s.labs.append(f"TSH {tsh} mIU/L")
    plan = (
        "Continue current dose."
        if tsh < 4.5
        else "Increase levothyroxine by 12.5 mcg; recheck TSH in 6 weeks."
    )
    return f"TSH {tsh} on levothyroxine", plan


def _ap_gerd(rng, case, s):
    ppi = _med_or(case, ["omeprazole", "pantoprazole", "famotidine"], "omeprazole")
    return f"symptoms controlled on {ppi}", rng.choice(["Avoid late meals.", "Try step-down in 3 months."])


def _ap_depression(rng, case, s):
    code = case.problems["depression"]
    phq = rng.randint(10, 14) if code == "F33.1" else rng.randint(4, 15)
    drug = _med_or(case, ["sertraline", "escitalopram", "fluoxetine", "bupropion"], "")
    plan = f"Continue {drug}; denies SI." if drug else "Prefers therapy over medication; counseling referral."
    return f"PHQ-9 {phq}", plan


def _ap_anxiety(rng, case, s):
    gad = rng.randint(5, 15)
    drug = _med_or(case, ["buspirone", "escitalopram"], "")
    return f"GAD-7 {gad}", f"Continue {drug}; CBT referral." if drug else "CBT referral; sleep hygiene."


def _ap_obesity(rng, case, s):
    plan = rng.choice(
        ["Counseled on diet and 150 min/week of exercise.", "Referral to weight management program."]
    )
    if not any(MED_Z79.get(m) == "Z79.85" for m in case.meds) and rng.random() < 0.2:
        plan += " Discussed semaglutide; awaiting insurance approval."
        s.trap_count += 1
    return f"BMI {case.bmi}", plan


def _ap_osa(rng, case, s):
    return "uses CPAP nightly with good adherence", "Continue CPAP."


def _ap_bph(rng, case, s):
    drug = _med_or(case, ["tamsulosin", "finasteride"], "tamsulosin")
    if case.problems["bph"] == "N40.1":
        return f"nocturia x{rng.randint(2, 4)} and weak stream on {drug}", "Continue; PSA annually."
    return f"no urinary symptoms on {drug}", "Continue; PSA stable."


def _ap_gout(rng, case, s):
    uric = round(rng.uniform(4.8, 6.2), 1)
    return f"no flares in {rng.randint(4, 12)} months, uric acid {uric}", "Continue allopurinol."


def _ap_vitd(rng, case, s):
    level = rng.randint(11, 19)
    s.labs.append(f"25-OH vitamin D {level} ng/mL")
    return f"25-OH vitamin D {level} ng/mL", "Continue ergocalciferol 50,000 IU weekly; recheck in 3 months."


def _ap_osteoporosis(rng, case, s):
    t = round(rng.uniform(-3.4, -2.5), 1)
    return f"DEXA T-score {t} at the hip", "Continue alendronate, calcium and vitamin D; fall precautions."


def _ap_anemia(rng, case, s):
    hgb = round(rng.uniform(8.4, 11.6), 1)
    s.ros_exclude.add("fatigue")
    if case.problems["anemia"] == "D50.9":
        ferritin = rng.randint(4, 14)
        s.labs.append(f"Hgb {hgb} g/dL, MCV {rng.randint(68, 79)} fL, ferritin {ferritin} ng/mL")
        return f"Hgb {hgb}, ferritin {ferritin}", "Start oral iron; GI referral for EGD/colonoscopy."
    s.labs.append(f"Hgb {hgb} g/dL, MCV {rng.randint(82, 96)} fL")
    return f"Hgb {hgb}, stable", "Iron studies, B12 and folate pending."


def _ap_migraine(rng, case, s):
    days = rng.randint(2, 8)
    s.ros_exclude.add("headache")
    drug = _med_or(case, ["sumatriptan", "topiramate"], "")
    status = f"{days} headache days per month" + (
        ", no aura" if case.problems["migraine"] == "G43.009" else ""
    )
    return status, f"Continue {drug}; headache diary." if drug else "Headache diary; limit caffeine."


def _ap_lbp(rng, case, s):
    s.exam["MSK"] = "lumbar paraspinal tenderness, negative straight leg raise bilaterally"
    return "no red flags, no radicular symptoms", "Physical therapy referral, heat, acetaminophen PRN."


_SIMPLE_AP = {
    "hld": _ap_hld,
    "hypothyroid": _ap_hypothyroid,
    "gerd": _ap_gerd,
    "depression": _ap_depression,
    "anxiety": _ap_anxiety,
    "obesity": _ap_obesity,
    "osa": _ap_osa,
    "bph": _ap_bph,
    "gout": _ap_gout,
    "vitd": _ap_vitd,
    "osteoporosis": _ap_osteoporosis,
    "anemia": _ap_anemia,
    "migraine": _ap_migraine,
    "lbp": _ap_lbp,
}


def _r_knee_oa(rng, case, s):
    code, side = case.problems["knee_oa"], case.info["knee_side"]
    s.pmh.append(
        rng.choice(_SHARED[("M17.11", "M17.12", "M17.0")]) if rng.random() < 0.5 else _term(rng, code)
    )
    where = "both knees" if side == "bilateral" else f"the {side} knee"
    s.exam["MSK"] = f"crepitus and medial joint line tenderness of {where}, no effusion"
    text = f"{_cap(_term(rng, code))}: X-ray with joint space narrowing."
    if "20610" in case.procedures:
        text += (
            f" {_cap(side)} knee intra-articular injection performed today: triamcinolone 40 mg with "
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
    name = _cap(_term(rng, "J18.9"))
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
    name = _cap(_term(rng, "N39.0"))
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
    s.exam["Ext"] = f"{side} lower leg edematous, {_SIDE_OTHER[side]} leg without edema"
    abx = (
        "IV cefazolin, transition to cephalexin"
        if case.setting == "inpatient"
        else "cephalexin 500 mg QID x7 days"
    )
    s.ap.append(f"{_cap(_term(rng, code))}: margins marked, {abx}. Elevate the leg.")


def _r_dvt(rng, case, s):
    code, side = case.problems["dvt"], case.info["dvt_side"]
    s.ros_exclude |= {"leg swelling"}
    s.hpi.append(f"{rng.choice(['Swelling and aching', 'Pain and swelling'])} of the {side} calf for 5 days.")
    s.exam["Ext"] = f"{side} calf swollen and tender, {side} leg 3 cm larger than the {_SIDE_OTHER[side]}"
    s.labs.append(f"Venous duplex: acute occlusive thrombus, {side} leg")
    s.ap.append(
        f"{_cap(_term(rng, code))}: provoked, after recent travel. Start apixaban 10 mg BID x7 days, "
        "then 5 mg BID; planned 3 months."
    )


def _r_pe(rng, case, s):
    s.ros_exclude |= {"shortness of breath", "chest pain"}
    s.hpi.append("Pleuritic chest pain improved; dyspnea with exertion only.")
    s.labs.append("CTA chest: segmental emboli, no RV strain")
    s.ap.append(
        f"{_cap(_term(rng, 'I26.99'))}: hemodynamically stable. Heparin drip; "
        "transition to apixaban before discharge."
    )


_WORKUP_TEXT = {
    "R05.9": (
        ["Dry cough for 3 weeks, worse at night.", "Cough for 2 weeks after a cold, no fever."],
        {"pneumonia": "CXR ordered", "asthma": "spirometry ordered", "COPD": "PFTs ordered"},
    ),
    "R06.02": (
        ["Shortness of breath on exertion for 2 weeks.", "Two weeks of progressive SOB climbing stairs."],
        {
            "pulmonary embolism": "D-dimer ordered",
            "CHF": "BNP and echocardiogram ordered",
            "asthma": "spirometry ordered",
            "anemia": "CBC ordered",
        },
    ),
    "R07.9": (
        [
            "Intermittent chest pain for 1 week, not clearly exertional.",
            "Sharp left-sided chest pain, 2 days.",
        ],
        {
            "CAD": "stress test ordered",
            "pulmonary embolism": "D-dimer ordered",
            "GERD": "trial of omeprazole",
        },
    ),
    "R53.83": (
        ["Fatigue for 2 months, sleeping 9 hours.", "Low energy and daytime tiredness for 6 weeks."],
        {
            "hypothyroidism": "TSH ordered",
            "anemia": "CBC ordered",
            "OSA": "sleep study ordered",
            "type 2 diabetes": "A1c ordered",
        },
    ),
}
_RULE_OUT = [
    "r/o {x}",
    "rule out {x}",
    "possible {x}",
    "concern for {x}",
    "cannot exclude {x}",
    "suspect {x}",
]


def _r_workup(rng, case, s):
    symptom, suspect = case.workup
    hpi, tests = _WORKUP_TEXT[symptom]
    s.hpi.append(rng.choice(hpi))
    s.ros_exclude.add(_SPECIFIC[symptom][0])
    if symptom == "R06.02":
        s.ros_exclude.add("SOB")
    r_o = rng.choice(_RULE_OUT).format(x=suspect)
    text = f"{_cap(_term(rng, symptom))}, {r_o}; {tests[suspect]}."
    if "93000" in case.procedures:
        text += " ECG in clinic today: normal sinus rhythm, no ST changes."
    s.ap.insert(0, text)
    s.trap_count += 1


_RENDERERS = {
    "htn": _r_htn,
    "dm": _r_dm,
    "ckd": _r_ckd,
    "hf": _r_hf,
    "copd": _r_copd,
    "asthma": _r_asthma,
    "af": _r_af,
    "cad": _r_cad,
    "knee_oa": _r_knee_oa,
    "pna": _r_pna,
    "uti": _r_uti,
    "cellulitis": _r_cellulitis,
    "dvt": _r_dvt,
    "pe": _r_pe,
    **{k: _r_simple(k) for k in _SIMPLE_AP},
}

# Personal history lines for the PMH (each names the condition as resolved / past).
_HISTORY_TEXT = {
    "Z86.718": [
        "history of DVT in the {side} leg ({year}), completed 6 months of anticoagulation, resolved",
        "remote DVT ({year}), treated, no recurrence",
        "h/o DVT after knee surgery in {year}, resolved",
    ],
    "Z86.711": [
        "history of PE ({year}), completed anticoagulation",
        "prior pulmonary embolism ({year}), resolved",
    ],
    "Z85.3": [
        "history of breast cancer s/p lumpectomy and radiation ({year}), no recurrence",
        "breast cancer ({year}), completed treatment, in surveillance",
    ],
    "Z85.46": [
        "history of prostate cancer s/p prostatectomy ({year}), PSA undetectable",
        "prostate cancer treated with radiation in {year}, no evidence of disease",
    ],
    "Z86.73": [
        "history of stroke ({year}) without residual deficits",
        "prior CVA in {year}, no residual deficits",
        "history of TIA ({year})",
    ],
    "Z87.440": ["history of recurrent UTIs", "recurrent UTIs in the past, none this year"],
    "Z95.1": ["s/p CABG x{n} ({year})", "status post CABG in {year}"],
    "I25.2": ["prior MI ({year})", "history of MI in {year}", "remote MI ({year})"],
}
_FAMILY_TEXT = [
    "{Rel} with {cond} at {age}.",
    "{Rel}: {cond} (age {age}).",
    "{Rel} had {cond} at age {age}.",
    "Significant for {cond} in {pos} {rel}.",
]
# Negated family history: not codeable (code listed to avoid contradicting a positive line).
_FAMILY_NEGATIONS = [
    ("Z80.0", "No family history of colon cancer."),
    ("Z80.3", "Negative for breast cancer in the family."),
    ("Z82.49", "No family history of premature CAD."),
    ("Z83.3", "No family history of diabetes."),
    ("Z82.3", "No family history of stroke."),
]
# Negated / ruled-out diagnoses placed in the A/P or data: (concept it contradicts, text)
_NEGATED_DX = [
    ("pna", "CXR clear, no evidence of pneumonia."),
    ("dvt", "Lower extremity duplex negative for DVT."),
    ("uti", "UA bland; UTI ruled out."),
    ("af", "{monitor} without atrial fibrillation."),
    ("hf", "BNP {bnp}, no signs of heart failure."),
    ("depression", "PHQ-2 negative for depression."),
    ("anxiety", "GAD-7 of 2; no anxiety disorder."),
    ("dm", "A1c {a1c}%, no evidence of type 2 diabetes."),
    ("copd", "PFTs without obstruction; COPD ruled out."),
    ("anemia", "Hgb {hgb}, no anemia."),
    ("pe", "Pulmonary embolism ruled out by CTA."),
    ("cellulitis", "Skin intact, no cellulitis."),
]
_ROS_POOL = [
    "fever", "chills", "chest pain", "shortness of breath", "SOB", "cough", "palpitations",
    "abdominal pain", "nausea", "dysuria", "leg swelling", "headache", "fatigue", "rash",
    "dizziness", "weight loss",
]  # fmt: skip
_ALLERGIES = [
    "NKDA",
    "NKDA",
    "No known drug allergies",
    "penicillin (rash)",
    "sulfa (hives)",
    "codeine (nausea)",
]


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


_EXAM_DEFAULTS = {
    "Gen": ["NAD", "well-appearing, no acute distress", "alert, comfortable"],
    "CV": ["RRR, no murmurs", "regular rate and rhythm, no m/r/g"],
    "Lungs": ["CTAB", "clear to auscultation bilaterally"],
    "Abd": ["soft, non-tender", "soft, NT/ND"],
    "Ext": ["no edema", "warm, no lower extremity edema"],
}
_EXAM_ORDER = ["Gen", "CV", "Lungs", "Abd", "Ext", "MSK", "Skin", "Neuro"]


def _exam(rng, s: _Sections) -> str:
    parts = []
    for system in _EXAM_ORDER:
        if system in s.exam:
            parts.append(f"{system}: {s.exam[system]}")
        elif system in _EXAM_DEFAULTS and rng.random() < 0.85:
            parts.append(f"{system}: {rng.choice(_EXAM_DEFAULTS[system])}")
    return ". ".join(parts) + "."


def _ros(rng, case, s) -> str:
    allowed = [sym for sym in _ROS_POOL if sym not in s.ros_exclude]
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
    text = rng.choice(_HISTORY_TEXT[code])
    return text.format(year=rng.randint(1998, 2021), side=rng.choice(["right", "left"]), n=rng.randint(2, 4))


def _family_lines(rng, case, s) -> list[str]:
    lines = []
    for rel, code in case.family:
        cond = rng.choice(_FAMILY[code][1])
        pos = "her" if case.sex == "F" else "his"
        lines.append(
            rng.choice(_FAMILY_TEXT).format(
                Rel=_cap(rel), rel=rel, cond=cond, age=rng.randint(45, 78), pos=pos
            )
        )
    present = [code for _, code in case.family]
    negs = [text for code, text in _FAMILY_NEGATIONS if code not in present]
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


_OPENERS_CLINIC = [
    "{age}-year-old {sexw} with {pmh} presents for {why}.",
    "{age} y/o {sexw} with PMH of {pmh}, seen today for {why}.",
    "Pt is a {age}-year-old {sexw} ({pmh}) here for {why}.",
    "{age}-year-old {sexw}, history of {pmh}, returns for {why}.",
]
_OPENERS_INPT = [
    "{age}-year-old {sexw} with {pmh}, admitted {days} days ago for {why}.",
    "{age} y/o {sexw} with {pmh}, hospital day {hd}, admitted with {why}.",
    "HD#{hd}. {age}-year-old {sexw} with {pmh} admitted for {why}.",
]
# Chief complaints in the patient's words; symptoms of a confirmed diagnosis are not coded.
_CC_PRINCIPAL = {
    "uti": ["Burning with urination", "Dysuria"],
    "cellulitis": ["Leg redness and swelling", "Red, painful leg"],
    "pna": ["Cough and fever", "Productive cough"],
    "copd": ["Worsening shortness of breath", "Increased cough and wheezing"],
    "asthma": ["Wheezing", "Asthma flare"],
    "knee_oa": ["Knee pain", "Knee pain, follow-up"],
    "lbp": ["Back pain", "Low back pain for 3 weeks"],
    "migraine": ["Headaches", "Headache follow-up"],
    "dvt": ["Calf swelling", "Leg swelling and pain"],
}
_CC_WORKUP = {"R05.9": "Cough", "R06.02": "Shortness of breath", "R07.9": "Chest pain", "R53.83": "Fatigue"}
_AP_HEADERS = ["Assessment and Plan:", "A/P:", "Assessment & Plan:", "IMPRESSION/PLAN:", "ASSESSMENT/PLAN:"]
# Context-free sentences that make the notes read like real ones (no codeable content).
_FILLER_CLINIC = [
    "No ED visits or hospitalizations since the last visit.",
    "Appetite and sleep are good.",
    "Walking 20-30 minutes most days.",
    "Brings a medication list; reports taking all medications as prescribed.",
    "Works part-time and manages own medications.",
    "Labs from last week reviewed with the patient.",
    "No new concerns today other than as below.",
    "Accompanied by daughter.",
    "Has been following a low-salt diet.",
    "Pharmacy records confirm regular refills.",
    "Interested in a referral to a nutritionist.",
    "Last seen in clinic 3 months ago.",
]
_FILLER_INPT = [
    "No acute events overnight.",
    "Tolerating diet, ambulating in the hallway with PT.",
    "Slept well; pain controlled.",
    "Afebrile overnight, vitals stable.",
    "Family updated at bedside.",
    "Reports feeling better than yesterday.",
    "Case management following for discharge planning.",
    "Nursing reports good oral intake.",
]
_HEALTH_MAINTENANCE = {
    "F": ["Mammogram up to date.", "Colonoscopy 2021, next due 2031.", "Pap smear not indicated."],
    "M": ["Colonoscopy 2020, next due 2030.", "Discussed PSA screening; shared decision."],
}
_EXAM_EXTRAS = [
    "HEENT: normocephalic, moist mucous membranes",
    "Neuro: alert and oriented x3, no focal deficits",
    "Psych: normal mood and affect",
    "Neck: supple, no JVD",
]


_AP_CODA = {
    "clinic": ["Refills sent.", "Will reassess at next visit.", "Patient agrees with the plan.",
               "Education provided; questions answered.", "Reviewed side effects.",
               "Labs before next visit."],
    "inpatient": ["Monitor daily.", "Discussed with patient and nurse.", "Repeat labs in the morning.",
                  "Patient agrees with the plan."],
}  # fmt: skip


def _basic_labs(rng, case) -> str:
    """Unremarkable chemistry and counts (haemoglobin and creatinine come from the problems)."""
    wbc = rng.uniform(11.0, 15.5) if case.principal in ("pna", "cellulitis", "uti") else rng.uniform(4.8, 9.6)
    return (
        f"Na {rng.randint(136, 143)}, K {rng.uniform(3.6, 4.9):.1f}, HCO3 {rng.randint(22, 28)}, "
        f"glucose {rng.randint(84, 132)}, WBC {wbc:.1f}, Plt {rng.randint(160, 380)}"
    )


def _bullet(style: str, i: int) -> str:
    return {"num": f"{i}. ", "hash": "# ", "dash": "- "}[style]


def _render(rng: random.Random, case: _Case) -> str:
    s = _Sections()
    vitals = _vitals(rng, case)
    order = list(case.problems)
    if case.principal in order:  # principal problem first in the A/P
        order.remove(case.principal)
        order.insert(0, case.principal)
    for concept in order:
        _RENDERERS[concept](rng, case, s)
        if concept != case.principal and concept in _HPI_CHRONIC and rng.random() < 0.6:
            if not (concept == "af" and "palpitations" in s.ros_exclude and case.principal == "af"):
                s.hpi.append(rng.choice(_HPI_CHRONIC[concept]))
    if case.workup:
        _r_workup(rng, case, s)

    pmh_hist = [_history_line(rng, case, code) for code in case.history]
    if pmh_hist:
        s.trap_count += 1

    # Trap: a negated or ruled-out diagnosis that the note does not carry.
    negs = [(c, t) for c, t in _NEGATED_DX if c not in case.problems and not _suspected(case, c)]
    if negs and rng.random() < 0.35:
        _, text = rng.choice(negs)
        text = text.format(
            monitor="Telemetry" if case.setting == "inpatient" else "Recent Holter monitor",
            bnp=rng.randint(20, 80),
            a1c=round(rng.uniform(4.9, 5.6), 1),
            hgb=round(rng.uniform(13.0, 15.2), 1),
        )
        if rng.random() < 0.5:
            s.labs.append(text.rstrip("."))
        else:
            s.ap.append(text)
        s.trap_count += 1

    sexw = {"F": rng.choice(["woman", "female", "F"]), "M": rng.choice(["man", "male", "M"])}[case.sex]
    pmh_terms = list(dict.fromkeys(s.pmh))
    if pmh_terms:
        pmh_summary = _join(pmh_terms[:3])
    elif pmh_hist:
        pmh_summary = pmh_hist[0].split(" (")[0].split(",")[0]
    else:
        pmh_summary = "no significant past history"
    principal_term = s.ap[0].split(":")[0].split(",")[0] if case.principal and s.ap else ""
    lines: list[str] = []
    if case.setting == "inpatient":
        why = _uncap(principal_term.split(" with rapid")[0])
        if case.principal == "af":
            why += " with rapid ventricular response"
        hd = rng.randint(2, 5)
        opener = rng.choice(_OPENERS_INPT).format(
            age=case.age, sexw=sexw, pmh=pmh_summary, why=why, days=hd - 1, hd=hd
        )
        filler = rng.sample(_FILLER_INPT, k=rng.randint(2, 3))
    else:
        if case.workup:
            why, cc = _CC_WORKUP[case.workup[0]].lower(), _CC_WORKUP[case.workup[0]]
        elif case.principal:
            why, cc = _uncap(principal_term), rng.choice(_CC_PRINCIPAL[case.principal])
        else:
            why = rng.choice(["routine follow-up", "a 3-month follow-up", "chronic disease management"])
            cc = f"Follow-up of {_join(pmh_terms[:2])}" if pmh_terms else "Annual visit"
        opener = rng.choice(_OPENERS_CLINIC).format(age=case.age, sexw=sexw, pmh=pmh_summary, why=why)
        filler = rng.sample(_FILLER_CLINIC, k=rng.randint(2, 4))
    hpi = [opener] + rng.sample(s.hpi + filler, len(s.hpi) + len(filler))
    if rng.random() < 0.35 and case.smoking in ("current", "former"):
        hpi.append(_smoking_line(rng, case))

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
    for extra in rng.sample(_DISTRACTOR_MEDS, k=rng.randint(0, 3)):
        if extra not in meds and not (extra == "omeprazole" and rng.random() < 0.5):
            meds.append(extra)
    med_text = "; ".join(rng.choice(MEDS[m]) for m in meds) if meds else "none"
    lines.append(
        rng.choice(["Medications: ", "Meds: ", "Current Medications: ", "Home Medications: "]) + med_text
    )

    allergy = rng.choice(_ALLERGIES)
    if case.info.get("asa_allergy") or ("aspirin" not in case.meds and rng.random() < 0.06):
        allergy = "aspirin (GI upset)"
        s.trap_count += 1
    lines.append(rng.choice(["Allergies: ", "ALLERGIES: "]) + allergy)

    fam = _family_lines(rng, case, s)
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

    if rng.random() < 0.65:
        lines.append(rng.choice(["ROS: ", "Review of Systems: "]) + _ros(rng, case, s))
    lines.append(rng.choice(["Vitals: ", "VS: ", "Vital Signs: "]) + vitals)
    exam = _exam(rng, s)
    for extra in rng.sample(_EXAM_EXTRAS, k=rng.randint(0, 2)):
        exam += f" {extra}."
    lines.append(rng.choice(["Exam: ", "Physical Exam: ", "PHYSICAL EXAMINATION: "]) + exam)
    if case.setting == "inpatient" or rng.random() < 0.4:
        s.labs.insert(0, _basic_labs(rng, case))
    if s.labs:
        lines.append(rng.choice(["Labs: ", "Data: ", "Results: "]) + "; ".join(s.labs) + ".")

    lines.append(rng.choice(_AP_HEADERS))
    style = rng.choice(["num", "hash", "dash"])
    items = list(s.ap)
    if case.smoking == "current" and rng.random() < 0.4:
        items.append("Nicotine dependence: counseled on cessation >3 minutes, offered nicotine patch.")
    if case.setting == "clinic" and rng.random() < 0.4:
        upkeep = [h for h in _HEALTH_MAINTENANCE[case.sex] if not ("PSA" in h and "Z85.46" in case.history)]
        items.append("Health maintenance: " + " ".join(rng.sample(upkeep, k=min(2, len(upkeep)))))
    for i, item in enumerate(items):
        if rng.random() < 0.4:
            items[i] = item + " " + rng.choice(_AP_CODA[case.setting])
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


def _suspected(case: _Case, concept: str) -> bool:
    if not case.workup:
        return False
    return dict(_WORKUPS[case.workup[0]]).get(case.workup[1]) == concept


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def generate_note(rng: random.Random) -> tuple[str, list[str]]:
    """One (text, codes) pair from the given random stream."""
    case = _build_case(rng)
    text = _render(rng, case)
    return text, _case_codes(case)


def _split_rows(seed: int, split: str, n: int, first_id: int, seen: set[str]) -> list[dict]:
    rows = []
    for i in range(n):
        attempt = 0
        while True:
            # one stream per note: a note never depends on how many notes precede it
            rng = random.Random(f"medtune-coding:{seed}:{split}:{i}:{attempt}")
            text, codes = generate_note(rng)
            if text not in seen:  # keeps train and eval disjoint even on a chance collision
                break
            attempt += 1
        seen.add(text)
        rows.append({"id": f"syn-coding-{first_id + i:06d}", "text": text, "codes": codes})
    return rows


def code_description(code: str) -> str:
    if code in CPT_DESCRIPTIONS:
        return CPT_DESCRIPTIONS[code]
    return icd.get_description(code)


def generate_coding_dataset(out_dir: Path, seed: int = 0, n_train: int = 5000, n_eval: int = 1000) -> dict:
    """Writes out_dir/train.jsonl, out_dir/eval.jsonl, out_dir/code_descriptions.json; returns stats."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    splits = {
        "train": _split_rows(seed, "train", n_train, 1, seen),
        "eval": _split_rows(seed, "eval", n_eval, n_train + 1, seen),
    }
    for name, rows in splits.items():
        with open(out_dir / f"{name}.jsonl", "w", encoding="utf-8", newline="\n") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    all_rows = splits["train"] + splits["eval"]
    counts = Counter(code for row in all_rows for code in row["codes"])
    descriptions = {code: code_description(code) for code in sorted(counts)}
    with open(out_dir / "code_descriptions.json", "w", encoding="utf-8", newline="\n") as f:
        json.dump(descriptions, f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")
    n = max(1, len(all_rows))
    return {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "n_train": n_train,
        "n_eval": n_eval,
        "distinct_codes": len(counts),
        "mean_codes_per_note": round(sum(len(r["codes"]) for r in all_rows) / n, 3),
        "mean_words_per_note": round(sum(len(r["text"].split()) for r in all_rows) / n, 1),
    }
