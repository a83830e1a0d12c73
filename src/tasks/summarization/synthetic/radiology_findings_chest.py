"""The chest findings of the synthetic radiology reports: chest radiograph and chest CT.

Samplers as in radiology_findings.py; the nodule and the effusion appear on both exams.
"""

from __future__ import annotations

import random

from src.tasks.summarization.synthetic.note_parts import cap, either, num
from src.tasks.summarization.synthetic.radiology_findings import Finding, change_since, pick_side

LOBES = {"right": ("upper lobe", "middle lobe", "lower lobe"), "left": ("upper lobe", "lower lobe")}


# --- chest radiograph ---------------------------------------------------------------------


def pneumonia(rng: random.Random, prior: str | None) -> Finding:
    side = pick_side(rng)
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


def effusion(rng: random.Random, prior: str | None) -> Finding:
    side, size = pick_side(rng), rng.choice(("Small", "Moderate", "Large"))
    new = " new" if prior and rng.random() < 0.5 else ""
    return Finding(
        "Pleura",
        f"{size}{new} {side} pleural effusion with adjacent atelectasis.",
        f"{size}{new} {side} pleural effusion.",
        [("laterality", f"{side} pleural effusion"), ("diagnosis", "pleural effusion")],
        ("effusion",),
    )


def pneumothorax(rng: random.Random, prior: str | None) -> Finding:
    side, size = pick_side(rng), rng.uniform(0.4, 3.5)
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


def edema(rng: random.Random, prior: str | None) -> Finding:
    return Finding(
        "Lungs",
        "Diffuse interstitial opacities and vascular congestion, compatible with pulmonary edema.",
        either(rng, "Pulmonary edema.", "Mild pulmonary edema with vascular congestion."),
        [("diagnosis", "pulmonary edema")],
        ("clear",),
    )


def cardiomegaly(rng: random.Random, prior: str | None) -> Finding:
    return Finding(
        "Heart and mediastinum",
        "The cardiac silhouette is enlarged, consistent with cardiomegaly.",
        either(rng, "Cardiomegaly.", "Stable cardiomegaly." if prior else "Mild cardiomegaly."),
        [("diagnosis", "cardiomegaly")],
        ("heart",),
    )


def nodule(rng: random.Random, prior: str | None) -> Finding:
    side = pick_side(rng)
    lobe = rng.choice(LOBES[side])
    size = rng.randint(4, 18)
    change, impression_change, change_facts = change_since(rng, prior, size, "mm")
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


def rib_fracture(rng: random.Random, prior: str | None) -> Finding:
    side, rib = pick_side(rng), rng.choice(("fourth", "fifth", "sixth", "seventh", "eighth", "ninth"))
    return Finding(
        "Bones and soft tissues",
        f"Nondisplaced fracture of the {side} {rib} rib.",
        f"Acute nondisplaced {side} {rib} rib fracture.",
        [("laterality", f"{side} {rib} rib"), ("diagnosis", "fracture")],
        ("osseous",),
    )


# --- CT chest -------------------------------------------------------------------------------


def embolism(rng: random.Random, prior: str | None) -> Finding:
    side = pick_side(rng)
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


def lymph_nodes(rng: random.Random, prior: str | None) -> Finding:
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


def emphysema(rng: random.Random, prior: str | None) -> Finding:
    return Finding(
        "Lungs",
        "Centrilobular emphysema, upper lobe predominant.",
        "Centrilobular emphysema.",
        [("diagnosis", "emphysema")],
    )
