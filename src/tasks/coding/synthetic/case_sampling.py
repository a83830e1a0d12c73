"""Sampling a synthetic coding case: one sampler per concept, and the case built from them.

A case gets a setting and a patient, a number of codes to reach, its principal problem (what the
visit or admission is about), then comorbidities and other codeable facts drawn by weight until it
has that many codes. Each sampler adds one concept to a case and returns False when the concept
does not fit it. The weights are in catalogue_cases.py.
"""

from __future__ import annotations

import random

from src.tasks.coding.synthetic.cases import Case, case_codes
from src.tasks.coding.synthetic.catalogue_cases import (
    AFFINITY,
    AFFINITY_BOOST,
    CKD_EGFR,
    CODE_COUNT_WEIGHTS,
    COMORBID_WEIGHTS,
    FAMILY_HISTORY,
    MAX_CODES,
    PERSONAL_HISTORY,
    PRINCIPAL_WEIGHTS,
    SIMPLE_PROBLEMS,
    WORKUPS,
)
from src.tasks.coding.synthetic.catalogue_codes import ANTICOAGULANTS, DM_REGIMENS


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
    for med in _wpick(rng, DM_REGIMENS):
        case.add_med(med)
    hyper = "E11.65" in case.dm_comps
    case.info["a1c"] = round(rng.uniform(8.6, 12.4) if hyper else rng.uniform(6.2, 7.6), 1)
    return True


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
    lo, hi = CKD_EGFR.get(stage, (35, 55))
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
    if not any(m in case.meds for m in ANTICOAGULANTS) and rng.random() < 0.72:
        case.add_med(rng.choice(ANTICOAGULANTS))
    case.info["chads"] = (
        rng.randint(2, 5) if any(m in case.meds for m in ANTICOAGULANTS) else rng.randint(0, 3)
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


def _add_simple(concept, options, meds, med_prob):
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


def _add_history(key):
    code, sex, conflict = PERSONAL_HISTORY[key]

    def add(rng, case, principal):
        if (sex and case.sex != sex) or conflict in case.problems or code in case.history:
            return False
        case.history.append(code)
        if key == "hx_stroke" and rng.random() < 0.6:
            case.add_med(rng.choice(["aspirin", "aspirin", "clopidogrel"]))
        return True

    return add


def _add_family(code):
    def add(rng, case, principal):
        if any(c == code for _, c in case.family):
            return False
        case.family.append((rng.choice(FAMILY_HISTORY[code][0]), code))
        return True

    return add


def _add_workup(rng, case, principal):
    if not principal or case.setting != "clinic":
        return False
    symptom = rng.choice(list(WORKUPS))
    suspects = [name for name, concept in WORKUPS[symptom]]
    case.workup = (symptom, rng.choice(suspects))
    if symptom == "R07.9" and rng.random() < 0.6:
        case.procedures.append("93000")
    return True


def _workup_ok(case: Case) -> bool:
    """A rule-out is only plausible for a condition the patient is not known to have."""
    if not case.workup:
        return True
    concept = dict(WORKUPS[case.workup[0]])[case.workup[1]]
    return concept not in case.problems


# concept -> sampler; concept keys are those of the weight tables
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
    **{concept: _add_simple(concept, *spec) for concept, spec in SIMPLE_PROBLEMS.items()},
    "obesity": _add_obesity,
    "knee_oa": _add_knee_oa,
    "pna": _acute("pna", "J18.9"),
    "uti": _add_uti,
    "cellulitis": _add_lateral("cellulitis", "L03.115", "L03.116"),
    "dvt": _add_dvt,
    "pe": _add_pe,
    "workup": _add_workup,
    "smoker": _add_smoking("current"),
    "former_smoker": _add_smoking("former"),
    **{key: _add_history(key) for key in PERSONAL_HISTORY},
    "fh_breast_ca": _add_family("Z80.3"),
    "fh_colon_ca": _add_family("Z80.0"),
    "fh_cad": _add_family("Z82.49"),
    "fh_dm": _add_family("Z83.3"),
    "fh_stroke": _add_family("Z82.3"),
}


def build_case(rng: random.Random) -> Case:
    """A setting and a patient, the principal problem, then comorbidities up to a drawn code count."""
    setting = "inpatient" if rng.random() < 0.3 else "clinic"
    sex = rng.choice("FM")
    age = rng.randint(24, 92) if setting == "clinic" else rng.randint(38, 94)
    case = Case(setting, age, sex, bmi=round(rng.uniform(19.5, 29.8), 1))
    target = _wpick(rng, CODE_COUNT_WEIGHTS)

    principal = _wpick(rng, PRINCIPAL_WEIGHTS[setting])
    case.principal = principal
    if principal:
        for _ in range(20):  # the principal problem must fit within the 6-code cap
            trial = case.clone()
            _SAMPLERS[principal](rng, trial, True)
            if len(case_codes(trial)) <= MAX_CODES:
                break
        case = trial
        target = max(target, len(case_codes(case)))

    pool = [k for k in COMORBID_WEIGHTS if _fits_patient(k, case)]
    for _ in range(40):
        if len(case_codes(case)) >= target:
            break
        present = set(case.problems) | {case.principal} | ({"smoker"} if case.smoking == "current" else set())
        weights = [
            COMORBID_WEIGHTS[k] * (AFFINITY_BOOST if present.intersection(AFFINITY.get(k, ())) else 1.0)
            for k in pool
        ]
        concept = rng.choices(pool, weights)[0]
        if concept in case.problems or (concept == principal):
            continue
        trial = case.clone()
        if _SAMPLERS[concept](rng, trial, False) and _workup_ok(trial) and len(case_codes(trial)) <= target:
            case = trial
    if case.smoking == "unknown" and rng.random() < 0.55:
        case.smoking = "never"
    # A few obese-range BMIs without an obesity diagnosis: such BMIs are not codeable.
    if "obesity" not in case.problems and rng.random() < 0.1:
        case.bmi = round(rng.uniform(30.0, 36.0), 1)
    return case


def _fits_patient(concept: str, case: Case) -> bool:
    if concept == "bph":
        return case.sex == "M" and case.age >= 50
    if concept == "osteoporosis":
        return case.age >= 55
    if concept in ("hld", "cad", "cabg", "old_mi", "af", "hf", "ckd", "hx_stroke", "hx_prostate_ca"):
        return case.age >= 40
    return True
