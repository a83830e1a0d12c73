"""The abnormal findings of the synthetic radiology reports outside the chest, one sampler each.

A sampler draws the finding's details (side, size, change since the prior study) and returns the
sentence it writes into its FINDINGS section, its impression item, its key facts, and the words of
the normal statements it makes false. `prior` is the prior study's date (None: no comparison); the
knee findings get the exam's side in its place. The chest findings (radiology_findings_chest.py)
share `Finding`, `pick_side` and `change_since`; which exam draws which findings is in
radiology_catalogue.py.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from src.tasks.summarization.synthetic.note_parts import either, num


@dataclass
class Finding:
    section: str
    sentence: str  # in FINDINGS
    impression: str  # the impression item
    facts: list[tuple[str, str]]
    contradicts: tuple[str, ...] = ()  # words of normal statements this finding makes false


def pick_side(rng: random.Random) -> str:
    return rng.choice(("right", "left"))


def change_since(rng: random.Random, prior: str | None, size: float, unit: str) -> tuple[str, str, list]:
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


# --- CT head --------------------------------------------------------------------------------


def subdural(rng: random.Random, prior: str | None) -> Finding:
    side, thickness, shift = pick_side(rng), rng.randint(3, 16), rng.randint(0, 9)
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


def infarct(rng: random.Random, prior: str | None) -> Finding:
    side = pick_side(rng)
    lobe = rng.choice(("frontal lobe", "parietal lobe", "temporal lobe", "occipital lobe"))
    age = either(rng, "Acute", "Subacute", "Chronic")
    return Finding(
        "Brain",
        f"{age} infarct in the {side} {lobe} with loss of gray-white differentiation.",
        f"{age} {side} {lobe} infarct.",
        [("laterality", f"{side} {lobe}"), ("diagnosis", "infarct")],
        ("gray-white",),
    )


def small_vessel(rng: random.Random, prior: str | None) -> Finding:
    return Finding(
        "Brain",
        "Patchy periventricular white matter hypodensities, likely chronic small vessel ischemic disease.",
        either(rng, "Chronic small vessel ischemic disease.", "Mild chronic small vessel ischemic disease."),
        [("diagnosis", "small vessel ischemic disease")],
    )


# --- CT abdomen and pelvis ------------------------------------------------------------------


def appendicitis(rng: random.Random, prior: str | None) -> Finding:
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


def diverticulitis(rng: random.Random, prior: str | None) -> Finding:
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


def ureteral_stone(rng: random.Random, prior: str | None) -> Finding:
    side, size = pick_side(rng), rng.randint(2, 9)
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


def liver_cyst(rng: random.Random, prior: str | None) -> Finding:
    size = rng.uniform(0.6, 4.5)
    change, impression_change, change_facts = change_since(rng, prior, size, "cm")
    return Finding(
        "Liver",
        f"A simple cyst measuring {num(size)} cm in the right hepatic lobe{change}.",
        f"{num(size)} cm hepatic cyst{impression_change}, likely benign.",
        [("measurement", f"{num(size)} cm"), ("diagnosis", "cyst"), *change_facts],
        ("liver is",),
    )


def sbo(rng: random.Random, prior: str | None) -> Finding:
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


# --- MRI knee -------------------------------------------------------------------------------


def meniscal_tear(rng: random.Random, prior: str | None) -> Finding:
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


def acl_tear(rng: random.Random, prior: str | None) -> Finding:
    side = prior or "right"
    grade = either(rng, "Complete", "High-grade partial")
    return Finding(
        "Ligaments",
        f"{grade} anterior cruciate ligament tear with fiber discontinuity.",
        f"{grade} anterior cruciate ligament tear, {side} knee.",
        [("diagnosis", "anterior cruciate ligament tear"), ("laterality", f"{side} knee")],
        ("cruciate",),
    )


def joint_effusion(rng: random.Random, prior: str | None) -> Finding:
    return Finding(
        "Joint",
        either(rng, "Moderate joint effusion.", "Small joint effusion."),
        "Joint effusion.",
        [("diagnosis", "joint effusion")],
        ("effusion",),
    )


# --- ultrasound -----------------------------------------------------------------------------


def gallstones(rng: random.Random, prior: str | None) -> Finding:
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


def dvt(rng: random.Random, prior: str | None) -> Finding:
    side, vein = pick_side(rng), either(rng, "femoral vein", "popliteal vein")
    return Finding(
        "Veins",
        f"Noncompressible {side} {vein} with echogenic intraluminal thrombus, consistent with deep "
        "vein thrombosis.",
        f"Acute deep vein thrombosis of the {side} {vein}.",
        [("diagnosis", "deep vein thrombosis"), ("laterality", f"{side} {vein}")],
        ("compressible",),
    )


def renal_cyst(rng: random.Random, prior: str | None) -> Finding:
    side, size = pick_side(rng), rng.uniform(0.8, 5.0)
    return Finding(
        "Kidneys",
        f"Simple {side} renal cyst measuring {num(size)} cm.",
        f"{num(size)} cm simple {side} renal cyst.",
        [("measurement", f"{num(size)} cm"), ("laterality", f"{side} renal cyst"), ("diagnosis", "cyst")],
        ("kidneys are",),
    )
