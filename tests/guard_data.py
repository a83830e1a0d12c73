"""Small deterministic data for the quality guards (tests/test_quality_guard.py): short notes a
working fine-tune learns in a few epochs and each task's naive reference cannot read.

Coding: every note names one or two conditions the patient has and two more that are denied or
belong to a relative. The keyword matcher codes all of them, so its precision is low; the model
must learn what "denies" and "mother has" mean.

Eligibility: a trial asks for one condition and excludes another; the record names both, each as
present or denied. Token overlap finds every criterion's words in every record and the majority
class flags every pair, so neither saves work; the model must read each criterion's evidence line.

Radiology: the impression repeats the one abnormal finding, which sits among normal statements
after the exam line. Lead-k copies the exam line and the most frequent impression names another
finding; the model must learn to find the abnormal sentence and copy it.
"""

from __future__ import annotations

import random
from pathlib import Path

from conftest import write_jsonl

# code -> (how a note says the patient has it, the words a trap sentence names it by)
CONDITIONS = {
    "I10": ("Essential hypertension, on lisinopril.", "hypertension"),
    "E11.9": ("Type 2 diabetes, on metformin.", "type 2 diabetes"),
    "J18.9": ("Pneumonia on chest x-ray, started ceftriaxone.", "pneumonia"),
    "J45.909": ("Asthma, uses an albuterol inhaler.", "asthma"),
    "N39.0": ("Urinary tract infection, on nitrofurantoin.", "urinary tract infection"),
    "K21.9": ("GERD, takes omeprazole daily.", "GERD"),
}
TRAPS = ("Denies {}.", "No history of {}.", "Mother has {}.", "Father treated for {}.", "Negative for {}.")


def coding_rows(n: int, seed: int, prefix: str) -> list[dict]:
    rng = random.Random(seed)
    codes = sorted(CONDITIONS)
    rows = []
    for i in range(n):
        has = rng.sample(codes, rng.choice((1, 2)))
        traps = rng.sample([c for c in codes if c not in has], 2)
        sentences = [CONDITIONS[c][0] for c in has]
        sentences += [rng.choice(TRAPS).format(CONDITIONS[c][1]) for c in traps]
        rng.shuffle(sentences)
        rows.append({"id": f"{prefix}{i}", "text": " ".join(sentences), "codes": sorted(has)})
    return rows


DISEASES = (
    "type 2 diabetes",
    "asthma",
    "hypertension",
    "heart failure",
    "COPD",
    "chronic kidney disease",
    "atrial fibrillation",
    "epilepsy",
)
DENIED = ("Denies {}.", "No history of {}.", "Negative for {}.")


def denied(rng: random.Random, disease: str) -> str:
    return "- " + rng.choice(DENIED).format(disease)


def eligibility_rows(n: int, seed: int, prefix: str) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        wanted, excluded, other = rng.sample(DISEASES, 3)
        has_wanted, has_excluded = rng.random() < 0.7, rng.random() < 0.4
        lines = [
            f"- {wanted.capitalize()}, diagnosed 2019." if has_wanted else denied(rng, wanted),
            f"- {excluded.capitalize()}, on treatment." if has_excluded else denied(rng, excluded),
            f"- {other.capitalize()}, stable.",
        ]
        rng.shuffle(lines)
        rows.append(
            {
                "id": f"{prefix}{i}",
                "patient": f"{rng.randint(30, 70)}-year-old patient\nMedical history:\n" + "\n".join(lines),
                "criteria": f"Inclusion Criteria:\n* Diagnosis of {wanted}\n\n"
                f"Exclusion Criteria:\n* History of {excluded}",
                "label": "eligible" if has_wanted and not has_excluded else "excluded",
                "criteria_labels": ["met" if has_wanted else "not met", "met" if has_excluded else "not met"],
            }
        )
    return rows


SIDES = ("right", "left")
LOBES = ("upper", "middle", "lower")
FINDINGS = ("consolidation", "nodule", "mass", "atelectasis", "opacity", "cavitation")
NORMAL = (
    "Heart size is normal.",
    "No pneumothorax.",
    "No pleural effusion.",
    "Osseous structures are intact.",
)


def radiology_rows(n: int, seed: int, prefix: str) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        finding = f"{rng.choice(SIDES).capitalize()} {rng.choice(LOBES)} lobe {rng.choice(FINDINGS)}."
        sentences = [*rng.sample(NORMAL, 3), finding]
        rng.shuffle(sentences)
        text = "EXAM: Chest radiograph, two views.\nFINDINGS: " + " ".join(sentences)
        rows.append({"id": f"{prefix}{i}", "text": text, "summary": f"1. {finding}"})
    return rows


def coding_files(folder: Path, n_train: int = 200, n_eval: int = 80) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return (
        write_jsonl(folder / "coding_train.jsonl", coding_rows(n_train, 0, "t")),
        write_jsonl(folder / "coding_eval.jsonl", coding_rows(n_eval, 1, "e")),
    )


def eligibility_files(folder: Path, n_train: int = 160, n_eval: int = 100) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return (
        write_jsonl(folder / "eligibility_train.jsonl", eligibility_rows(n_train, 0, "t")),
        write_jsonl(folder / "eligibility_eval.jsonl", eligibility_rows(n_eval, 1, "e")),
    )


def radiology_files(folder: Path, n_train: int = 200, n_eval: int = 60) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return (
        write_jsonl(folder / "radiology_train.jsonl", radiology_rows(n_train, 0, "t")),
        write_jsonl(folder / "radiology_eval.jsonl", radiology_rows(n_eval, 1, "e")),
    )
