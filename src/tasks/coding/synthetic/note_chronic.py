"""Renderers of the chronic problems of a synthetic coding note, exacerbations included.

Each writes its PMH term, A/P item and the HPI, exam and lab lines that support it, and may plant
a trap that names something uncodeable (a drug only discussed, a test not done today). The simpler
problems share one A/P shape (`_r_simple`: a status and a plan).
"""

from __future__ import annotations

from src.tasks.coding.synthetic.cases import htn_code
from src.tasks.coding.synthetic.catalogue_codes import ANTICOAGULANTS, MED_Z79
from src.tasks.coding.synthetic.catalogue_phrases import GENERIC_PMH
from src.tasks.coding.synthetic.note_sections import cap, join, med_names, med_or, term


def _r_htn(rng, case, s):
    code = htn_code(case)
    s.pmh.append(term(rng, "I10"))
    name = term(rng, code) if code != "I10" and rng.random() < 0.5 else term(rng, "I10")
    meds = med_names(
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
            [f"Continue {join(meds)}.", "Continue current regimen.", f"At goal on {join(meds)}."]
        )
        status = rng.choice(["at goal", "well controlled", "controlled"])
    else:
        plan = rng.choice(
            [f"Increase {meds[0]}; home BP log, recheck in 4 weeks.", "Low-sodium diet; titrate therapy."]
        )
        status = rng.choice(["above goal", "not at goal", "elevated today"])
    s.ap.append(f"{cap(name)}: BP {case.info['bp']}, {status}. {plan}")


def _r_dm(rng, case, s):
    s.pmh.append(term(rng, "E11.9"))
    hyper = "E11.65" in case.dm_comps
    a1c = case.info["a1c"]
    s.labs.append(f"A1c {a1c}%")
    dm_meds = [m for m in case.meds if MED_Z79.get(m) in ("Z79.84", "Z79.4", "Z79.85")]
    if dm_meds and rng.random() < 0.5:
        s.hpi.append(rng.choice(["Reports good adherence to", "Taking"]) + f" {join(dm_meds)}.")
    if hyper:
        s.hpi.append(
            rng.choice(["Fasting sugars in the 200s.", "Home glucose readings 180-260.", "Reports polyuria."])
        )
        name = term(rng, "E11.65")
        if "insulin glargine" in case.meds:
            plan = "Increase insulin glargine by 2 units every 3 days to fasting goal 80-130."
        elif dm_meds:
            plan = f"Maximize {dm_meds[0]}; diabetes education referral."
        else:
            plan = "Diabetes education; recheck A1c in 3 months."
        s.ap.append(f"{cap(name)}: A1c {a1c}%, above goal. {plan}")
    else:
        name = term(rng, "E11.9")
        plan = f"Continue {join(dm_meds)}." if dm_meds else "Diet-controlled; reinforced diet and exercise."
        s.ap.append(f"{cap(name)}: A1c {a1c}%, at goal. {plan} Annual eye and foot exams.")
    if not any(MED_Z79.get(m) == "Z79.4" for m in case.meds) and rng.random() < 0.25:
        s.ap[-1] += rng.choice([" Discussed starting insulin; patient prefers to defer.", " Not on insulin."])
        s.trap_count += 1
    for comp in case.dm_comps:
        if comp in ("E11.40", "E11.42"):
            s.exam["Neuro"] = "decreased monofilament sensation in both feet"
            s.ap.append(
                f"{cap(term(rng, comp))}: stable numbness and tingling in both feet. "
                f"Continue gabapentin; podiatry referral."
            )


def _r_ckd(rng, case, s):
    stage = case.problems["ckd"]
    s.pmh.append(term(rng, stage))
    name = term(rng, stage)
    if "dm" in case.problems and rng.random() < 0.5:
        name = f"{term(rng, 'E11.22')}, {term(rng, stage) if stage != 'N18.9' else 'stage not documented'}"
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
    s.ap.append(f"{cap(name)}: {values}, stable. {plan}")


def _r_hf(rng, case, s):
    code = case.problems["hf"]
    acute = code in ("I50.23", "I50.33")
    chronic_code = {"I50.23": "I50.22", "I50.33": "I50.32"}.get(code, code)
    s.pmh.append(term(rng, chronic_code) if rng.random() < 0.6 else term(rng, "I50.9"))
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
            f"{cap(term(rng, code))}: {ef}. Diuresing on IV furosemide {rng.choice([40, 80])} mg BID, "
            f"net negative {rng.uniform(0.8, 2.6):.1f} L. Daily weights, strict I/O."
        )
    else:
        s.ap.append(
            f"{cap(term(rng, code))}: {ef}, euvolemic, NYHA class {rng.choice(['I', 'II'])}. "
            f"Continue furosemide; daily weights, 2 g sodium diet."
        )
    if "pna" not in case.problems and rng.random() < 0.4:
        s.labs.append("CXR with vascular congestion, no evidence of pneumonia")
        s.trap_count += 1


def _r_copd(rng, case, s):
    code = case.problems["copd"]
    s.pmh.append(term(rng, "J44.9"))
    inhaler = med_names(case, ["tiotropium", "budesonide-formoterol"])[0]
    if code == "J44.9":
        s.exam.setdefault("Lungs", "diminished breath sounds, no wheezes")
        s.ap.append(
            f"{cap(term(rng, code))}: stable, no exacerbations this year. Continue {inhaler}, albuterol PRN."
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
    s.ap.append(f"{cap(term(rng, code))}: {plan}")


def _r_asthma(rng, case, s):
    code = case.problems["asthma"]
    s.pmh.append(term(rng, "J45.909") if code != "J45.40" else term(rng, "J45.40"))
    ctrl = med_names(case, ["fluticasone-salmeterol", "budesonide-formoterol", "montelukast"])[0]
    if code != "J45.901":
        s.ap.append(
            f"{cap(term(rng, code))}: well controlled on {ctrl}, rescue inhaler use under twice weekly."
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
    s.ap.append(f"{cap(term(rng, code))}: {plan} Continue {ctrl}.")


def _r_af(rng, case, s):
    code = case.problems["af"]
    s.pmh.append(term(rng, code) if rng.random() < 0.6 else term(rng, "I48.91"))
    s.exam["CV"] = "irregularly irregular rhythm, no murmur"
    s.ros_exclude.add("palpitations")
    anticoag = med_names(case, ANTICOAGULANTS)
    rate = med_names(case, ["metoprolol", "diltiazem"])[0]
    name = cap(term(rng, code))
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
    s.pmh.append(term(rng, "I25.10"))
    s.ros_exclude.add("chest pain")
    meds = med_names(case, ["aspirin", "clopidogrel", "atorvastatin", "rosuvastatin", "metoprolol"])
    text = f"{cap(term(rng, 'I25.10'))}: no angina. Continue {join(meds)}."
    if "93000" in case.procedures and case.principal != "af":
        text += " 12-lead ECG performed in clinic: sinus rhythm, no ischemic changes."
    elif case.setting == "clinic" and rng.random() < 0.3:
        text += rng.choice([" Last ECG (2023) unchanged.", " Stress test last year without ischemia."])
        s.trap_count += 1
    s.ap.append(text)


def _r_simple(concept):
    """A/P line for chronic problems with a standard status + plan structure."""

    def render(rng, case, s):
        code = case.problems[concept]
        s.pmh.append(term(rng, code) if concept not in GENERIC_PMH else term(rng, GENERIC_PMH[concept]))
        status, plan = _SIMPLE_AP[concept](rng, case, s)
        s.ap.append(f"{cap(term(rng, code))}: {status}. {plan}")

    return render


def _ap_hld(rng, case, s):
    ldl = rng.randint(62, 165)
    s.labs.append(f"LDL {ldl} mg/dL")
    statin = med_or(case, ["atorvastatin", "rosuvastatin", "simvastatin", "pravastatin"], "")
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
    ppi = med_or(case, ["omeprazole", "pantoprazole", "famotidine"], "omeprazole")
    return f"symptoms controlled on {ppi}", rng.choice(["Avoid late meals.", "Try step-down in 3 months."])


def _ap_depression(rng, case, s):
    code = case.problems["depression"]
    phq = rng.randint(10, 14) if code == "F33.1" else rng.randint(4, 15)
    drug = med_or(case, ["sertraline", "escitalopram", "fluoxetine", "bupropion"], "")
    plan = f"Continue {drug}; denies SI." if drug else "Prefers therapy over medication; counseling referral."
    return f"PHQ-9 {phq}", plan


def _ap_anxiety(rng, case, s):
    gad = rng.randint(5, 15)
    drug = med_or(case, ["buspirone", "escitalopram"], "")
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
    drug = med_or(case, ["tamsulosin", "finasteride"], "tamsulosin")
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
    drug = med_or(case, ["sumatriptan", "topiramate"], "")
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


# concept -> renderer, for every chronic concept a case can hold
CHRONIC_RENDERERS = {
    "htn": _r_htn,
    "dm": _r_dm,
    "ckd": _r_ckd,
    "hf": _r_hf,
    "copd": _r_copd,
    "asthma": _r_asthma,
    "af": _r_af,
    "cad": _r_cad,
    **{k: _r_simple(k) for k in _SIMPLE_AP},
}
