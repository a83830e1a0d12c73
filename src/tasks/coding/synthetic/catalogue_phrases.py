"""How the synthetic coding notes word things: the phrasings the note renderers pick from.

Interval-history sentences, work-up and rule-out wording, history and family-history lines, the
negated diagnoses and review-of-systems items (the notes' traps), exam defaults, openers, chief
complaints, filler sentences and A/P closings. None of them adds a codeable fact on its own. Orders
are part of the random draws: reordering changes the data.
"""

from __future__ import annotations

# The other leg: exam lines set the affected side against it.
SIDE_OTHER = {"right": "left", "left": "right"}

# Interval-history sentences for stable chronic problems (no new codeable facts).
HPI_CHRONIC = {
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

# the PMH list names these problems by their unspecified code's terms
GENERIC_PMH = {
    "hld": "E78.5",
    "depression": "F32.A",
    "anxiety": "F41.9",
    "migraine": "G43.909",
    "bph": "N40.0",
}

# Work-up symptom -> (HPI sentences, suspected condition -> the test that rules it out).
WORKUP_TEXT = {
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

# How the A/P words the condition a work-up rules out (never coded).
RULE_OUT = [
    "r/o {x}",
    "rule out {x}",
    "possible {x}",
    "concern for {x}",
    "cannot exclude {x}",
    "suspect {x}",
]

# Personal history lines for the PMH (each names the condition as resolved / past).
HISTORY_TEXT = {
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

# A relative's condition as the family history writes it.
FAMILY_TEXT = [
    "{Rel} with {cond} at {age}.",
    "{Rel}: {cond} (age {age}).",
    "{Rel} had {cond} at age {age}.",
    "Significant for {cond} in {pos} {rel}.",
]

# Negated family history: not codeable (code listed to avoid contradicting a positive line).
FAMILY_NEGATIONS = [
    ("Z80.0", "No family history of colon cancer."),
    ("Z80.3", "Negative for breast cancer in the family."),
    ("Z82.49", "No family history of premature CAD."),
    ("Z83.3", "No family history of diabetes."),
    ("Z82.3", "No family history of stroke."),
]

# Negated / ruled-out diagnoses placed in the A/P or data: (concept it contradicts, text)
NEGATED_DX = [
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

# Symptoms a review of systems denies, less those the note's problems make present.
ROS_POOL = [
    "fever", "chills", "chest pain", "shortness of breath", "SOB", "cough", "palpitations",
    "abdominal pain", "nausea", "dysuria", "leg swelling", "headache", "fatigue", "rash",
    "dizziness", "weight loss",
]  # fmt: skip

# Allergy lines; NKDA twice, the most common answer.
ALLERGIES = [
    "NKDA",
    "NKDA",
    "No known drug allergies",
    "penicillin (rash)",
    "sulfa (hives)",
    "codeine (nausea)",
]

# Normal findings per exam system where no problem wrote one, and the systems' order.
EXAM_DEFAULTS = {
    "Gen": ["NAD", "well-appearing, no acute distress", "alert, comfortable"],
    "CV": ["RRR, no murmurs", "regular rate and rhythm, no m/r/g"],
    "Lungs": ["CTAB", "clear to auscultation bilaterally"],
    "Abd": ["soft, non-tender", "soft, NT/ND"],
    "Ext": ["no edema", "warm, no lower extremity edema"],
}
EXAM_ORDER = ["Gen", "CV", "Lungs", "Abd", "Ext", "MSK", "Skin", "Neuro"]

# HPI openers: {pmh} the first past problems, {why} the reason for the visit or admission.
OPENERS_CLINIC = [
    "{age}-year-old {sexw} with {pmh} presents for {why}.",
    "{age} y/o {sexw} with PMH of {pmh}, seen today for {why}.",
    "Pt is a {age}-year-old {sexw} ({pmh}) here for {why}.",
    "{age}-year-old {sexw}, history of {pmh}, returns for {why}.",
]
OPENERS_INPT = [
    "{age}-year-old {sexw} with {pmh}, admitted {days} days ago for {why}.",
    "{age} y/o {sexw} with {pmh}, hospital day {hd}, admitted with {why}.",
    "HD#{hd}. {age}-year-old {sexw} with {pmh} admitted for {why}.",
]

# Chief complaints in the patient's words; symptoms of a confirmed diagnosis are not coded.
CC_PRINCIPAL = {
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

# The chief complaint of a work-up visit: its symptom.
CC_WORKUP = {"R05.9": "Cough", "R06.02": "Shortness of breath", "R07.9": "Chest pain", "R53.83": "Fatigue"}

# Headings of the A/P section.
AP_HEADERS = ["Assessment and Plan:", "A/P:", "Assessment & Plan:", "IMPRESSION/PLAN:", "ASSESSMENT/PLAN:"]

# Context-free sentences that make the notes read like real ones (no codeable content).
FILLER_CLINIC = [
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
FILLER_INPT = [
    "No acute events overnight.",
    "Tolerating diet, ambulating in the hallway with PT.",
    "Slept well; pain controlled.",
    "Afebrile overnight, vitals stable.",
    "Family updated at bedside.",
    "Reports feeling better than yesterday.",
    "Case management following for discharge planning.",
    "Nursing reports good oral intake.",
]

# Screening remarks a clinic A/P may add, by sex.
HEALTH_MAINTENANCE = {
    "F": ["Mammogram up to date.", "Colonoscopy 2021, next due 2031.", "Pap smear not indicated."],
    "M": ["Colonoscopy 2020, next due 2030.", "Discussed PSA screening; shared decision."],
}

# Normal findings some exams add after the systems.
EXAM_EXTRAS = [
    "HEENT: normocephalic, moist mucous membranes",
    "Neuro: alert and oriented x3, no focal deficits",
    "Psych: normal mood and affect",
    "Neck: supple, no JVD",
]

# Closings appended to some A/P items, by setting.
AP_CODA = {
    "clinic": ["Refills sent.", "Will reassess at next visit.", "Patient agrees with the plan.",
               "Education provided; questions answered.", "Reviewed side effects.",
               "Labs before next visit."],
    "inpatient": ["Monitor daily.", "Discussed with patient and nurse.", "Repeat labs in the morning.",
                  "Patient agrees with the plan."],
}  # fmt: skip
