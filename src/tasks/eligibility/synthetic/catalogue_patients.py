"""What a synthetic patient record can contain: conditions, drugs, measurements, relatives.

`CONDITIONS` (diagnoses and procedures, with the wording a record uses for the patient's own,
resolved, ruled-out and relatives' entries), `DRUGS` (as a record writes them, with the classes
the criteria read), `MEASURES` (units, recording step, typical and plausible values, where a record
writes them). The dict orders are part of the generator's random draws: reordering changes data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Condition:
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


CONDITIONS: dict[str, Condition] = {
    "t2dm": Condition(
        ("Type 2 diabetes mellitus", "Type 2 diabetes", "T2DM"),
        ruled_out="fasting glucose and HbA1c normal",
        common=True,
        drugs=("metformin",),
    ),
    "t1dm": Condition(
        ("Type 1 diabetes mellitus", "Type 1 diabetes", "T1DM"),
        ruled_out="GAD65 and IA-2 antibodies negative",
        drugs=("insulin_glargine",),
    ),
    "pancreatitis": Condition(
        ("Acute pancreatitis", "Pancreatitis", "Acute gallstone pancreatitis"),
        ruled_out="lipase normal, CT abdomen without pancreatitis",
        resolved="resolved",
        common=True,
    ),
    "mtc": Condition(("Medullary thyroid carcinoma",), ruled_out="calcitonin normal"),
    "men2": Condition(("Multiple endocrine neoplasia type 2", "MEN2"), ruled_out="RET testing negative"),
    "ckd": Condition(
        ("Chronic kidney disease", "CKD"),
        ruled_out="eGFR and urine albumin normal on repeat testing",
        common=True,
    ),
    "kidney_transplant": Condition(("Kidney transplant", "Deceased-donor renal transplant"), procedure=True),
    "adpkd": Condition(
        ("Autosomal dominant polycystic kidney disease", "ADPKD"), ruled_out="renal ultrasound without cysts"
    ),
    "hf": Condition(
        ("Heart failure with reduced ejection fraction", "Chronic systolic heart failure", "HFrEF"),
        ruled_out="echocardiogram with normal LVEF",
        common=True,
        generic="Heart failure",
        drugs=("sacubitril_valsartan",),
    ),
    "lvad": Condition(("Left ventricular assist device implantation",), procedure=True),
    "heart_transplant": Condition(("Orthotopic heart transplant",), procedure=True),
    "hcm": Condition(("Hypertrophic cardiomyopathy",), ruled_out="cardiac MRI without hypertrophy"),
    "amyloidosis": Condition(
        ("Transthyretin cardiac amyloidosis",), ruled_out="technetium pyrophosphate scan negative"
    ),
    "nsclc": Condition(
        (
            "Non-small cell lung cancer, stage IV (adenocarcinoma)",
            "Metastatic non-small cell lung cancer (squamous)",
            "Non-small cell lung cancer, stage IIIB",
        ),
        ruled_out="CT-guided lung biopsy benign",
        recent=True,
        generic="Non-small cell lung cancer",
    ),
    "sclc": Condition(("Small cell lung cancer",), ruled_out="bronchoscopic biopsy benign", recent=True),
    "brain_mets": Condition(
        ("Brain metastases",),
        ruled_out="MRI brain without metastases",
        resolved="treated with stereotactic radiosurgery, stable on MRI",
        active="untreated",
        recent=True,
        familial=False,
    ),
    "ild": Condition(
        ("Interstitial lung disease", "Drug-induced pneumonitis", "Idiopathic pulmonary fibrosis"),
        ruled_out="high-resolution CT without interstitial changes",
    ),
    "hepatitis_b": Condition(("Chronic hepatitis B infection",), ruled_out="HBsAg negative"),
    "hepatitis_c": Condition(
        ("Chronic hepatitis C infection", "Hepatitis C"),
        ruled_out="HCV antibody negative",
        resolved="treated, sustained virologic response",
        common=True,
    ),
    "her2_breast_cancer": Condition(
        ("HER2-positive metastatic breast cancer", "Metastatic breast cancer, HER2-positive (IHC 3+)"),
        ruled_out="breast biopsy benign",
        recent=True,
        generic="Breast cancer",
    ),
    "copd": Condition(
        ("Chronic obstructive pulmonary disease", "COPD"),
        ruled_out="spirometry without airflow obstruction",
        common=True,
        drugs=("tiotropium",),
    ),
    "asthma": Condition(
        ("Asthma", "Severe persistent asthma"),
        ruled_out="methacholine challenge negative",
        common=True,
        drugs=("albuterol",),
    ),
    "a1at": Condition(("Alpha-1 antitrypsin deficiency",), ruled_out="alpha-1 antitrypsin level normal"),
    "ra": Condition(
        ("Rheumatoid arthritis", "Seropositive rheumatoid arthritis"),
        ruled_out="rheumatoid factor and anti-CCP negative",
        common=True,
        drugs=("hydroxychloroquine",),
    ),
    "tb": Condition(
        ("Pulmonary tuberculosis",),
        ruled_out="QuantiFERON-TB Gold negative",
        resolved="completed 6 months of treatment",
    ),
    "dvt": Condition(
        ("Deep vein thrombosis of the left leg", "Right leg deep vein thrombosis"),
        ruled_out="compression ultrasound negative",
        resolved="anticoagulation completed",
        common=True,
        generic="Deep vein thrombosis",
    ),
    "pe": Condition(
        ("Pulmonary embolism",),
        ruled_out="CT pulmonary angiogram negative",
        resolved="anticoagulation completed",
        common=True,
    ),
    "htn": Condition(
        ("Essential hypertension", "Hypertension", "HTN"),
        ruled_out="ambulatory blood pressure monitoring normal",
        common=True,
        drugs=("amlodipine", "lisinopril", "losartan"),
    ),
    "primary_aldosteronism": Condition(
        ("Primary aldosteronism",), ruled_out="aldosterone-to-renin ratio normal"
    ),
    "renal_artery_stenosis": Condition(("Renal artery stenosis",), ruled_out="renal artery duplex normal"),
    "af": Condition(
        ("Atrial fibrillation", "Paroxysmal atrial fibrillation", "Persistent atrial fibrillation"),
        ruled_out="Holter monitor without arrhythmia",
        common=True,
        drugs=("apixaban", "metoprolol"),
    ),
    "mechanical_valve": Condition(
        ("Mechanical aortic valve replacement", "Mechanical mitral valve replacement"), procedure=True
    ),
    "mitral_stenosis": Condition(
        ("Moderate rheumatic mitral stenosis", "Severe mitral stenosis"),
        ruled_out="echocardiogram without mitral stenosis",
        generic="Mitral stenosis",
    ),
    "ich": Condition(
        ("Intracranial hemorrhage", "Hemorrhagic stroke"), ruled_out="CT head without hemorrhage"
    ),
    "bariatric": Condition(("Sleeve gastrectomy", "Roux-en-Y gastric bypass"), procedure=True),
    "cad": Condition(
        ("Coronary artery disease",),
        ruled_out="coronary CT angiogram without stenosis",
        common=True,
        drugs=("aspirin", "atorvastatin"),
    ),
    "prior_mi": Condition(("Myocardial infarction", "NSTEMI"), resolved="treated with PCI", common=True),
    "ischemic_stroke": Condition(("Ischemic stroke",), ruled_out="MRI brain without infarct"),
    "cirrhosis": Condition(
        ("Cirrhosis", "Alcohol-related cirrhosis"), ruled_out="FibroScan without advanced fibrosis"
    ),
    # background only: no trial reads these
    "hyperlipidemia": Condition(("Hyperlipidemia",), common=True, drugs=("atorvastatin", "rosuvastatin")),
    "gerd": Condition(("Gastroesophageal reflux disease", "GERD"), common=True, drugs=("omeprazole",)),
    "hypothyroidism": Condition(("Hypothyroidism",), common=True, drugs=("levothyroxine",)),
    "depression": Condition(("Major depressive disorder", "Depression"), common=True, drugs=("sertraline",)),
    "osteoarthritis": Condition(("Osteoarthritis of the knee",), common=True),
    "gout": Condition(("Gout",), common=True, drugs=("allopurinol",)),
    "osa": Condition(("Obstructive sleep apnea",), ruled_out="polysomnography normal", common=True),
    "bph": Condition(("Benign prostatic hyperplasia",), common=True, drugs=("tamsulosin",), sex="male"),
    "osteoporosis": Condition(("Osteoporosis",), common=True, drugs=("alendronate",), sex="female"),
    "colon_cancer": Condition(("Colon cancer",), ruled_out="colonoscopy normal"),
    "cholecystectomy": Condition(("Laparoscopic cholecystectomy",), procedure=True, common=True),
    "knee_replacement": Condition(("Total knee replacement",), procedure=True, common=True),
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


@dataclass(frozen=True)
class Measure:
    name: str
    unit: str
    decimals: int
    step: float  # one unit of the value as recorded: near misses sit one step from a bound
    typical: tuple[float, float]  # background values
    plausible: tuple[float, float]  # every value the generator writes
    section: str
    background: float = 0.0  # chance a record has it when no criterion reads it
    always: bool = False  # always documented (a criterion on it is never unknown)


MEASURES: dict[str, Measure] = {
    "age": Measure("Age", "years", 0, 1, (25, 85), (18, 95), "demographics", always=True),
    "egfr": Measure("eGFR", "mL/min/1.73m²", 0, 1, (40, 110), (12, 120), "labs", 0.8),
    "hba1c": Measure("HbA1c", "%", 1, 0.1, (5.0, 9.0), (4.5, 13.5), "labs", 0.4),
    "alt": Measure("ALT", "U/L", 0, 1, (10, 45), (6, 400), "labs", 0.6),
    "hemoglobin": Measure("Hemoglobin", "g/dL", 1, 0.1, (11.0, 15.5), (6.5, 17.5), "labs", 0.7),
    "platelets": Measure("Platelets", "× 10⁹/L", 0, 1, (150, 380), (30, 600), "labs", 0.5),
    "anc": Measure("ANC", "× 10⁹/L", 1, 0.1, (1.8, 6.5), (0.3, 9.0), "labs"),
    "potassium": Measure("Potassium", "mmol/L", 1, 0.1, (3.6, 5.0), (2.9, 6.5), "labs", 0.6),
    "uacr": Measure("UACR", "mg/g", 0, 1, (5, 300), (3, 8000), "labs", 0.2),
    "ntprobnp": Measure("NT-proBNP", "pg/mL", 0, 1, (80, 900), (30, 12000), "labs", 0.1),
    "crp": Measure("CRP", "mg/L", 1, 0.1, (0.5, 8.0), (0.2, 120.0), "labs", 0.3),
    "eosinophils": Measure("Blood eosinophils", "cells/µL", 0, 10, (100, 400), (0, 1500), "labs", 0.2),
    "ldl": Measure("LDL-C", "mg/dL", 0, 1, (70, 160), (30, 300), "labs", 0.5),
    "triglycerides": Measure("Triglycerides", "mg/dL", 0, 1, (80, 250), (40, 900), "labs", 0.4),
    "lvef": Measure("LVEF", "%", 0, 1, (50, 65), (10, 75), "echo", 0.2),
    "fev1": Measure("FEV1", "% predicted", 0, 1, (60, 100), (15, 120), "spirometry", 0.1),
    "sbp": Measure("Seated systolic blood pressure", "mmHg", 0, 1, (110, 150), (90, 210), "vitals", 0.9),
    "bmi": Measure("BMI", "kg/m²", 1, 0.1, (21.0, 34.0), (16.0, 55.0), "vitals", 0.9),
    "ecog": Measure("ECOG performance status", "", 0, 1, (0, 1), (0, 4), "ecog"),
    "cha2ds2vasc": Measure("CHA₂DS₂-VASc score", "", 0, 1, (0, 4), (0, 9), "score"),
    "pack_years": Measure("Smoking history", "pack-years", 0, 1, (0, 50), (0, 80), "smoking", always=True),
}

# whom a family-history entry names
RELATIVES = ("mother", "father", "sister", "brother", "maternal grandmother", "paternal uncle")
