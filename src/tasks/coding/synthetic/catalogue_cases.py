"""What a synthetic coding case is made of, and how often: the probability tables of the sampler.

What a visit is about (`PRINCIPAL_WEIGHTS`), which comorbidities join it (`COMORBID_WEIGHTS`,
boosted by `AFFINITY`), how many codes a note gets (`CODE_COUNT_WEIGHTS`, at most `MAX_CODES`),
the variants and drugs of the simpler chronic problems (`SIMPLE_PROBLEMS`), personal and family
history, and the outpatient work-ups. Orders are part of the random draws: reordering changes data.
"""

from __future__ import annotations

# CKD stage code -> the eGFR range of its labs (unstaged CKD: 35-55, its note shows creatinine only).
CKD_EGFR = {"N18.2": (62, 86), "N18.30": (32, 58), "N18.31": (45, 59), "N18.32": (30, 44), "N18.4": (16, 29)}

# personal-history concept -> (code, the sex it applies to or None, the concept it conflicts with)
PERSONAL_HISTORY = {
    "hx_dvt": ("Z86.718", None, "dvt"),
    "hx_pe": ("Z86.711", None, "pe"),
    "hx_breast_ca": ("Z85.3", "F", None),
    "hx_prostate_ca": ("Z85.46", "M", None),
    "hx_stroke": ("Z86.73", None, None),
    "hx_uti": ("Z87.440", "F", "uti"),
}

# family-history code -> (relatives, condition phrases as written in the note)
FAMILY_HISTORY = {
    "Z80.3": (["mother", "sister", "maternal aunt", "maternal grandmother"], ["breast cancer"]),
    "Z80.0": (["father", "mother", "brother", "paternal uncle"], ["colon cancer"]),
    "Z82.49": (
        ["father", "mother", "brother"],
        ["MI", "coronary artery disease", "CAD", "hypertension", "HTN", "heart disease"],
    ),
    "Z83.3": (["mother", "father", "sister", "brother"], ["type 2 diabetes", "diabetes", "T2DM"]),
    "Z82.3": (["father", "mother", "grandmother"], ["stroke", "CVA"]),
}

# Outpatient work-up: symptom code -> conditions the provider wants to rule out (and the
# concept that must be absent for the rule-out to make sense).
WORKUPS = {
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

# Chronic problems with variant codes and a typical drug: concept -> (code, or (code, weight)
# variants; drugs, one of which the patient takes; chance of taking one).
SIMPLE_PROBLEMS: dict[str, tuple[str | list[tuple[str, float]], list[str], float]] = {
    "hld": (
        [("E78.5", 0.55), ("E78.00", 0.25), ("E78.2", 0.2)],
        ["atorvastatin", "rosuvastatin", "simvastatin", "pravastatin"],
        0.85,
    ),
    "hypothyroid": ("E03.9", ["levothyroxine"], 1.0),
    "gerd": ("K21.9", ["omeprazole", "pantoprazole", "famotidine"], 1.0),
    "depression": (
        [("F32.A", 0.36), ("F32.9", 0.34), ("F33.1", 0.3)],
        ["sertraline", "escitalopram", "fluoxetine", "bupropion"],
        0.85,
    ),
    "anxiety": ([("F41.1", 0.55), ("F41.9", 0.45)], ["buspirone", "escitalopram"], 0.6),
    "osa": ("G47.33", ["CPAP"], 1.0),
    "bph": ([("N40.0", 0.45), ("N40.1", 0.55)], ["tamsulosin", "finasteride"], 1.0),
    "gout": ("M10.9", ["allopurinol"], 1.0),
    "vitd": ("E55.9", ["ergocalciferol"], 1.0),
    "osteoporosis": ("M81.0", ["alendronate"], 1.0),
    "anemia": ([("D50.9", 0.6), ("D64.9", 0.4)], ["ferrous sulfate"], 0.0),
    "migraine": ([("G43.909", 0.55), ("G43.009", 0.45)], ["sumatriptan", "topiramate"], 1.0),
    "lbp": ("M54.50", [], 1.0),
}

# What a visit / admission is about. None: a chronic-disease follow-up.
PRINCIPAL_WEIGHTS = {
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

# Comorbidities and other codeable facts; sex- or age-specific ones are filtered in build_case.
COMORBID_WEIGHTS = {
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
AFFINITY = {
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
AFFINITY_BOOST = 2.6

# How many codes a note gets, by weight; never more than MAX_CODES.
CODE_COUNT_WEIGHTS = [(1, 0.12), (2, 0.23), (3, 0.27), (4, 0.2), (5, 0.11), (6, 0.07)]
MAX_CODES = 6
