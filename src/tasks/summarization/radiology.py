"""Synthetic radiology reports: EXAM, HISTORY, TECHNIQUE, COMPARISON, FINDINGS -> numbered IMPRESSION.

An exam has sections of normal statements (some of them pertinent negatives) and a pool of
abnormal findings. A case draws 0-3 findings; each writes a sentence into its section (where it
replaces the normal statements it contradicts) and an impression item with its facts. Pertinent
negatives still standing in FINDINGS may close the impression, as radiologists write them.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from src.tasks.summarization.note_parts import Facts, Note, age_sex, cap, date, either, num


@dataclass
class Finding:
    section: str
    sentence: str  # in FINDINGS
    impression: str  # the impression item
    facts: list[tuple[str, str]]
    contradicts: tuple[str, ...] = ()  # words of normal statements this finding makes false


@dataclass
class Normal:
    sentence: str
    facts: list[tuple[str, str]] = field(default_factory=list)  # set for pertinent negatives


@dataclass
class Exam:
    names: tuple[str, ...]
    techniques: tuple[str, ...]
    indications: tuple[str, ...]
    sections: dict[str, list[Normal]]
    findings: tuple[Callable[[random.Random, str | None], Finding], ...]


def _neg(sentence: str, *findings: str) -> Normal:
    return Normal(sentence, [("negation", f"no {finding}") for finding in findings])


def _uncap(text: str) -> str:
    return text[:1].lower() + text[1:]


def _side(rng: random.Random) -> str:
    return rng.choice(("right", "left"))


LOBES = {"right": ("upper lobe", "middle lobe", "lower lobe"), "left": ("upper lobe", "lower lobe")}


def _change(rng: random.Random, prior: str | None, size: float, unit: str) -> tuple[str, str, list]:
    """(finding clause, impression clause, facts) describing change since the prior study."""
    if prior is None or rng.random() < 0.3:
        return "", "", []
    roll = rng.random()
    if roll < 0.4:
        return f", unchanged from {prior}", ", unchanged", []
    before = size * rng.uniform(0.5, 0.8) if roll < 0.75 else size * rng.uniform(1.25, 1.6)
    before_text = num(before) if unit == "cm" else str(max(1, round(before)))
    if before_text == (num(size) if unit == "cm" else str(round(size))):
        return f", unchanged from {prior}", ", unchanged", []
    word = "increased" if roll < 0.75 else "decreased"
    return (
        f", previously {before_text} {unit} on {prior}",
        f", {word} from {before_text} {unit}",
        [("measurement", f"{before_text} {unit}")],
    )


# --- chest radiograph ---------------------------------------------------------------------


def _pneumonia(rng, prior):
    side = _side(rng)
    lobe = rng.choice(LOBES[side])
    opacity = either(rng, "Patchy airspace opacity", "Focal consolidation", "Airspace consolidation")
    return Finding(
        "Lungs",
        f"{opacity} in the {side} {lobe}, concerning for pneumonia.",
        either(
            rng,
            f"{cap(side)} {lobe} pneumonia.",
            f"{cap(side)} {lobe} consolidation compatible with pneumonia.",
        ),
        [("laterality", f"{side} {lobe}"), ("diagnosis", "pneumonia")],
        ("consolidation", "clear"),
    )


def _effusion(rng, prior):
    side, size = _side(rng), rng.choice(("Small", "Moderate", "Large"))
    new = " new" if prior and rng.random() < 0.5 else ""
    return Finding(
        "Pleura",
        f"{size}{new} {side} pleural effusion with adjacent atelectasis.",
        f"{size}{new} {side} pleural effusion.",
        [("laterality", f"{side} pleural effusion"), ("diagnosis", "pleural effusion")],
        ("effusion",),
    )


def _pneumothorax(rng, prior):
    side, size = _side(rng), rng.uniform(0.4, 3.5)
    return Finding(
        "Pleura",
        f"There is a {side} apical pneumothorax measuring {num(size)} cm from the apex.",
        either(
            rng,
            f"{cap(side)} apical pneumothorax measuring {num(size)} cm.",
            f"{num(size)} cm {side} apical pneumothorax. Recommend short-interval follow-up radiograph.",
        ),
        [
            ("laterality", f"{side} apical pneumothorax"),
            ("measurement", f"{num(size)} cm"),
            ("diagnosis", "pneumothorax"),
        ],
        ("pneumothorax",),
    )


def _edema(rng, prior):
    return Finding(
        "Lungs",
        "Diffuse interstitial opacities and vascular congestion, compatible with pulmonary edema.",
        either(rng, "Pulmonary edema.", "Mild pulmonary edema with vascular congestion."),
        [("diagnosis", "pulmonary edema")],
        ("clear",),
    )


def _cardiomegaly(rng, prior):
    return Finding(
        "Heart and mediastinum",
        "The cardiac silhouette is enlarged, consistent with cardiomegaly.",
        either(rng, "Cardiomegaly.", "Stable cardiomegaly." if prior else "Mild cardiomegaly."),
        [("diagnosis", "cardiomegaly")],
        ("heart",),
    )


def _nodule(rng, prior):
    side = _side(rng)
    lobe = rng.choice(LOBES[side])
    size = rng.randint(4, 18)
    change, impression_change, change_facts = _change(rng, prior, size, "mm")
    advice = either(
        rng, " Recommend follow-up chest CT in 3 months.", " Follow-up CT in 6-12 months is suggested.", ""
    )
    return Finding(
        "Lungs",
        f"A nodule measuring {size} mm in the {side} {lobe}{change}.",
        f"{size} mm {side} {lobe} pulmonary nodule{impression_change}.{advice}",
        [
            ("measurement", f"{size} mm"),
            ("laterality", f"{side} {lobe}"),
            ("diagnosis", "nodule"),
            *change_facts,
        ],
        ("nodule",),
    )


def _rib_fracture(rng, prior):
    side, rib = _side(rng), rng.choice(("fourth", "fifth", "sixth", "seventh", "eighth", "ninth"))
    return Finding(
        "Bones and soft tissues",
        f"Nondisplaced fracture of the {side} {rib} rib.",
        f"Acute nondisplaced {side} {rib} rib fracture.",
        [("laterality", f"{side} {rib} rib"), ("diagnosis", "fracture")],
        ("osseous",),
    )


CHEST_XRAY = Exam(
    names=("CHEST RADIOGRAPH, PA AND LATERAL", "XR CHEST 2 VIEWS", "PORTABLE AP CHEST RADIOGRAPH"),
    techniques=("Frontal and lateral views of the chest.", "Single portable frontal view of the chest."),
    indications=("shortness of breath", "cough and fever", "chest pain", "hypoxia", "follow-up of pneumonia"),
    sections={
        "Lungs": [Normal("The lungs are clear."), _neg("No focal consolidation.", "focal consolidation")],
        "Pleura": [_neg("No pleural effusion or pneumothorax.", "pleural effusion", "pneumothorax")],
        "Heart and mediastinum": [
            Normal("The heart size is normal. The mediastinal contours are unremarkable.")
        ],
        "Bones and soft tissues": [_neg("No acute osseous abnormality.", "acute osseous abnormality")],
    },
    findings=(_pneumonia, _effusion, _pneumothorax, _edema, _cardiomegaly, _nodule, _rib_fracture),
)

# --- CT head --------------------------------------------------------------------------------


def _subdural(rng, prior):
    side, thickness, shift = _side(rng), rng.randint(3, 16), rng.randint(0, 9)
    shift_text = (
        f" with {shift} mm of leftward midline shift"
        if side == "right"
        else f" with {shift} mm of rightward midline shift"
    )
    facts = [
        ("laterality", f"{side} subdural hematoma"),
        ("diagnosis", "subdural hematoma"),
        ("measurement", f"{thickness} mm"),
    ]
    if shift:
        facts.append(("measurement", f"{shift} mm"))
    else:
        shift_text = " without midline shift"
        facts.append(("negation", "no midline shift"))
    return Finding(
        "Extra-axial spaces",
        f"Acute {side} subdural hematoma measuring {thickness} mm in maximal thickness{shift_text}.",
        f"Acute {side} subdural hematoma, {thickness} mm thick,{shift_text}. Neurosurgical "
        "consultation recommended.",
        facts,
        ("hemorrhage", "extra-axial", "shift"),
    )


def _infarct(rng, prior):
    side, lobe = _side(rng), rng.choice(("frontal lobe", "parietal lobe", "temporal lobe", "occipital lobe"))
    age = either(rng, "Acute", "Subacute", "Chronic")
    return Finding(
        "Brain",
        f"{age} infarct in the {side} {lobe} with loss of gray-white differentiation.",
        f"{age} {side} {lobe} infarct.",
        [("laterality", f"{side} {lobe}"), ("diagnosis", "infarct")],
        ("gray-white",),
    )


def _small_vessel(rng, prior):
    return Finding(
        "Brain",
        "Patchy periventricular white matter hypodensities, likely chronic small vessel ischemic disease.",
        either(rng, "Chronic small vessel ischemic disease.", "Mild chronic small vessel ischemic disease."),
        [("diagnosis", "small vessel ischemic disease")],
    )


CT_HEAD = Exam(
    names=("CT HEAD WITHOUT CONTRAST", "CT BRAIN WITHOUT IV CONTRAST", "NONCONTRAST CT HEAD"),
    techniques=("Axial CT images of the head were obtained without intravenous contrast.",),
    indications=(
        "fall with head strike",
        "altered mental status",
        "headache",
        "left-sided weakness",
        "dizziness",
    ),
    sections={
        "Brain": [
            Normal("Gray-white differentiation is preserved."),
            _neg("No acute intracranial hemorrhage.", "acute intracranial hemorrhage"),
        ],
        "Extra-axial spaces": [
            _neg("No extra-axial fluid collection.", "extra-axial fluid collection"),
            _neg("No mass effect or midline shift.", "mass effect", "midline shift"),
        ],
        "Ventricles": [_neg("No hydrocephalus.", "hydrocephalus")],
        "Calvarium": [_neg("No acute calvarial fracture.", "acute calvarial fracture")],
    },
    findings=(_subdural, _infarct, _small_vessel),
)

# --- CT chest -------------------------------------------------------------------------------


def _embolism(rng, prior):
    side = _side(rng)
    lobe = rng.choice(LOBES[side])
    level = either(rng, "segmental", "subsegmental", "lobar")
    return Finding(
        "Pulmonary arteries",
        f"Filling defects in the {side} {lobe} {level} pulmonary arteries, consistent with pulmonary "
        "embolism. "
        "No right heart strain.",
        f"Acute {side} {lobe} {level} pulmonary embolism. No right heart strain.",
        [
            ("laterality", f"{side} {lobe}"),
            ("diagnosis", "pulmonary embolism"),
            ("negation", "no right heart strain"),
        ],
        ("embolism",),
    )


def _lymph_nodes(rng, prior):
    size = rng.uniform(1.1, 3.2)
    station = either(rng, "subcarinal", "right paratracheal", "prevascular", "left hilar")
    return Finding(
        "Mediastinum",
        f"Mediastinal lymphadenopathy; the largest, a {station} lymph node, measures {num(size)} cm in "
        "short axis.",
        f"Mediastinal lymphadenopathy, largest {station} node {num(size)} cm.",
        [("diagnosis", "lymphadenopathy"), ("measurement", f"{num(size)} cm")],
        ("lymphadenopathy",),
    )


def _emphysema(rng, prior):
    return Finding(
        "Lungs",
        "Centrilobular emphysema, upper lobe predominant.",
        "Centrilobular emphysema.",
        [("diagnosis", "emphysema")],
    )


CT_CHEST = Exam(
    names=("CT ANGIOGRAPHY CHEST (PE PROTOCOL)", "CT CHEST WITH IV CONTRAST", "CTA CHEST"),
    techniques=(
        "Axial images of the chest were obtained after intravenous contrast; multiplanar reformats "
        "were reviewed.",
        "Thin-section axial CT of the chest following administration of 75 mL of iodinated contrast.",
    ),
    indications=("pleuritic chest pain", "tachycardia and hypoxia", "elevated D-dimer", "hemoptysis"),
    sections={
        "Pulmonary arteries": [_neg("No pulmonary embolism.", "pulmonary embolism")],
        "Mediastinum": [_neg("No mediastinal lymphadenopathy.", "mediastinal lymphadenopathy")],
        "Lungs": [
            Normal("The central airways are patent."),
            _neg("No focal consolidation.", "focal consolidation"),
        ],
        "Pleura": [_neg("No pleural effusion or pneumothorax.", "pleural effusion", "pneumothorax")],
    },
    findings=(_embolism, _nodule, _effusion, _lymph_nodes, _emphysema),
)

# --- CT abdomen and pelvis ------------------------------------------------------------------


def _appendicitis(rng, prior):
    size = rng.randint(8, 16)
    extra = either(rng, "", " with an appendicolith", " without perforation")
    extra_facts = [("negation", "no perforation")] if extra == " without perforation" else []
    return Finding(
        "Bowel",
        f"The appendix is dilated to {size} mm with periappendiceal fat stranding{extra}, consistent with "
        "acute appendicitis.",
        f"Acute appendicitis; the appendix measures {size} mm{extra}.",
        [("diagnosis", "appendicitis"), ("measurement", f"{size} mm"), *extra_facts],
        ("appendix",),
    )


def _diverticulitis(rng, prior):
    if rng.random() < 0.5:
        return Finding(
            "Bowel",
            "Sigmoid diverticula with wall thickening and pericolic fat stranding, in keeping with "
            "diverticulitis.",
            "Acute uncomplicated sigmoid diverticulitis.",
            [("diagnosis", "diverticulitis")],
        )
    return Finding(
        "Bowel",
        "Sigmoid diverticulitis with pericolic fat stranding. No abscess.",
        "Sigmoid diverticulitis without abscess.",
        [("diagnosis", "diverticulitis"), ("negation", "no abscess")],
    )


def _ureteral_stone(rng, prior):
    side, size = _side(rng), rng.randint(2, 9)
    grade = either(rng, "mild", "moderate")
    return Finding(
        "Kidneys and ureters",
        f"A {size} mm obstructing {side} ureteral stone at the ureterovesical junction with {grade} "
        f"{side} hydronephrosis.",
        f"Obstructing {size} mm {side} ureteral stone with {grade} hydronephrosis.",
        [
            ("measurement", f"{size} mm"),
            ("laterality", f"{side} ureteral stone"),
            ("diagnosis", "ureteral stone"),
            ("diagnosis", "hydronephrosis"),
        ],
        ("hydronephrosis", "stone"),
    )


def _liver_cyst(rng, prior):
    size = rng.uniform(0.6, 4.5)
    change, impression_change, change_facts = _change(rng, prior, size, "cm")
    return Finding(
        "Liver",
        f"A simple cyst measuring {num(size)} cm in the right hepatic lobe{change}.",
        f"{num(size)} cm hepatic cyst{impression_change}, likely benign.",
        [("measurement", f"{num(size)} cm"), ("diagnosis", "cyst"), *change_facts],
        ("liver is",),
    )


def _sbo(rng, prior):
    size = rng.uniform(3.0, 5.5)
    return Finding(
        "Bowel",
        f"Dilated small bowel loops up to {num(size)} cm with a transition point in the right lower "
        "quadrant, "
        "in keeping with small bowel obstruction.",
        "Small bowel obstruction with transition point in the right lower quadrant; loops up to "
        f"{num(size)} cm.",
        [("diagnosis", "small bowel obstruction"), ("measurement", f"{num(size)} cm")],
        ("obstruction",),
    )


CT_ABDOMEN = Exam(
    names=(
        "CT ABDOMEN AND PELVIS WITH IV CONTRAST",
        "CT ABDOMEN/PELVIS WITH CONTRAST",
        "CT A/P WITHOUT CONTRAST",
    ),
    techniques=(
        "Axial images from the lung bases through the pubic symphysis after 100 mL of intravenous contrast.",
        "Helical CT of the abdomen and pelvis; coronal and sagittal reformats were reviewed.",
    ),
    indications=(
        "right lower quadrant pain",
        "left flank pain and hematuria",
        "abdominal pain and vomiting",
        "fever",
    ),
    sections={
        "Liver": [Normal("The liver is normal in size and attenuation.")],
        "Kidneys and ureters": [_neg("No hydronephrosis.", "hydronephrosis")],
        "Bowel": [
            _neg("No bowel obstruction.", "bowel obstruction"),
            Normal("The appendix is normal."),
        ],
        "Peritoneum": [
            _neg("No free air or free fluid.", "free air", "free fluid"),
            _neg("No abscess.", "abscess"),
        ],
    },
    findings=(_appendicitis, _diverticulitis, _ureteral_stone, _liver_cyst, _sbo),
)

# --- MRI knee -------------------------------------------------------------------------------


def _meniscal_tear(rng, prior):
    side = prior or "right"  # the knee is the exam's side (passed in place of a prior)
    part = either(rng, "medial", "lateral")
    pattern = either(rng, "Oblique", "Complex", "Horizontal")
    return Finding(
        "Menisci",
        f"{pattern} tear of the posterior horn of the {part} meniscus extending to the inferior "
        "articular surface.",
        f"{pattern} tear of the posterior horn of the {part} meniscus of the {side} knee.",
        [("laterality", f"{side} knee"), ("diagnosis", "tear")],
        ("menisci",),
    )


def _acl_tear(rng, prior):
    side = prior or "right"
    grade = either(rng, "Complete", "High-grade partial")
    return Finding(
        "Ligaments",
        f"{grade} anterior cruciate ligament tear with fiber discontinuity.",
        f"{grade} anterior cruciate ligament tear, {side} knee.",
        [("diagnosis", "anterior cruciate ligament tear"), ("laterality", f"{side} knee")],
        ("cruciate",),
    )


def _joint_effusion(rng, prior):
    return Finding(
        "Joint",
        either(rng, "Moderate joint effusion.", "Small joint effusion."),
        "Joint effusion.",
        [("diagnosis", "joint effusion")],
        ("effusion",),
    )


MRI_KNEE = Exam(
    names=("MRI {SIDE} KNEE WITHOUT CONTRAST", "MR {SIDE} KNEE"),
    techniques=("Multiplanar multisequence MR images of the knee without contrast.",),
    indications=("knee pain after twisting injury", "locking and instability", "pain and swelling"),
    sections={
        "Menisci": [Normal("The medial and lateral menisci are intact.")],
        "Ligaments": [Normal("The anterior and posterior cruciate ligaments are intact.")],
        "Joint": [_neg("No joint effusion.", "joint effusion")],
        "Bones": [_neg("No fracture or bone contusion.", "fracture", "bone contusion")],
    },
    findings=(_meniscal_tear, _acl_tear, _joint_effusion),
)

# --- ultrasound -----------------------------------------------------------------------------


def _gallstones(rng, prior):
    wall = rng.uniform(2.0, 7.5)
    cholecystitis = wall > 4 and rng.random() < 0.7
    sentence = (
        f"Cholelithiasis with multiple shadowing gallstones. The gallbladder wall measures {num(wall)} mm"
    )
    if cholecystitis:
        return Finding(
            "Gallbladder",
            sentence
            + " with pericholecystic fluid and a positive sonographic Murphy sign, suggesting cholecystitis.",
            f"Cholelithiasis with gallbladder wall thickening to {num(wall)} mm, consistent with acute "
            "cholecystitis.",
            [
                ("diagnosis", "cholelithiasis"),
                ("measurement", f"{num(wall)} mm"),
                ("diagnosis", "cholecystitis"),
            ],
            ("gallbladder",),
        )
    return Finding(
        "Gallbladder",
        sentence + ". Negative sonographic Murphy sign. No pericholecystic fluid.",
        "Cholelithiasis. No pericholecystic fluid.",
        [("diagnosis", "cholelithiasis"), ("negation", "no pericholecystic fluid")],
        ("gallbladder",),
    )


def _dvt(rng, prior):
    side, vein = _side(rng), either(rng, "femoral vein", "popliteal vein")
    return Finding(
        "Veins",
        f"Noncompressible {side} {vein} with echogenic intraluminal thrombus, consistent with deep "
        "vein thrombosis.",
        f"Acute deep vein thrombosis of the {side} {vein}.",
        [("diagnosis", "deep vein thrombosis"), ("laterality", f"{side} {vein}")],
        ("compressible",),
    )


def _renal_cyst(rng, prior):
    side, size = _side(rng), rng.uniform(0.8, 5.0)
    return Finding(
        "Kidneys",
        f"Simple {side} renal cyst measuring {num(size)} cm.",
        f"{num(size)} cm simple {side} renal cyst.",
        [("measurement", f"{num(size)} cm"), ("laterality", f"{side} renal cyst"), ("diagnosis", "cyst")],
        ("kidneys are",),
    )


US_ABDOMEN = Exam(
    names=("ULTRASOUND ABDOMEN, RIGHT UPPER QUADRANT", "US RUQ", "RENAL AND RUQ ULTRASOUND"),
    techniques=("Grayscale and color Doppler images of the right upper quadrant.",),
    indications=("right upper quadrant pain", "elevated liver enzymes", "nausea after meals"),
    sections={
        "Gallbladder": [Normal("The gallbladder is normal without stones or wall thickening.")],
        "Bile ducts": [_neg("No biliary dilatation.", "biliary dilatation")],
        "Kidneys": [Normal("The kidneys are normal in size."), _neg("No hydronephrosis.", "hydronephrosis")],
        "Peritoneum": [_neg("No ascites.", "ascites")],
    },
    findings=(_gallstones, _renal_cyst),
)

US_VENOUS = Exam(
    names=("US LOWER EXTREMITY VENOUS DOPPLER", "BILATERAL LOWER EXTREMITY VENOUS DUPLEX"),
    techniques=("Grayscale compression, color and spectral Doppler of the deep veins of both legs.",),
    indications=("leg swelling", "calf pain", "shortness of breath, evaluate for DVT"),
    sections={
        "Veins": [Normal("The deep veins are compressible with normal color flow and augmentation.")],
        "Soft tissues": [_neg("No Baker cyst.", "baker cyst")],
    },
    findings=(_dvt,),
)

EXAMS = (CHEST_XRAY, CHEST_XRAY, CT_HEAD, CT_CHEST, CT_ABDOMEN, MRI_KNEE, US_ABDOMEN, US_VENOUS)


def build_radiology_report(rng: random.Random) -> Note:
    exam = rng.choice(EXAMS)
    knee_side = _side(rng)
    prior = date(rng, 2023) if rng.random() < 0.5 else None
    pool = list(exam.findings)
    rng.shuffle(pool)
    n_findings = rng.choice((0, 1, 1, 1, 2, 2, 2, 2, 3, 3))
    findings = [make(rng, knee_side if exam is MRI_KNEE else prior) for make in pool[:n_findings]]
    # One finding per section: two findings claiming the same section would contradict its text.
    findings = list({f.section: f for f in findings}.values())

    age, _, sex = age_sex(rng)
    name = rng.choice(exam.names).replace("{SIDE}", knee_side.upper())
    lines = [
        f"{either(rng, 'EXAM', 'EXAMINATION', 'STUDY')}: {name}",
        f"{either(rng, 'CLINICAL HISTORY', 'INDICATION', 'HISTORY', 'REASON FOR EXAM')}: "
        f"{age}-year-old {sex} with {rng.choice(exam.indications)}.",
        f"TECHNIQUE: {rng.choice(exam.techniques)}",
        f"COMPARISON: {f'Prior study dated {prior}.' if prior else either(rng, 'None.', 'None available.')}",
        "",
        "FINDINGS:",
    ]
    negatives: list[Normal] = []
    labelled = rng.random() < 0.7
    body = []
    for section, normals in exam.sections.items():
        sentences = [f.sentence for f in findings if f.section == section]
        contradicted = {word for f in findings if f.section == section for word in f.contradicts}
        for normal in normals:
            if any(word in normal.sentence.lower() for word in contradicted):
                continue
            if normal.facts and sentences and rng.random() < 0.1:
                continue  # radiologists do not list every pertinent negative (but fill every section)
            sentences.append(normal.sentence)
            if normal.facts:
                negatives.append(normal)
        body.append(f"{section}: {' '.join(sentences)}" if labelled else " ".join(sentences))
    lines += body if labelled else [" ".join(body)]

    facts = Facts()
    items = []
    for finding in findings:
        items.append(finding.impression)
        facts.extend(finding.facts)
    rng.shuffle(negatives)
    for negative in negatives[: rng.choice((0, 1, 1, 2)) if findings else rng.choice((1, 2, 2, 3))]:
        # "No evidence of X" and "No X" state the same negative (the fact drops the filler)
        items.append(
            negative.sentence if rng.random() < 0.6 else "No evidence of " + _uncap(negative.sentence[3:])
        )
        facts.extend(negative.facts)
    summary = "\n".join(f"{i}. {item}" for i, item in enumerate(items, start=1))
    return Note("\n".join(lines), summary, facts.items)
