"""Synthetic operative notes -> a summary naming the operation, the diagnosis and how it went.

A case is an operation (with its side where it has one), the pre- and postoperative diagnoses
(the postoperative one may be revised by the findings), anaesthesia, blood loss, specimens,
drains and disposition. The note has the usual headed fields and a templated description; the
summary gives the operation, the postoperative diagnosis, the key finding and the outcome.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from src.tasks.summarization.synthetic.note_parts import Facts, Note, age_sex, cap, either


@dataclass
class Operation:
    procedure: str
    procedure_facts: list[tuple[str, str]]
    pre: str
    post: str
    diagnosis_facts: list[tuple[str, str]]  # of the postoperative diagnosis (and the side)
    indication: str
    findings: str
    steps: str
    specimen: str
    blood_loss: tuple[int, int]
    drain: str | None
    anesthesia: tuple[str, ...] = ("general endotracheal",)
    finding_facts: tuple[tuple[str, str], ...] = ()  # of `findings`, when the summary quotes them
    specimen_facts: tuple[tuple[str, str], ...] = ()


def _appendectomy(rng: random.Random, side: str) -> Operation:
    perforated = rng.random() < 0.3
    post = "perforated appendicitis" if perforated else "acute appendicitis"
    return Operation(
        "laparoscopic appendectomy",
        [("procedure", "appendectomy")],
        "acute appendicitis",
        post,
        [("diagnosis", "perforated appendicitis" if perforated else "appendicitis")],
        f"{rng.randint(1, 3)} days of right lower quadrant pain with CT findings of appendicitis",
        "a perforated appendix with purulent fluid in the pelvis"
        if perforated
        else "an inflamed, nonperforated appendix",
        "The mesoappendix was divided with a vessel-sealing device and the appendix was divided at "
        "its base with "
        "an endoscopic stapler and removed in a retrieval bag.",
        "appendix",
        (5, 50),
        "a 19 French Blake drain in the pelvis" if perforated else None,
    )


def _cholecystectomy(rng: random.Random, side: str) -> Operation:
    post = rng.choice(("chronic cholecystitis", "acute cholecystitis", "gangrenous cholecystitis"))
    return Operation(
        "laparoscopic cholecystectomy",
        [("procedure", "cholecystectomy")],
        either(rng, "symptomatic cholelithiasis", "acute cholecystitis"),
        post,
        [("diagnosis", "gangrenous cholecystitis" if post.startswith("gangrenous") else "cholecystitis")],
        "recurrent biliary colic with gallstones on ultrasound",
        f"a {'distended, necrotic' if post.startswith('gangrenous') else 'thick-walled'} gallbladder "
        "with stones",
        "The critical view of safety was obtained. The cystic duct and cystic artery were clipped and "
        "divided, and "
        "the gallbladder was dissected from the liver bed with electrocautery.",
        "gallbladder",
        (5, 75),
        None,
    )


def _inguinal_hernia(rng: random.Random, side: str) -> Operation:
    kind = either(rng, "indirect", "direct")
    specimen = either(rng, "none", "hernia sac")
    return Operation(
        either(
            rng,
            f"open {side} inguinal hernia repair with mesh",
            f"laparoscopic {side} inguinal hernia repair with mesh",
        ),
        [("laterality", f"{side} inguinal"), ("procedure", "hernia repair")],
        f"{side} inguinal hernia",
        f"{side} {kind} inguinal hernia",
        [("diagnosis", "inguinal hernia")],
        f"a symptomatic, reducible {side} groin bulge",
        f"a {kind} hernia sac, reduced without bowel compromise",
        "The hernia sac was dissected free and reduced, and a polypropylene mesh was secured over the floor.",
        specimen,
        (5, 30),
        None,
        (
            "general endotracheal",
            "general with laryngeal mask airway",
            "monitored anesthesia care with local",
        ),
        (("diagnosis", "hernia"), ("negation", "no bowel compromise")),
        (("diagnosis", "hernia"),) if specimen == "hernia sac" else (),
    )


def _knee_arthroplasty(rng: random.Random, side: str) -> Operation:
    return Operation(
        f"{side} total knee arthroplasty",
        [("laterality", f"{side} knee"), ("procedure", "arthroplasty")],
        f"primary osteoarthritis of the {side} knee",
        f"primary osteoarthritis of the {side} knee",
        [("diagnosis", "osteoarthritis")],
        "end-stage knee pain despite injections and physical therapy",
        "tricompartmental degenerative changes with full-thickness cartilage loss",
        f"A tourniquet was inflated for {rng.randint(45, 95)} minutes. Bone cuts were made with "
        "standard guides and "
        "cemented components were implanted.",
        "none",
        (100, 400),
        either(rng, "none", "a medium Hemovac drain"),
        ("spinal with an adductor canal block", "general endotracheal"),
    )


def _hip_arthroplasty(rng: random.Random, side: str) -> Operation:
    return Operation(
        f"{side} total hip arthroplasty",
        [("laterality", f"{side} hip"), ("procedure", "arthroplasty")],
        f"osteoarthritis of the {side} hip",
        f"osteoarthritis of the {side} hip",
        [("diagnosis", "osteoarthritis")],
        "progressive hip pain limiting walking",
        "severe loss of joint space with femoral head osteophytes",
        "Through a posterior approach the femoral head was resected, the acetabulum reamed and press-fit "
        "components were implanted.",
        "femoral head",
        (200, 600),
        None,
        ("spinal", "general endotracheal"),
    )


def _ankle_orif(rng: random.Random, side: str) -> Operation:
    kind = either(rng, "bimalleolar", "trimalleolar")
    return Operation(
        f"open reduction and internal fixation of the {side} ankle",
        [("procedure", "reduction"), ("procedure", "internal fixation"), ("laterality", f"{side} ankle")],
        f"{side} {kind} ankle fracture",
        f"{side} {kind} ankle fracture",
        [("diagnosis", "ankle fracture"), ("laterality", f"{side} {kind} ankle")],
        "a displaced fracture after a fall",
        "a displaced fracture of the lateral malleolus with medial malleolar involvement",
        "The fibula was reduced and fixed with a lateral plate and screws; the medial malleolus was "
        "fixed with two "
        "cannulated screws.",
        "none",
        (10, 100),
        None,
    )


def _carpal_tunnel(rng: random.Random, side: str) -> Operation:
    return Operation(
        f"{side} carpal tunnel release",
        [("laterality", f"{side} carpal tunnel"), ("procedure", "tunnel release")],
        f"{side} carpal tunnel syndrome",
        f"{side} carpal tunnel syndrome",
        [("diagnosis", "carpal tunnel syndrome")],
        "numbness of the radial three digits with abnormal nerve conduction studies",
        "a thickened transverse carpal ligament compressing the median nerve",
        "The transverse carpal ligament was divided under direct vision.",
        "none",
        (1, 10),
        None,
        ("monitored anesthesia care with local", "regional block"),
    )


def _colectomy(rng: random.Random, side: str) -> Operation:
    right = rng.random() < 0.5
    return Operation(
        "laparoscopic right hemicolectomy" if right else "laparoscopic sigmoid colectomy",
        [("laterality", "right hemicolectomy"), ("procedure", "hemicolectomy")]
        if right
        else [("procedure", "colectomy")],
        "colon cancer" if right else "recurrent sigmoid diverticulitis",
        "colon cancer" if right else "recurrent sigmoid diverticulitis",
        [("diagnosis", "colon cancer" if right else "diverticulitis")],
        "a biopsy-proven cecal adenocarcinoma" if right else "three episodes of diverticulitis in one year",
        "a mass in the cecum without peritoneal disease"
        if right
        else "a thickened sigmoid colon with adhesions",
        "The mesentery was divided with an energy device and a stapled anastomosis was created.",
        "right colon" if right else "sigmoid colon",
        (50, 250),
        None,
        specimen_facts=(("laterality", "right colon"),) if right else (),
    )


def _thyroidectomy(rng: random.Random, side: str) -> Operation:
    return Operation(
        "total thyroidectomy",
        [("procedure", "thyroidectomy")],
        "multinodular goiter",
        "multinodular goiter",
        [("diagnosis", "goiter")],
        "compressive symptoms from an enlarging goiter",
        "an enlarged multinodular gland; both recurrent laryngeal nerves were identified and preserved",
        "Both lobes were mobilised, the superior and inferior poles ligated and the parathyroid "
        "glands preserved.",
        "thyroid gland",
        (10, 80),
        None,
    )


def _lumpectomy(rng: random.Random, side: str) -> Operation:
    return Operation(
        f"{side} breast lumpectomy with sentinel lymph node biopsy",
        [("laterality", f"{side} breast"), ("procedure", "lumpectomy"), ("procedure", "node biopsy")],
        f"{side} breast cancer",
        f"{side} breast cancer",
        [("diagnosis", "breast cancer")],
        "a biopsy-proven invasive ductal carcinoma",
        f"{rng.randint(1, 3)} sentinel lymph nodes, grossly unremarkable",
        "The wire-localised lesion was excised with a rim of normal tissue and sentinel nodes were "
        "identified "
        "with blue dye and the gamma probe.",
        "lumpectomy specimen and sentinel lymph nodes",
        (5, 50),
        None,
    )


OPERATIONS = (
    _appendectomy,
    _cholecystectomy,
    _inguinal_hernia,
    _knee_arthroplasty,
    _hip_arthroplasty,
    _ankle_orif,
    _carpal_tunnel,
    _colectomy,
    _thyroidectomy,
    _lumpectomy,
)
SURGEONS = ("Patel", "Nguyen", "Garcia", "Kim", "Okafor", "Schmidt", "Rossi", "Cohen", "Singh", "Walker")
DISPOSITIONS = (
    "to the PACU in stable condition",
    "to the recovery room in stable condition",
    "to the PACU extubated and stable",
)


def build_operative_note(rng: random.Random) -> Note:
    side = rng.choice(("right", "left"))
    op = rng.choice(OPERATIONS)(rng, side)
    age, _, sex = age_sex(rng)
    anesthesia = rng.choice(op.anesthesia)
    blood_loss = rng.randrange(op.blood_loss[0], op.blood_loss[1] + 1, 5 if op.blood_loss[0] % 5 == 0 else 1)
    disposition = rng.choice(DISPOSITIONS)
    surgeon, assistant = rng.sample(SURGEONS, 2)
    drain = op.drain if op.drain and op.drain != "none" else None
    drain_sentence = f"{cap(drain)} was placed." if drain else "No drains were placed."
    lines = [
        f"{either(rng, 'PREOPERATIVE DIAGNOSIS', 'PRE-OP DIAGNOSIS')}: {cap(op.pre)}.",
        f"{either(rng, 'POSTOPERATIVE DIAGNOSIS', 'POST-OP DIAGNOSIS')}: {cap(op.post)}.",
        f"{either(rng, 'PROCEDURE', 'PROCEDURE PERFORMED', 'OPERATION')}: {cap(op.procedure)}.",
        f"SURGEON: Dr. {surgeon}.",
        f"ASSISTANT: {either(rng, f'Dr. {assistant}', 'None')}.",
        f"ANESTHESIA: {cap(anesthesia)}.",
        f"INDICATIONS: The patient is a {age}-year-old {sex} with {op.indication}. Risks, benefits and "
        "alternatives were discussed and informed consent was obtained.",
        f"FINDINGS: {cap(op.findings)}.",
        "DESCRIPTION OF PROCEDURE: The patient was brought to the operating room and placed supine. After "
        f"induction of {anesthesia} anesthesia, the operative site was prepped and draped in sterile "
        "fashion. "
        f"A time-out was performed. {op.steps} Hemostasis was confirmed. {drain_sentence} The wounds were "
        "closed and dressed. The patient tolerated the procedure well without complications.",
        f"ESTIMATED BLOOD LOSS: {blood_loss} mL.",
        f"SPECIMENS: {cap(op.specimen)}.",
        f"DRAINS: {cap(drain) if drain else 'None'}.",
        "COMPLICATIONS: None.",
        f"DISPOSITION: The patient was taken {disposition}.",
    ]

    facts = Facts()
    facts.extend(op.procedure_facts)
    who = f"{age}-year-old {sex} " if rng.random() < 0.5 else ""
    sentences = [
        either(
            rng,
            f"{cap(op.procedure)} under {anesthesia} anesthesia for {op.post}.",
            f"{cap(who)}underwent {op.procedure} for {op.post} under {anesthesia} anesthesia.",
        )
    ]
    facts.extend(op.diagnosis_facts)
    if op.pre != op.post and rng.random() < 0.7:
        sentences.append(f"Findings: {op.findings}.")
        facts.extend(list(op.finding_facts))
    sentences.append(
        either(
            rng,
            f"EBL {blood_loss} mL; no complications.",
            f"Estimated blood loss {blood_loss} mL, without complications.",
        )
    )
    facts.add("measurement", f"{blood_loss} mL")
    facts.add("negation", "no complications")
    if drain and rng.random() < 0.6:
        sentences.append(f"{cap(drain)} left in place.")
    elif not drain and rng.random() < 0.4:
        sentences.append("No drains.")
        facts.add("negation", "no drains")
    if op.specimen != "none" and rng.random() < 0.4:
        sentences.append(f"Specimen: {op.specimen} to pathology.")
        facts.extend(list(op.specimen_facts))
    sentences.append(f"Transferred {disposition}.")
    return Note("\n".join(lines), " ".join(sentences), facts.items)
