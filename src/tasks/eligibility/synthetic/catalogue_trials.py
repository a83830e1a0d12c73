"""The trials of the synthetic eligibility pairs, and the mix of pairs drawn from them.

`TRIALS`: twelve trials as a registry page lists them (title, inclusion and exclusion criteria),
built from the criteria of trial_criteria.py and history_criteria.py. `SCENARIOS`: the share of
each kind of pair (see synthetic.py); `DECOY_RATE`: the chance that a criterion no scenario
planted gets a decoy mention.
"""

from __future__ import annotations

from src.tasks.eligibility.synthetic.history_criteria import (
    ConditionCriterion,
    PriorTherapy,
    StableMedication,
    Washout,
)
from src.tasks.eligibility.synthetic.trial_criteria import AgeRange, Pregnancy, SexCriterion, Threshold, Trial

# criteria several trials share
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

# the kinds of pair and their shares: the docstring of synthetic.py describes each
SCENARIOS = (
    ("eligible", 0.17),
    ("near_eligible", 0.13),  # the deciding fact at an edge, still eligible
    ("near_excluded", 0.12),  # one fact just past an edge, nothing else wrong
    ("one_violation", 0.35),
    ("two_violations", 0.13),
    ("missing_data", 0.10),  # a required measurement absent: unknown, so not eligible
)
DECOY_RATE = 0.15
