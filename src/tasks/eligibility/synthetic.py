"""Deterministic synthetic clinical-trial eligibility screening pairs (patient record, trial criteria).

Each row pairs one trial of a fixed catalogue (`TRIALS`, written as on a ClinicalTrials.gov page: a
title line, then "Inclusion Criteria:" and "Exclusion Criteria:" bullet lists) with a structured
patient summary, and carries the gold label and one label per criterion. A pair is built in two
steps. First the patient *facts* (`PatientFacts`: age, sex, diagnoses and procedures with dates,
medications with start and stop dates, dated measurements, family history, ruled-out findings,
pregnancy and smoking status) are sampled for the trial; then they are rendered into text with
varied templates (`render_patient`). The labels come from the facts alone (`decide`), never from
the text, and every fact a criterion reads is written in the text.

Label rules the generator applies exactly (`decide`):
  * eligible iff every inclusion criterion is "met" and no exclusion criterion is "met";
  * a criterion is a statement about the patient and "met" means the statement holds, so a "met"
    exclusion criterion excludes the patient;
  * "unknown" only when the measurement a criterion reads is absent from the record (no HbA1c, no
    echocardiogram, ...). An unknown inclusion criterion is not met, so a missing required lab makes
    the patient not eligible; an unknown exclusion does not exclude (age, sex and smoking history are
    always documented, so exclusions are never unknown). Diagnoses, procedures and medications
    missing from the record are absent ("not met"), never "unknown";
  * numeric bounds are inclusive exactly as written: "≥ 45" and "25–75" include 45 and 25, "< 6.5"
    excludes 6.5; "ALT ≤ 3 × ULN (≤ 120 U/L)" compares the value in U/L;
  * a condition counts only as the patient's own diagnosis or procedure: a mention in the family
    history or as ruled out never counts. "History of ..." criteria also count resolved episodes;
    the others ("Active hepatitis B or C", "Untreated brain metastases") count unresolved ones only;
  * washouts, "... within N days before screening": met when a drug of that class is current or was
    stopped on or after the screening date minus N days (stopped N days before is within, N + 1 is not);
  * "stable ... for at least N days": a current drug of the class started on or before the screening
    date minus N days (N days is enough, N - 1 is not); "at least 2" counts distinct drugs;
  * "prior" therapy means a course with a stop date; "prior or current" also counts ongoing drugs;
  * "Pregnant or breastfeeding women" reads the pregnancy status, which records of women aged 50 or
    younger always state; for men and older women it is not met;
  * dates count from the screening date on the first line of every record (`SCREENING_DATE`).

Mix of pairs (each pair from its own random stream, `_SCENARIOS`): clean eligible; eligible near
misses (a value exactly at a bound, a washout that ended N + 1 days ago, an excluded condition only in
the family history or ruled out, a resolved episode where only active disease excludes); excluded
near misses (a value one step outside a bound such as eGFR 44 for "≥ 45" or age 76 for "18–75", a
washout that ended N or N - 1 days ago, a required diagnosis only in the family history or ruled
out); one or two clear violations; a missing required measurement. Decoys that change no label
(relatives' and ruled-out conditions, drug courses stopped long before a washout) are added to pairs
of every label so that their mere mention carries no signal.

Seed 0, 7,000 rows (`generate_pairs(7000, 0, "train")`, about 3 s on one core): 30.0% eligible,
25.6% decisive near misses (pairs with a `near_miss`: 13.5% eligible, 12.1% excluded), 10.2% with a
missing required measurement.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

GENERATOR_VERSION = "1.0.0"
SCREENING_DATE = date(2026, 3, 1)
MET, NOT_MET, UNKNOWN = "met", "not met", "unknown"
ELIGIBLE, EXCLUDED = "eligible", "excluded"

# ---------------------------------------------------------------------------------------------
# Catalogues: conditions (diagnoses and procedures), drugs, measurements.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Condition:
    names: tuple[str, ...]  # the patient's own entry picks one
    ruled_out: str | None = None  # negative work-up a record cites when ruling it out
    resolved: str | None = None  # how a record describes a past, resolved episode
    active: str | None = None  # note on an unresolved entry ("untreated")
    procedure: bool = False
    common: bool = False  # may appear as a background comorbidity
    drugs: tuple[str, ...] = ()  # background treatment
    sex: str | None = None
    recent: bool = False  # a cancer: diagnosed within the last few years
    generic: str | None = None  # wording for relatives and rule-outs; default names[0]
    familial: bool = True  # may appear in a family history

    @property
    def plain(self) -> str:
        return self.generic or self.names[0]


CONDITIONS: dict[str, _Condition] = {
    "t2dm": _Condition(
        ("Type 2 diabetes mellitus", "Type 2 diabetes", "T2DM"),
        ruled_out="fasting glucose and HbA1c normal",
        common=True,
        drugs=("metformin",),
    ),
    "t1dm": _Condition(
        ("Type 1 diabetes mellitus", "Type 1 diabetes", "T1DM"),
        ruled_out="GAD65 and IA-2 antibodies negative",
        drugs=("insulin_glargine",),
    ),
    "pancreatitis": _Condition(
        ("Acute pancreatitis", "Pancreatitis", "Acute gallstone pancreatitis"),
        ruled_out="lipase normal, CT abdomen without pancreatitis",
        resolved="resolved",
        common=True,
    ),
    "mtc": _Condition(("Medullary thyroid carcinoma",), ruled_out="calcitonin normal"),
    "men2": _Condition(("Multiple endocrine neoplasia type 2", "MEN2"), ruled_out="RET testing negative"),
    "ckd": _Condition(
        ("Chronic kidney disease", "CKD"),
        ruled_out="eGFR and urine albumin normal on repeat testing",
        common=True,
    ),
    "kidney_transplant": _Condition(("Kidney transplant", "Deceased-donor renal transplant"), procedure=True),
    "adpkd": _Condition(
        ("Autosomal dominant polycystic kidney disease", "ADPKD"), ruled_out="renal ultrasound without cysts"
    ),
    "hf": _Condition(
        ("Heart failure with reduced ejection fraction", "Chronic systolic heart failure", "HFrEF"),
        ruled_out="echocardiogram with normal LVEF",
        common=True,
        generic="Heart failure",
        drugs=("sacubitril_valsartan",),
    ),
    "lvad": _Condition(("Left ventricular assist device implantation",), procedure=True),
    "heart_transplant": _Condition(("Orthotopic heart transplant",), procedure=True),
    "hcm": _Condition(("Hypertrophic cardiomyopathy",), ruled_out="cardiac MRI without hypertrophy"),
    "amyloidosis": _Condition(
        ("Transthyretin cardiac amyloidosis",), ruled_out="technetium pyrophosphate scan negative"
    ),
    "nsclc": _Condition(
        (
            "Non-small cell lung cancer, stage IV (adenocarcinoma)",
            "Metastatic non-small cell lung cancer (squamous)",
            "Non-small cell lung cancer, stage IIIB",
        ),
        ruled_out="CT-guided lung biopsy benign",
        recent=True,
        generic="Non-small cell lung cancer",
    ),
    "sclc": _Condition(("Small cell lung cancer",), ruled_out="bronchoscopic biopsy benign", recent=True),
    "brain_mets": _Condition(
        ("Brain metastases",),
        ruled_out="MRI brain without metastases",
        resolved="treated with stereotactic radiosurgery, stable on MRI",
        active="untreated",
        recent=True,
        familial=False,
    ),
    "ild": _Condition(
        ("Interstitial lung disease", "Drug-induced pneumonitis", "Idiopathic pulmonary fibrosis"),
        ruled_out="high-resolution CT without interstitial changes",
    ),
    "hepatitis_b": _Condition(("Chronic hepatitis B infection",), ruled_out="HBsAg negative"),
    "hepatitis_c": _Condition(
        ("Chronic hepatitis C infection", "Hepatitis C"),
        ruled_out="HCV antibody negative",
        resolved="treated, sustained virologic response",
        common=True,
    ),
    "her2_breast_cancer": _Condition(
        ("HER2-positive metastatic breast cancer", "Metastatic breast cancer, HER2-positive (IHC 3+)"),
        ruled_out="breast biopsy benign",
        recent=True,
        generic="Breast cancer",
    ),
    "copd": _Condition(
        ("Chronic obstructive pulmonary disease", "COPD"),
        ruled_out="spirometry without airflow obstruction",
        common=True,
        drugs=("tiotropium",),
    ),
    "asthma": _Condition(
        ("Asthma", "Severe persistent asthma"),
        ruled_out="methacholine challenge negative",
        common=True,
        drugs=("albuterol",),
    ),
    "a1at": _Condition(("Alpha-1 antitrypsin deficiency",), ruled_out="alpha-1 antitrypsin level normal"),
    "ra": _Condition(
        ("Rheumatoid arthritis", "Seropositive rheumatoid arthritis"),
        ruled_out="rheumatoid factor and anti-CCP negative",
        common=True,
        drugs=("hydroxychloroquine",),
    ),
    "tb": _Condition(
        ("Pulmonary tuberculosis",),
        ruled_out="QuantiFERON-TB Gold negative",
        resolved="completed 6 months of treatment",
    ),
    "dvt": _Condition(
        ("Deep vein thrombosis of the left leg", "Right leg deep vein thrombosis"),
        ruled_out="compression ultrasound negative",
        resolved="anticoagulation completed",
        common=True,
        generic="Deep vein thrombosis",
    ),
    "pe": _Condition(
        ("Pulmonary embolism",),
        ruled_out="CT pulmonary angiogram negative",
        resolved="anticoagulation completed",
        common=True,
    ),
    "htn": _Condition(
        ("Essential hypertension", "Hypertension", "HTN"),
        ruled_out="ambulatory blood pressure monitoring normal",
        common=True,
        drugs=("amlodipine", "lisinopril", "losartan"),
    ),
    "primary_aldosteronism": _Condition(
        ("Primary aldosteronism",), ruled_out="aldosterone-to-renin ratio normal"
    ),
    "renal_artery_stenosis": _Condition(("Renal artery stenosis",), ruled_out="renal artery duplex normal"),
    "af": _Condition(
        ("Atrial fibrillation", "Paroxysmal atrial fibrillation", "Persistent atrial fibrillation"),
        ruled_out="Holter monitor without arrhythmia",
        common=True,
        drugs=("apixaban", "metoprolol"),
    ),
    "mechanical_valve": _Condition(
        ("Mechanical aortic valve replacement", "Mechanical mitral valve replacement"), procedure=True
    ),
    "mitral_stenosis": _Condition(
        ("Moderate rheumatic mitral stenosis", "Severe mitral stenosis"),
        ruled_out="echocardiogram without mitral stenosis",
        generic="Mitral stenosis",
    ),
    "ich": _Condition(
        ("Intracranial hemorrhage", "Hemorrhagic stroke"), ruled_out="CT head without hemorrhage"
    ),
    "bariatric": _Condition(("Sleeve gastrectomy", "Roux-en-Y gastric bypass"), procedure=True),
    "cad": _Condition(
        ("Coronary artery disease",),
        ruled_out="coronary CT angiogram without stenosis",
        common=True,
        drugs=("aspirin", "atorvastatin"),
    ),
    "prior_mi": _Condition(("Myocardial infarction", "NSTEMI"), resolved="treated with PCI", common=True),
    "ischemic_stroke": _Condition(("Ischemic stroke",), ruled_out="MRI brain without infarct"),
    "cirrhosis": _Condition(
        ("Cirrhosis", "Alcohol-related cirrhosis"), ruled_out="FibroScan without advanced fibrosis"
    ),
    # background only: no trial reads these
    "hyperlipidemia": _Condition(("Hyperlipidemia",), common=True, drugs=("atorvastatin", "rosuvastatin")),
    "gerd": _Condition(("Gastroesophageal reflux disease", "GERD"), common=True, drugs=("omeprazole",)),
    "hypothyroidism": _Condition(("Hypothyroidism",), common=True, drugs=("levothyroxine",)),
    "depression": _Condition(("Major depressive disorder", "Depression"), common=True, drugs=("sertraline",)),
    "osteoarthritis": _Condition(("Osteoarthritis of the knee",), common=True),
    "gout": _Condition(("Gout",), common=True, drugs=("allopurinol",)),
    "osa": _Condition(("Obstructive sleep apnea",), ruled_out="polysomnography normal", common=True),
    "bph": _Condition(("Benign prostatic hyperplasia",), common=True, drugs=("tamsulosin",), sex="male"),
    "osteoporosis": _Condition(("Osteoporosis",), common=True, drugs=("alendronate",), sex="female"),
    "colon_cancer": _Condition(("Colon cancer",), ruled_out="colonoscopy normal"),
    "cholecystectomy": _Condition(("Laparoscopic cholecystectomy",), procedure=True, common=True),
    "knee_replacement": _Condition(("Total knee replacement",), procedure=True, common=True),
}

# drug key -> (how a record writes it, classes it belongs to)
DRUGS: dict[str, tuple[str, frozenset[str]]] = {
    name: (display, frozenset(tags))
    for name, display, tags in [
        ("metformin", "Metformin 1000 mg twice daily", {"metformin"}),
        ("insulin_glargine", "Insulin glargine 24 units at bedtime", {"insulin"}),
        ("semaglutide", "Semaglutide 1 mg subcutaneously weekly", {"glp1ra"}),
        ("liraglutide", "Liraglutide 1.8 mg subcutaneously daily", {"glp1ra"}),
        ("dulaglutide", "Dulaglutide 1.5 mg subcutaneously weekly", {"glp1ra"}),
        ("empagliflozin", "Empagliflozin 10 mg daily", {"sglt2i"}),
        ("dapagliflozin", "Dapagliflozin 10 mg daily", {"sglt2i"}),
        ("lisinopril", "Lisinopril 20 mg daily", {"acei_arb", "antihypertensive"}),
        ("ramipril", "Ramipril 10 mg daily", {"acei_arb", "antihypertensive"}),
        ("losartan", "Losartan 100 mg daily", {"acei_arb", "antihypertensive"}),
        ("valsartan", "Valsartan 160 mg twice daily", {"acei_arb", "antihypertensive"}),
        ("amlodipine", "Amlodipine 10 mg daily", {"antihypertensive"}),
        ("nifedipine", "Nifedipine XL 60 mg daily", {"antihypertensive"}),
        ("chlorthalidone", "Chlorthalidone 25 mg daily", {"antihypertensive"}),
        ("hydrochlorothiazide", "Hydrochlorothiazide 25 mg daily", {"antihypertensive"}),
        ("spironolactone", "Spironolactone 25 mg daily", {"mra"}),
        ("eplerenone", "Eplerenone 50 mg daily", {"mra"}),
        ("metoprolol", "Metoprolol succinate 100 mg daily", {"beta_blocker"}),
        ("carvedilol", "Carvedilol 25 mg twice daily", {"beta_blocker"}),
        ("bisoprolol", "Bisoprolol 10 mg daily", {"beta_blocker"}),
        ("sacubitril_valsartan", "Sacubitril/valsartan 97/103 mg twice daily", {"arni"}),
        ("fluticasone_salmeterol", "Fluticasone/salmeterol 500/50 µg twice daily", {"ics_laba"}),
        ("budesonide_formoterol", "Budesonide/formoterol 320/9 µg two inhalations twice daily", {"ics_laba"}),
        ("tiotropium", "Tiotropium 18 µg inhaled daily", {"lama"}),
        ("albuterol", "Albuterol inhaler as needed", {"saba"}),
        ("prednisone", "Prednisone 40 mg daily", {"systemic_steroid"}),
        ("methylprednisolone", "Methylprednisolone 16 mg daily", {"systemic_steroid"}),
        ("mepolizumab", "Mepolizumab 100 mg subcutaneously every 4 weeks", {"asthma_biologic"}),
        ("benralizumab", "Benralizumab 30 mg subcutaneously every 8 weeks", {"asthma_biologic"}),
        ("dupilumab", "Dupilumab 300 mg subcutaneously every 2 weeks", {"asthma_biologic"}),
        ("omalizumab", "Omalizumab 300 mg subcutaneously every 4 weeks", {"asthma_biologic"}),
        ("methotrexate", "Methotrexate 15 mg weekly", {"methotrexate"}),
        ("hydroxychloroquine", "Hydroxychloroquine 200 mg twice daily", {"csdmard"}),
        ("tofacitinib", "Tofacitinib 5 mg twice daily", {"jak"}),
        ("baricitinib", "Baricitinib 4 mg daily", {"jak"}),
        ("upadacitinib", "Upadacitinib 15 mg daily", {"jak"}),
        ("carboplatin_pemetrexed", "Carboplatin + pemetrexed, 4 cycles", {"platinum", "anticancer"}),
        ("cisplatin_gemcitabine", "Cisplatin + gemcitabine, 4 cycles", {"platinum", "anticancer"}),
        ("carboplatin_paclitaxel", "Carboplatin + paclitaxel, 4 cycles", {"platinum", "anticancer"}),
        ("pembrolizumab", "Pembrolizumab 200 mg every 3 weeks", {"anticancer"}),
        ("docetaxel", "Docetaxel 75 mg/m² every 3 weeks", {"anticancer"}),
        ("trastuzumab_pertuzumab", "Trastuzumab + pertuzumab + docetaxel", {"trastuzumab", "anticancer"}),
        (
            "trastuzumab_emtansine",
            "Trastuzumab emtansine 3.6 mg/kg every 3 weeks",
            {"trastuzumab", "anticancer"},
        ),
        ("trastuzumab_deruxtecan", "Trastuzumab deruxtecan 5.4 mg/kg every 3 weeks", {"tdxd", "anticancer"}),
        ("evolocumab", "Evolocumab 140 mg subcutaneously every 2 weeks", {"pcsk9"}),
        ("inclisiran", "Inclisiran 284 mg subcutaneously every 6 months", {"pcsk9"}),
        ("atorvastatin", "Atorvastatin 40 mg daily", {"statin"}),
        ("rosuvastatin", "Rosuvastatin 20 mg daily", {"statin"}),
        ("aspirin", "Aspirin 81 mg daily", {"antiplatelet"}),
        ("apixaban", "Apixaban 5 mg twice daily", {"anticoagulant"}),
        ("omeprazole", "Omeprazole 20 mg daily", {"ppi"}),
        ("levothyroxine", "Levothyroxine 75 µg daily", {"thyroid"}),
        ("sertraline", "Sertraline 50 mg daily", {"ssri"}),
        ("allopurinol", "Allopurinol 300 mg daily", {"urate"}),
        ("tamsulosin", "Tamsulosin 0.4 mg daily", {"alpha_blocker"}),
        ("alendronate", "Alendronate 70 mg weekly", {"bisphosphonate"}),
    ]
}


def drugs_with(tag: str) -> list[str]:
    return [name for name, (_, tags) in DRUGS.items() if tag in tags]


@dataclass(frozen=True)
class _Measure:
    name: str
    unit: str
    decimals: int
    step: float  # one unit of the value as recorded: near misses sit one step from a bound
    typical: tuple[float, float]  # background values
    plausible: tuple[float, float]  # every value the generator writes
    section: str
    background: float = 0.0  # chance a record has it when no criterion reads it
    always: bool = False  # always documented (a criterion on it is never unknown)


MEASURES: dict[str, _Measure] = {
    "age": _Measure("Age", "years", 0, 1, (25, 85), (18, 95), "demographics", always=True),
    "egfr": _Measure("eGFR", "mL/min/1.73m²", 0, 1, (40, 110), (12, 120), "labs", 0.8),
    "hba1c": _Measure("HbA1c", "%", 1, 0.1, (5.0, 9.0), (4.5, 13.5), "labs", 0.4),
    "alt": _Measure("ALT", "U/L", 0, 1, (10, 45), (6, 400), "labs", 0.6),
    "hemoglobin": _Measure("Hemoglobin", "g/dL", 1, 0.1, (11.0, 15.5), (6.5, 17.5), "labs", 0.7),
    "platelets": _Measure("Platelets", "× 10⁹/L", 0, 1, (150, 380), (30, 600), "labs", 0.5),
    "anc": _Measure("ANC", "× 10⁹/L", 1, 0.1, (1.8, 6.5), (0.3, 9.0), "labs"),
    "potassium": _Measure("Potassium", "mmol/L", 1, 0.1, (3.6, 5.0), (2.9, 6.5), "labs", 0.6),
    "uacr": _Measure("UACR", "mg/g", 0, 1, (5, 300), (3, 8000), "labs", 0.2),
    "ntprobnp": _Measure("NT-proBNP", "pg/mL", 0, 1, (80, 900), (30, 12000), "labs", 0.1),
    "crp": _Measure("CRP", "mg/L", 1, 0.1, (0.5, 8.0), (0.2, 120.0), "labs", 0.3),
    "eosinophils": _Measure("Blood eosinophils", "cells/µL", 0, 10, (100, 400), (0, 1500), "labs", 0.2),
    "ldl": _Measure("LDL-C", "mg/dL", 0, 1, (70, 160), (30, 300), "labs", 0.5),
    "triglycerides": _Measure("Triglycerides", "mg/dL", 0, 1, (80, 250), (40, 900), "labs", 0.4),
    "lvef": _Measure("LVEF", "%", 0, 1, (50, 65), (10, 75), "echo", 0.2),
    "fev1": _Measure("FEV1", "% predicted", 0, 1, (60, 100), (15, 120), "spirometry", 0.1),
    "sbp": _Measure("Seated systolic blood pressure", "mmHg", 0, 1, (110, 150), (90, 210), "vitals", 0.9),
    "bmi": _Measure("BMI", "kg/m²", 1, 0.1, (21.0, 34.0), (16.0, 55.0), "vitals", 0.9),
    "ecog": _Measure("ECOG performance status", "", 0, 1, (0, 1), (0, 4), "ecog"),
    "cha2ds2vasc": _Measure("CHA₂DS₂-VASc score", "", 0, 1, (0, 4), (0, 9), "score"),
    "pack_years": _Measure("Smoking history", "pack-years", 0, 1, (0, 50), (0, 80), "smoking", always=True),
}


def format_value(key: str, value: float) -> str:
    """A measurement value as every record and criterion writes it (fixed decimals per measure)."""
    return f"{value:.{MEASURES[key].decimals}f}"


def _with_unit(number: str, unit: str) -> str:
    if not unit:
        return number
    return number + unit if unit.startswith("%") else f"{number} {unit}"


# ---------------------------------------------------------------------------------------------
# Patient facts: everything the labels are derived from.
# ---------------------------------------------------------------------------------------------


@dataclass
class Diagnosis:
    key: str  # a CONDITIONS key (procedures included)
    since: date
    resolved: bool = False


@dataclass
class Medication:
    drug: str  # a DRUGS key
    start: date
    stop: date | None = None  # None: current


@dataclass
class Measurement:
    value: float
    day: date


@dataclass
class PatientFacts:
    age: int
    sex: str  # "female" | "male"
    screening_date: date = SCREENING_DATE
    history: list[Diagnosis] = field(default_factory=list)
    medications: list[Medication] = field(default_factory=list)
    measurements: dict[str, Measurement] = field(default_factory=dict)
    family_history: list[tuple[str, str]] = field(default_factory=list)  # (relative, condition key)
    ruled_out: list[str] = field(default_factory=list)  # condition keys
    pregnancy: str | None = None  # "pregnant" | "breastfeeding" | "not pregnant"; None: not applicable
    current_smoker: bool = False  # with pack_years > 0; pack_years 0 is a never smoker

    def days_ago(self, days: int) -> date:
        return self.screening_date - timedelta(days=days)

    def value(self, key: str) -> float | None:
        if key == "age":
            return self.age
        found = self.measurements.get(key)
        return None if found is None else found.value

    def set_value(self, key: str, value: float, days_ago: int = 14) -> None:
        if key == "age":
            self.age = int(value)
        else:
            self.measurements[key] = Measurement(value, self.days_ago(days_ago))

    def has_condition(self, keys: tuple[str, ...], count_resolved: bool = True) -> bool:
        return any(d.key in keys and (count_resolved or not d.resolved) for d in self.history)

    def add_diagnosis(self, key: str, years_ago: float = 3, resolved: bool = False) -> None:
        self.history.append(Diagnosis(key, self.days_ago(round(365.25 * years_ago)), resolved))

    def remove_conditions(self, keys: tuple[str, ...]) -> None:
        self.history = [d for d in self.history if d.key not in keys]

    def add_family(self, relative: str, key: str) -> None:
        self.family_history.append((relative, key))

    def add_ruled_out(self, key: str) -> None:
        self.ruled_out.append(key)

    def add_medication(self, drug: str, started_days_ago: int, stopped_days_ago: int | None = None) -> None:
        stop = None if stopped_days_ago is None else self.days_ago(stopped_days_ago)
        self.medications.append(Medication(drug, self.days_ago(started_days_ago), stop))

    def remove_medications(self, tag: str) -> None:
        self.medications = [m for m in self.medications if tag not in DRUGS[m.drug][1]]

    def courses(self, tag: str) -> list[Medication]:
        return [m for m in self.medications if tag in DRUGS[m.drug][1]]


# ---------------------------------------------------------------------------------------------
# Criteria. Each reads its status from the facts and can rewrite the facts it reads so that its
# status becomes met / not met, either clearly or at the edge (a near miss).
# ---------------------------------------------------------------------------------------------


class Criterion:
    key: str  # the criteria_labels key
    text: str  # the bullet on the registry page
    touches: frozenset[str]  # facts make() may rewrite: two violations in one pair never share one
    droppable = False  # a measurement that a record may lack

    def status(self, facts: PatientFacts) -> str:
        raise NotImplementedError

    def make(
        self, rng: random.Random, facts: PatientFacts, trial: Trial, met: bool, near: bool = False
    ) -> str | None:
        """Rewrites the facts this criterion reads so its status is met (or not met).

        near: at the edge (value at a bound, washout ended N + 1 days ago, condition only in the
        family history, ...); returns the kind of near miss planted, otherwise None.
        """
        raise NotImplementedError

    def can_near(self, met: bool) -> bool:
        return False

    def can_make(self, met: bool) -> bool:
        """Whether make(met=met) is possible ("Age ≥ 18" has no adult value that fails it)."""
        return True

    def decoy(self, rng: random.Random, facts: PatientFacts) -> None:
        """Adds a mention of what the criterion is about that leaves its status unchanged."""

    def drop(self, facts: PatientFacts) -> None:
        raise NotImplementedError


def _grid(rng: random.Random, low: float, high: float, m: _Measure) -> float | None:
    """A value on the measure's grid in [low, high], or None when the interval is empty."""
    n = math.floor((high - low) / m.step + 1e-9)
    if n < 0:
        return None
    return round(low + rng.randint(0, n) * m.step, m.decimals)


class Threshold(Criterion):
    """A measurement within bounds: "eGFR ≥ 45", "HbA1c 7.0–10.5%", "HbA1c < 6.5%"."""

    def __init__(
        self,
        measure: str,
        lo: float | None = None,
        hi: float | None = None,
        *,
        hi_strict: bool = False,
        label: str | None = None,
        text: str | None = None,
    ):
        self.key = self.measure = measure
        self.m = MEASURES[measure]
        self.lo, self.hi, self.hi_strict = lo, hi, hi_strict
        self.touches = frozenset({measure})
        self.droppable = not self.m.always
        label = label or self.m.name
        if text is None:

            def fmt(v: float) -> str:
                return format_value(measure, v)

            if lo is not None and hi is not None:
                text = f"{label} {_with_unit(f'{fmt(lo)}–{fmt(hi)}', self.m.unit)}"
            elif lo is not None:
                text = f"{label} ≥ {_with_unit(fmt(lo), self.m.unit)}"
            else:
                text = f"{label} {'<' if hi_strict else '≤'} {_with_unit(fmt(hi), self.m.unit)}"
        self.text = text

    def _inside(self) -> tuple[float, float]:
        low = self.m.plausible[0] if self.lo is None else self.lo
        high = self.m.plausible[1] if self.hi is None else self.hi
        if self.hi_strict:
            high = round(high - self.m.step, self.m.decimals)
        return low, high

    def status(self, facts):
        value = facts.value(self.measure)
        if value is None:
            return UNKNOWN
        low, high = self._inside()
        return MET if low <= value <= high else NOT_MET

    def _edges(self) -> list[tuple[float, float]]:
        """(closest value inside, closest value outside) for each written bound."""
        s, d = self.m.step, self.m.decimals
        low, high = self._inside()
        edges = []
        if self.lo is not None:
            edges.append((low, round(low - s, d)))
        if self.hi is not None:
            edges.append((high, round(high + s, d)))
        pl, ph = self.m.plausible
        return [e for e in edges if pl <= min(e) and max(e) <= ph]

    def can_near(self, met):
        return bool(self._edges())

    def can_make(self, met):
        if met:
            return True
        pl, ph = self.m.plausible
        low, high = self._inside()
        return (self.lo is not None and low - self.m.step >= pl) or (
            self.hi is not None and high + self.m.step <= ph
        )

    def _draw(self, rng: random.Random, met: bool) -> float:
        m, margin = self.m, 3 * self.m.step
        (pl, ph), (low, high) = m.plausible, self._inside()
        if met:
            # keep clear of the bounds so that only planted near misses sit at an edge
            a = low + margin if self.lo is not None else low
            b = high - margin if self.hi is not None else high
            regions = [(max(a, m.typical[0]), min(b, m.typical[1]))] if rng.random() < 0.7 else []
            regions += [(max(a, pl), min(b, ph)), (low, high)]
            return next(v for r in regions if (v := _grid(rng, *r, m)) is not None)
        # well beyond the bound, or closer where the plausible range leaves no room (ECOG 3-4 for "0-1")
        sides = []
        if self.lo is not None:
            sides.append([(pl, low - margin - m.step), (pl, low - 2 * m.step), (pl, low - m.step)])
        if self.hi is not None:
            sides.append([(high + margin + m.step, ph), (high + 2 * m.step, ph), (high + m.step, ph)])
        draws = [next((v for r in side if (v := _grid(rng, *r, m)) is not None), None) for side in sides]
        return rng.choice([v for v in draws if v is not None])

    def make(self, rng, facts, trial, met, near=False):
        if near:
            inside, outside = rng.choice(self._edges())
            value = inside if met else outside
        else:
            value = self._draw(rng, met)
        facts.set_value(self.measure, value, days_ago=rng.randint(3, 45))
        if not near:
            return None
        if value in (self.lo, self.hi):
            return "at_threshold"
        return "one_step_inside" if met else "one_step_outside"

    def drop(self, facts):
        facts.measurements.pop(self.measure, None)


class AgeRange(Threshold):
    def __init__(self, lo: int, hi: int | None = None):
        super().__init__("age", lo, hi)


class ConditionCriterion(Criterion):
    """The patient's own diagnosis or procedure: "History of pancreatitis", "Documented atrial fibrillation".

    history: a resolved episode counts ("History of ..."); otherwise only unresolved entries do.
    """

    def __init__(self, key: str, conditions: tuple[str, ...], text: str, *, history: bool = False):
        self.key, self.conditions, self.text, self.history = key, conditions, text, history
        self.touches = frozenset(conditions)

    def status(self, facts):
        return MET if facts.has_condition(self.conditions, count_resolved=self.history) else NOT_MET

    def _resolvable(self) -> list[str]:
        return [c for c in self.conditions if CONDITIONS[c].resolved]

    def _traps(self) -> list[tuple[str, str]]:
        """(kind, condition): mentions that name the condition without making the status met."""
        traps = []
        for c in self.conditions:
            info = CONDITIONS[c]
            if info.familial and not info.procedure:
                traps.append(("family_history", c))
            if info.ruled_out:
                traps.append(("ruled_out", c))
            if info.resolved and not self.history:
                traps.append(("resolved", c))
        return traps

    def can_near(self, met):
        return bool(self._resolvable()) if met and self.history else not met and bool(self._traps())

    def make(self, rng, facts, trial, met, near=False):
        facts.remove_conditions(self.conditions)
        if met and near:  # a resolved episode still counts as "history of"
            facts.add_diagnosis(rng.choice(self._resolvable()), _years_ago(rng, facts, None), resolved=True)
            return "resolved_history"
        if met:
            c = rng.choice(self.conditions)
            facts.add_diagnosis(c, _years_ago(rng, facts, c))
            return None
        if not near:
            return None
        kind, c = rng.choice(self._traps())
        if kind == "family_history":
            facts.add_family(rng.choice(_RELATIVES), c)
        elif kind == "ruled_out":
            facts.add_ruled_out(c)
        else:
            facts.add_diagnosis(c, _years_ago(rng, facts, None), resolved=True)
        return kind

    def decoy(self, rng, facts):
        options = [
            (kind, c)
            for kind, c in self._traps()
            if kind == "family_history" or (kind == "ruled_out" and not facts.has_condition((c,)))
        ]
        if options:
            kind, c = rng.choice(options)
            if kind == "family_history":
                facts.add_family(rng.choice(_RELATIVES), c)
            else:
                facts.add_ruled_out(c)


class Washout(Criterion):
    """Exclusion: treatment with a drug of a class within N days before screening (a washout)."""

    def __init__(self, key: str, tag: str, days: int, text: str):
        self.key, self.tag, self.days, self.text = key, tag, days, text
        self.touches = frozenset(drugs_with(tag))

    def _within(self, facts: PatientFacts, m: Medication) -> bool:
        return self.tag in DRUGS[m.drug][1] and (m.stop is None or m.stop >= facts.days_ago(self.days))

    def status(self, facts):
        return MET if any(self._within(facts, m) for m in facts.medications) else NOT_MET

    def can_near(self, met):
        return True

    def _add_course(self, rng, facts, stopped_days_ago: int | None) -> None:
        start = (stopped_days_ago or 0) + rng.randint(30, 700)
        facts.add_medication(rng.choice(drugs_with(self.tag)), start, stopped_days_ago)

    def make(self, rng, facts, trial, met, near=False):
        # older courses stay: they may be the prior lines of therapy another criterion requires
        facts.medications = [m for m in facts.medications if not self._within(facts, m)]
        if near:
            stopped = rng.choice((self.days, self.days - 1) if met else (self.days + 1, self.days + 2))
            self._add_course(rng, facts, stopped)
            return "washout_within" if met else "washout_ended"
        if met:
            stopped = None if rng.random() < 0.5 else rng.randint(3, self.days * 2 // 3)
            self._add_course(rng, facts, stopped)
        elif rng.random() < 0.3:
            self._add_course(rng, facts, rng.randint(self.days + 30, self.days + 700))
        return None

    def decoy(self, rng, facts):
        # a course that ended long before the window: mentioned, changes nothing
        self._add_course(rng, facts, rng.randint(self.days + 60, self.days + 900))


class StableMedication(Criterion):
    """Inclusion: on a drug of a class (or `count` drugs) at a stable dose for at least N days."""

    def __init__(self, key: str, tag: str, days: int, text: str, count: int = 1):
        self.key, self.tag, self.days, self.text, self.count = key, tag, days, text, count
        self.touches = frozenset(drugs_with(tag))

    def status(self, facts):
        since = facts.days_ago(self.days)
        stable = {m.drug for m in facts.courses(self.tag) if m.stop is None and m.start <= since}
        return MET if len(stable) >= self.count else NOT_MET

    def can_near(self, met):
        return True

    def make(self, rng, facts, trial, met, near=False):
        facts.remove_medications(self.tag)
        drugs = rng.sample(drugs_with(self.tag), self.count)
        for drug in drugs[:-1]:
            facts.add_medication(drug, rng.randint(self.days + 20, self.days + 2000))
        last = drugs[-1]
        if near:
            facts.add_medication(last, self.days if met else self.days - 1)
            return "stable_exactly" if met else "stable_too_short"
        if met:
            facts.add_medication(last, rng.randint(self.days + 20, self.days + 2000))
        elif rng.random() < 0.5:  # started recently
            facts.add_medication(last, rng.randint(1, self.days // 2))
        elif rng.random() < 0.5:  # stopped before screening
            stopped = rng.randint(20, 400)
            facts.add_medication(last, stopped + rng.randint(60, 900), stopped)
        return None


class PriorTherapy(Criterion):
    """A course of a drug class: prior (stopped) only, or also current with include_current."""

    def __init__(self, key: str, tag: str, text: str, *, include_current: bool = False):
        self.key, self.tag, self.text, self.include_current = key, tag, text, include_current
        self.touches = frozenset(drugs_with(tag))

    def status(self, facts):
        counted = [m for m in facts.courses(self.tag) if self.include_current or m.stop is not None]
        return MET if counted else NOT_MET

    def make(self, rng, facts, trial, met, near=False):
        facts.remove_medications(self.tag)
        if met:
            # ended 60+ days before screening: never inside an anticancer washout
            current = self.include_current and rng.random() < 0.3
            stopped = None if current else rng.randint(60, 360)
            facts.add_medication(
                rng.choice(drugs_with(self.tag)), (stopped or 0) + rng.randint(60, 180), stopped
            )
        return None


class SexCriterion(Criterion):
    def __init__(self, sex: str, text: str):
        self.key, self.sex, self.text = "sex", sex, text
        self.touches = frozenset({"sex"})

    def status(self, facts):
        return MET if facts.sex == self.sex else NOT_MET

    def make(self, rng, facts, trial, met, near=False):
        facts.sex = self.sex if met else ("male" if self.sex == "female" else "female")
        return None


class Pregnancy(Criterion):
    key, text = "pregnancy", "Pregnant or breastfeeding women"
    touches = frozenset({"age", "sex", "pregnancy"})

    def status(self, facts):
        return MET if facts.pregnancy in ("pregnant", "breastfeeding") else NOT_MET

    def make(self, rng, facts, trial, met, near=False):
        if not met:
            facts.pregnancy = None  # _finalize writes "not pregnant" where it applies
            return None
        facts.sex = "female"
        low, high = trial.age_range
        if not max(low, 20) <= facts.age <= min(high, 44):
            facts.age = rng.randint(max(low, 20), min(high, 44))
        facts.pregnancy = rng.choice(("pregnant", "breastfeeding"))
        return None


# ---------------------------------------------------------------------------------------------
# Trials
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    name: str
    title: str
    inclusion: tuple[Criterion, ...]
    exclusion: tuple[Criterion, ...]

    @property
    def criteria(self) -> tuple[Criterion, ...]:
        return self.inclusion + self.exclusion

    @property
    def age_range(self) -> tuple[int, int]:
        age = next(c for c in self.inclusion if isinstance(c, AgeRange))
        return int(age.lo), int(age.hi if age.hi is not None else MEASURES["age"].plausible[1])

    @property
    def touched(self) -> frozenset[str]:
        """Every condition, drug and measurement a criterion reads: kept out of the background."""
        return frozenset().union(*(c.touches for c in self.criteria))


_PREGNANCY = Pregnancy()
_ECOG = Threshold("ecog", 0, 1)
_ANC = Threshold("anc", lo=1.5)
_PLATELETS = Threshold("platelets", lo=100)
_HEPATITIS = ConditionCriterion(
    "hepatitis_bc", ("hepatitis_b", "hepatitis_c"), "Active hepatitis B or hepatitis C infection"
)
_PANCREATITIS = ConditionCriterion(
    "pancreatitis_history", ("pancreatitis",), "History of acute or chronic pancreatitis", history=True
)
_MTC = ConditionCriterion(
    "mtc_men2",
    ("mtc", "men2"),
    "Personal history of medullary thyroid carcinoma or multiple endocrine neoplasia type 2",
    history=True,
)
_GLP1 = Washout(
    "glp1ra_washout", "glp1ra", 90, "Treatment with a GLP-1 receptor agonist within 90 days before screening"
)
_ILD = ConditionCriterion(
    "ild_history", ("ild",), "History of interstitial lung disease or pneumonitis", history=True
)
_BRAIN = ConditionCriterion("brain_metastases", ("brain_mets",), "Untreated or symptomatic brain metastases")
_T1DM = ConditionCriterion("type1_diabetes", ("t1dm",), "Type 1 diabetes mellitus")

TRIALS: dict[str, Trial] = {
    t.name: t
    for t in [
        Trial(
            "t2dm_xr217",
            "Once-Weekly XR-217 Versus Placebo in Adults With Type 2 Diabetes Inadequately Controlled on "
            "Metformin (Phase 3)",
            (
                AgeRange(18, 75),
                ConditionCriterion("t2dm", ("t2dm",), "Diagnosis of type 2 diabetes mellitus"),
                Threshold("hba1c", 7.0, 10.5),
                StableMedication(
                    "metformin_stable",
                    "metformin",
                    90,
                    "On a stable dose of metformin for at least 90 days before screening",
                ),
                Threshold("egfr", lo=45),
            ),
            (_T1DM, _PANCREATITIS, _GLP1, _MTC, _PREGNANCY),
        ),
        Trial(
            "ckd_zr5",
            "ZR-5 and Kidney Outcomes in Adults With Chronic Kidney Disease and Albuminuria",
            (
                AgeRange(18, 80),
                ConditionCriterion("ckd", ("ckd",), "Diagnosis of chronic kidney disease"),
                Threshold("egfr", 25, 75),
                Threshold("uacr", 200, 5000, label="Urine albumin-to-creatinine ratio (UACR)"),
                StableMedication(
                    "acei_arb_stable",
                    "acei_arb",
                    28,
                    "Treated with an ACE inhibitor or ARB at a stable dose for at least 28 days before "
                    "screening",
                ),
                Threshold("potassium", hi=5.5, label="Serum potassium"),
            ),
            (
                _T1DM,
                ConditionCriterion(
                    "kidney_transplant", ("kidney_transplant",), "Prior kidney transplant", history=True
                ),
                ConditionCriterion("polycystic_kidney", ("adpkd",), "Polycystic kidney disease"),
                Washout(
                    "sglt2i_washout",
                    "sglt2i",
                    56,
                    "Treatment with an SGLT2 inhibitor within 56 days before screening",
                ),
                _PREGNANCY,
            ),
        ),
        Trial(
            "hfref_cv88",
            "CV-88 in Patients With Chronic Heart Failure and Reduced Ejection Fraction",
            (
                AgeRange(18, 85),
                ConditionCriterion("heart_failure", ("hf",), "Diagnosis of chronic heart failure"),
                Threshold("lvef", hi=40),
                Threshold("ntprobnp", lo=600),
                StableMedication(
                    "beta_blocker_stable",
                    "beta_blocker",
                    30,
                    "Treated with a beta-blocker at a stable dose for at least 30 days before screening",
                ),
                Threshold("egfr", lo=30),
                Threshold("potassium", hi=5.0, label="Serum potassium"),
            ),
            (
                ConditionCriterion(
                    "advanced_hf_device",
                    ("heart_transplant", "lvad"),
                    "Heart transplant or left ventricular assist device",
                    history=True,
                ),
                ConditionCriterion(
                    "cardiomyopathy",
                    ("hcm", "amyloidosis"),
                    "Hypertrophic cardiomyopathy or cardiac amyloidosis",
                ),
                _PREGNANCY,
            ),
        ),
        Trial(
            "nsclc_onc41",
            "ONC-41 Versus Docetaxel in Previously Treated Advanced Non-Small Cell Lung Cancer (Phase 2)",
            (
                AgeRange(18),
                ConditionCriterion("nsclc", ("nsclc",), "Stage IIIB–IV non-small cell lung cancer"),
                PriorTherapy(
                    "prior_platinum", "platinum", "At least one prior line of platinum-based chemotherapy"
                ),
                _ECOG,
                _ANC,
                _PLATELETS,
                Threshold("hemoglobin", lo=9.0),
                Threshold("alt", hi=120, text="ALT ≤ 3 × ULN (≤ 120 U/L)"),
            ),
            (
                _BRAIN,
                _ILD,
                Washout(
                    "anticancer_washout",
                    "anticancer",
                    28,
                    "Systemic anticancer therapy within 28 days before screening",
                ),
                _HEPATITIS,
                _PREGNANCY,
            ),
        ),
        Trial(
            "breast_bx12",
            "BX-12 in HER2-Positive Metastatic Breast Cancer After Prior Trastuzumab",
            (
                AgeRange(18),
                SexCriterion("female", "Female patients"),
                ConditionCriterion(
                    "her2_mbc", ("her2_breast_cancer",), "HER2-positive metastatic breast cancer"
                ),
                PriorTherapy(
                    "prior_trastuzumab", "trastuzumab", "Prior treatment with trastuzumab in any setting"
                ),
                Threshold("lvef", lo=50),
                _ECOG,
                _ANC,
                _PLATELETS,
            ),
            (
                PriorTherapy(
                    "prior_tdxd",
                    "tdxd",
                    "Prior or current treatment with trastuzumab deruxtecan",
                    include_current=True,
                ),
                _ILD,
                _BRAIN,
                _PREGNANCY,
            ),
        ),
        Trial(
            "copd_tr3",
            "TR-3 Triple Inhaled Therapy in Moderate to Very Severe COPD",
            (
                AgeRange(40, 80),
                ConditionCriterion("copd", ("copd",), "Diagnosis of COPD"),
                Threshold("fev1", 30, 70),
                Threshold(
                    "pack_years",
                    lo=10,
                    text="Current or former smoker with a smoking history of ≥ 10 pack-years",
                ),
            ),
            (
                ConditionCriterion("asthma", ("asthma",), "Current diagnosis of asthma"),
                Washout(
                    "systemic_steroid_washout",
                    "systemic_steroid",
                    28,
                    "Systemic corticosteroids within 28 days before screening",
                ),
                ConditionCriterion("lung_cancer", ("nsclc", "sclc"), "Lung cancer"),
                ConditionCriterion("a1at_deficiency", ("a1at",), "Alpha-1 antitrypsin deficiency"),
                _PREGNANCY,
            ),
        ),
        Trial(
            "asthma_ab9",
            "AB-9 Anti-IL-5 Antibody in Severe Eosinophilic Asthma",
            (
                AgeRange(18, 75),
                ConditionCriterion("asthma", ("asthma",), "Physician-diagnosed asthma"),
                Threshold("eosinophils", lo=300),
                Threshold("fev1", 40, 80),
                StableMedication(
                    "ics_laba_stable",
                    "ics_laba",
                    90,
                    "Treated with high-dose inhaled corticosteroid plus long-acting β2-agonist for at least "
                    "90 days before screening",
                ),
            ),
            (
                Threshold("pack_years", lo=10, text="Smoking history of ≥ 10 pack-years"),
                Washout(
                    "biologic_washout",
                    "asthma_biologic",
                    120,
                    "Treatment with any biologic for asthma within 120 days before screening",
                ),
                ConditionCriterion("copd", ("copd",), "Diagnosis of COPD"),
                _PREGNANCY,
            ),
        ),
        Trial(
            "ra_jk4",
            "JK-4 in Moderately to Severely Active Rheumatoid Arthritis With Inadequate Response to "
            "Methotrexate",
            (
                AgeRange(18, 75),
                ConditionCriterion("rheumatoid_arthritis", ("ra",), "Diagnosis of rheumatoid arthritis"),
                StableMedication(
                    "methotrexate_stable",
                    "methotrexate",
                    90,
                    "On methotrexate at a stable dose for at least 90 days before screening",
                ),
                Threshold("crp", lo=6.0),
                Threshold("hemoglobin", lo=9.0),
                Threshold("alt", hi=80, text="ALT ≤ 2 × ULN (≤ 80 U/L)"),
            ),
            (
                ConditionCriterion("tuberculosis", ("tb",), "Active tuberculosis"),
                ConditionCriterion(
                    "vte_history",
                    ("dvt", "pe"),
                    "History of deep vein thrombosis or pulmonary embolism",
                    history=True,
                ),
                PriorTherapy(
                    "prior_jak",
                    "jak",
                    "Prior or current treatment with a JAK inhibitor",
                    include_current=True,
                ),
                _HEPATITIS,
                _PREGNANCY,
            ),
        ),
        Trial(
            "htn_as2",
            "AS-2 Aldosterone Synthase Inhibitor in Uncontrolled Hypertension",
            (
                AgeRange(18, 85),
                ConditionCriterion("hypertension", ("htn",), "Diagnosis of essential hypertension"),
                Threshold("sbp", 140, 179, label="Mean seated systolic blood pressure"),
                StableMedication(
                    "antihypertensives_stable",
                    "antihypertensive",
                    28,
                    "Treated with at least 2 antihypertensive medications (ACE inhibitor or ARB, calcium "
                    "channel blocker, thiazide or thiazide-like diuretic) at stable doses for at least 28 "
                    "days before screening",
                    count=2,
                ),
                Threshold("egfr", lo=45),
                Threshold("potassium", 3.5, 5.0, label="Serum potassium"),
            ),
            (
                ConditionCriterion(
                    "secondary_hypertension",
                    ("primary_aldosteronism", "renal_artery_stenosis"),
                    "Known secondary hypertension (primary aldosteronism or renal artery stenosis)",
                ),
                Washout(
                    "mra_washout",
                    "mra",
                    28,
                    "Use of a mineralocorticoid receptor antagonist within 28 days before screening",
                ),
                _T1DM,
                _PREGNANCY,
            ),
        ),
        Trial(
            "af_fx7",
            "FX-7 Factor XIa Inhibitor Versus Apixaban for Stroke Prevention in Atrial Fibrillation",
            (
                AgeRange(55),
                ConditionCriterion("atrial_fibrillation", ("af",), "Documented atrial fibrillation"),
                Threshold("cha2ds2vasc", lo=2),
                Threshold("hemoglobin", lo=10.0),
                _PLATELETS,
                Threshold("egfr", lo=25),
            ),
            (
                ConditionCriterion(
                    "mechanical_valve", ("mechanical_valve",), "Mechanical heart valve", history=True
                ),
                ConditionCriterion(
                    "mitral_stenosis", ("mitral_stenosis",), "Moderate or severe mitral stenosis"
                ),
                ConditionCriterion(
                    "ich_history", ("ich",), "History of intracranial hemorrhage", history=True
                ),
            ),
        ),
        Trial(
            "obesity_ob3",
            "Once-Weekly OB-3 for Chronic Weight Management in Adults With Obesity",
            (
                AgeRange(18, 75),
                Threshold("bmi", lo=30.0),
                Threshold("hba1c", hi=6.5, hi_strict=True),
            ),
            (
                ConditionCriterion("diabetes", ("t1dm", "t2dm"), "Type 1 or type 2 diabetes mellitus"),
                _PANCREATITIS,
                _GLP1,
                ConditionCriterion(
                    "bariatric_surgery", ("bariatric",), "Previous bariatric surgery", history=True
                ),
                _MTC,
                _PREGNANCY,
            ),
        ),
        Trial(
            "lipid_lp9",
            "LP-9 siRNA in Atherosclerotic Cardiovascular Disease With Elevated LDL Cholesterol",
            (
                AgeRange(18, 80),
                ConditionCriterion(
                    "ascvd",
                    ("cad", "prior_mi", "ischemic_stroke"),
                    "History of atherosclerotic cardiovascular disease (coronary artery disease, myocardial "
                    "infarction or ischemic stroke)",
                    history=True,
                ),
                Threshold("ldl", lo=70),
                Threshold("triglycerides", hi=400, label="Fasting triglycerides"),
                StableMedication(
                    "statin_stable",
                    "statin",
                    28,
                    "On a stable statin dose for at least 28 days before screening",
                ),
            ),
            (
                Washout(
                    "pcsk9_washout",
                    "pcsk9",
                    90,
                    "Treatment with a PCSK9 inhibitor (antibody or siRNA) within 90 days before screening",
                ),
                ConditionCriterion(
                    "liver_disease",
                    ("cirrhosis", "hepatitis_b", "hepatitis_c"),
                    "Active liver disease, including cirrhosis or active hepatitis B or C",
                ),
                _PREGNANCY,
            ),
        ),
    ]
}


def decide(trial: Trial, facts: PatientFacts) -> tuple[str, dict[str, str]]:
    """(label, criteria_labels) from the facts: eligible iff every inclusion is met and no exclusion is."""
    labels = {c.key: c.status(facts) for c in trial.criteria}
    eligible = all(labels[c.key] == MET for c in trial.inclusion) and not any(
        labels[c.key] == MET for c in trial.exclusion
    )
    return (ELIGIBLE if eligible else EXCLUDED), labels


# ---------------------------------------------------------------------------------------------
# Sampling a pair
# ---------------------------------------------------------------------------------------------

_RELATIVES = ("mother", "father", "sister", "brother", "maternal grandmother", "paternal uncle")
_SCENARIOS = (
    ("eligible", 0.17),
    ("near_eligible", 0.13),  # the deciding fact at an edge, still eligible
    ("near_excluded", 0.12),  # one fact just past an edge, nothing else wrong
    ("one_violation", 0.35),
    ("two_violations", 0.13),
    ("missing_data", 0.10),  # a required measurement absent: unknown, so not eligible
)
_DECOY_RATE = 0.15


def _years_ago(rng: random.Random, facts: PatientFacts, condition: str | None) -> float:
    if condition is not None and CONDITIONS[condition].recent:  # before any prior anticancer course
        return rng.randint(600, 1500) / 365.25
    return rng.randint(1, max(1, min(20, facts.age - 20))) + rng.random()


def _add_background(rng: random.Random, facts: PatientFacts, trial: Trial) -> None:
    """Comorbidities, drugs, labs, smoking and family history that no criterion of the trial reads."""
    blocked = trial.touched
    pool = [
        k
        for k, c in CONDITIONS.items()
        if c.common and k not in blocked and c.sex in (None, facts.sex) and not facts.has_condition((k,))
    ]
    for key in rng.sample(pool, rng.randint(0, 4)):
        info = CONDITIONS[key]
        resolved = info.resolved is not None and rng.random() < 0.6
        facts.add_diagnosis(key, _years_ago(rng, facts, key), resolved=resolved)
        drugs = [d for d in info.drugs if d not in blocked]
        if drugs and not resolved and rng.random() < 0.85:
            facts.add_medication(rng.choice(drugs), rng.randint(60, 3000))
    for key, m in MEASURES.items():
        if key not in blocked and rng.random() < m.background:
            facts.set_value(key, _grid(rng, *m.typical, m), days_ago=rng.randint(3, 45))
    if "pack_years" not in blocked:
        facts.set_value("pack_years", 0 if rng.random() < 0.55 else rng.randint(1, min(50, facts.age - 15)))
    facts.current_smoker = rng.random() < 0.35
    familial = [k for k, c in CONDITIONS.items() if k not in blocked and c.familial and not c.procedure]
    for _ in range(rng.randint(0, 2)):
        facts.add_family(rng.choice(_RELATIVES), rng.choice(familial))
    negatable = [
        k for k, c in CONDITIONS.items() if k not in blocked and c.ruled_out and not facts.has_condition((k,))
    ]
    if rng.random() < 0.2:
        facts.add_ruled_out(rng.choice(negatable))


def _finalize(facts: PatientFacts) -> None:
    """Pregnancy status is recorded for women aged 50 or younger only."""
    if facts.sex == "female" and facts.age <= 50:
        facts.pregnancy = facts.pregnancy or "not pregnant"
    else:
        facts.pregnancy = None


def conforming_facts(trial: Trial, rng: random.Random) -> PatientFacts:
    """A patient who meets every inclusion criterion and no exclusion criterion of the trial."""
    facts = PatientFacts(age=40, sex=rng.choice(("female", "male")))
    for c in trial.criteria:
        c.make(rng, facts, trial, met=c in trial.inclusion)
    _add_background(rng, facts, trial)
    _finalize(facts)
    return facts


@dataclass
class EligibilityPair:
    row: dict
    trial: Trial
    facts: PatientFacts
    scenario: str  # a _SCENARIOS name
    planted: tuple[str, ...]  # keys of the criteria the scenario rewrote
    near_miss: str | None  # kind of the deciding near miss planted ("at_threshold", "ruled_out", ...)


def sample_pair(rng: random.Random, row_id: str) -> EligibilityPair:
    """A trial, a conforming patient, then one scenario of _SCENARIOS planted on it, then decoys."""
    trial = TRIALS[rng.choice(sorted(TRIALS))]
    facts = conforming_facts(trial, rng)
    scenario = rng.choices([s for s, _ in _SCENARIOS], [w for _, w in _SCENARIOS])[0]
    conform = {c.key: c in trial.inclusion for c in trial.criteria}  # the met-ness of an eligible patient
    planted: list[Criterion] = []
    near_miss = None
    if scenario in ("near_eligible", "near_excluded"):
        flip = scenario == "near_excluded"
        planted = [rng.choice([c for c in trial.criteria if c.can_near(conform[c.key] != flip)])]
        near_miss = planted[0].make(rng, facts, trial, met=conform[planted[0].key] != flip, near=True)
    elif scenario == "missing_data":
        planted = [rng.choice([c for c in trial.inclusion if c.droppable])]
        planted[0].drop(facts)
    elif scenario != "eligible":
        violable = [c for c in trial.criteria if c.can_make(not conform[c.key])]
        planted = [rng.choice(violable)]
        if scenario == "two_violations":
            planted.append(rng.choice([c for c in violable if not c.touches & planted[0].touches]))
        for c in planted:
            c.make(rng, facts, trial, met=not conform[c.key])
    # a decoy never touches what a planted criterion reads (an old platinum course would satisfy
    # "prior platinum" again), so it changes no status
    for c in trial.criteria:
        if not any(c.touches & p.touches for p in planted) and rng.random() < _DECOY_RATE:
            c.decoy(rng, facts)
    _finalize(facts)
    row = make_row(row_id, trial, facts, rng)
    return EligibilityPair(row, trial, facts, scenario, tuple(c.key for c in planted), near_miss)


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


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
    value = _with_unit(format_value(key, m.value), measure.unit)
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


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def generate_pairs(n: int, seed: int, id_prefix: str) -> list[EligibilityPair]:
    """The rows of `generate_eligibility_rows` with the facts and the planted scenario behind each."""
    pairs = []
    for i in range(n):
        # one stream per pair: a pair never depends on how many precede it
        rng = random.Random(f"medtune-eligibility:{seed}:{id_prefix}:{i}")
        pairs.append(sample_pair(rng, f"{id_prefix}-{i:05d}"))
    return pairs


def generate_eligibility_rows(n: int, seed: int, id_prefix: str) -> list[dict]:
    """n rows {"id", "patient", "criteria", "label", "criteria_labels"}; same (n, seed), same rows."""
    return [pair.row for pair in generate_pairs(n, seed, id_prefix)]


def generate_eligibility_dataset(folder: Path, seed: int, n_train: int, n_eval: int) -> None:
    """Writes folder/train.jsonl and folder/eval.jsonl (ids "train-..." and "eval-...", disjoint streams)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("eval", n_eval)):
        with open(folder / f"{split}.jsonl", "w", encoding="utf-8", newline="\n") as f:
            for row in generate_eligibility_rows(n, seed, split):
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
