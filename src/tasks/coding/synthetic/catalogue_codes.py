"""The codes of the synthetic coding notes and the words for them; the drugs a note lists.

`SPECIFIC_TERMS`: terms that name exactly one code (used where the note is specific);
`SHARED_TERMS`: generic terms a note uses for every member of a family without an unspecified code
of its own (laterality families); `CODE_TERMS` (every code's terms, BMI codes included) is what
the keyword baseline matches. `MEDS`: drug -> dose strings; `MED_Z79`: the drugs that carry a
long-term-therapy Z79 code. List orders are part of the generator's random draws: reordering
changes the data.
"""

from __future__ import annotations

# Code -> the terms that name exactly this code.
SPECIFIC_TERMS: dict[str, list[str]] = {
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

# Code family -> the generic terms a note uses for each member (listed under each in CODE_TERMS).
SHARED_TERMS: dict[tuple[str, ...], list[str]] = {
    ("I82.401", "I82.402"): ["DVT", "deep vein thrombosis"],
    ("L03.115", "L03.116"): ["cellulitis"],
    ("M17.11", "M17.12", "M17.0"): ["knee osteoarthritis", "knee OA"],
}

# BMI codes: one per whole BMI unit 30-39, then 40-44.9 and 45-49.9 (adult).
BMI_BANDS: list[tuple[float, float, str]] = [(30.0 + i, 31.0 + i, f"Z68.3{i}") for i in range(10)] + [
    (40.0, 45.0, "Z68.41"),
    (45.0, 50.0, "Z68.42"),
]


def _build_code_terms() -> dict[str, list[str]]:
    terms = {code: list(words) for code, words in SPECIFIC_TERMS.items()}
    for codes, words in SHARED_TERMS.items():
        for code in codes:
            terms[code] += words
    for lo, hi, code in BMI_BANDS:
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

# Medications: drug -> dose strings; which drugs carry a long-term-therapy Z79 code.
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

# Drugs a medication list may add that carry no code of their own.
DISTRACTOR_MEDS = [
    "acetaminophen", "multivitamin", "vitamin D3", "docusate", "melatonin",
    "loratadine", "fluticasone nasal", "calcium carbonate", "fish oil", "omeprazole",
]  # fmt: skip

# Type 2 diabetes regimens (drug keys) and their shares; () is diet-controlled.
DM_REGIMENS: list[tuple[tuple[str, ...], float]] = [
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

# The anticoagulants; an AF patient takes one of them or none.
ANTICOAGULANTS = ["apixaban", "rivaroxaban", "warfarin"]
