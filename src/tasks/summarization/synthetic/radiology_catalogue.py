"""The exams of the synthetic radiology reports: names, techniques, indications, normal statements.

Each exam lists its FINDINGS sections with the normal statements a report writes when nothing is
wrong there (the pertinent negatives carry their "no ..." facts) and the finding samplers (from
radiology_findings.py and radiology_findings_chest.py) it draws. `EXAMS` is the draw: the chest
radiograph twice as often.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from src.tasks.summarization.synthetic.radiology_findings import (
    Finding,
    acl_tear,
    appendicitis,
    diverticulitis,
    dvt,
    gallstones,
    infarct,
    joint_effusion,
    liver_cyst,
    meniscal_tear,
    renal_cyst,
    sbo,
    small_vessel,
    subdural,
    ureteral_stone,
)
from src.tasks.summarization.synthetic.radiology_findings_chest import (
    cardiomegaly,
    edema,
    effusion,
    embolism,
    emphysema,
    lymph_nodes,
    nodule,
    pneumonia,
    pneumothorax,
    rib_fracture,
)


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
    """A pertinent negative: the sentence, with a "no X" fact for each finding it denies."""
    return Normal(sentence, [("negation", f"no {finding}") for finding in findings])


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
    findings=(pneumonia, effusion, pneumothorax, edema, cardiomegaly, nodule, rib_fracture),
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
    findings=(subdural, infarct, small_vessel),
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
    findings=(embolism, nodule, effusion, lymph_nodes, emphysema),
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
    findings=(appendicitis, diverticulitis, ureteral_stone, liver_cyst, sbo),
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
    findings=(meniscal_tear, acl_tear, joint_effusion),
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
    findings=(gallstones, renal_cyst),
)

US_VENOUS = Exam(
    names=("US LOWER EXTREMITY VENOUS DOPPLER", "BILATERAL LOWER EXTREMITY VENOUS DUPLEX"),
    techniques=("Grayscale compression, color and spectral Doppler of the deep veins of both legs.",),
    indications=("leg swelling", "calf pain", "shortness of breath, evaluate for DVT"),
    sections={
        "Veins": [Normal("The deep veins are compressible with normal color flow and augmentation.")],
        "Soft tissues": [_neg("No Baker cyst.", "baker cyst")],
    },
    findings=(dvt,),
)

EXAMS = (CHEST_XRAY, CHEST_XRAY, CT_HEAD, CT_CHEST, CT_ABDOMEN, MRI_KNEE, US_ABDOMEN, US_VENOUS)
