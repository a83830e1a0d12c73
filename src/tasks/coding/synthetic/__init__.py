"""Deterministic synthetic clinical notes with gold ICD-10-CM (and a few CPT) codes.

Each note is built in two steps. First a *case* is sampled: the active problems (with their
specific variant: laterality, stage, heart-failure type, ...), the current medications,
personal and family history, smoking status, an outpatient symptom work-up and the office
procedures. The gold codes are derived from the case alone by a fixed set of coding rules
(`cases.case_codes`). Then the case is rendered into a progress note with varied templates, and
*trap* mentions are added that name a condition without making it codeable: negations,
family history, resolved/historical conditions, rule-outs, discontinued or allergic drugs.

Coding rules the generator applies exactly (and the notes document consistently):
  * negated, ruled-out and (in clinic notes) uncertain diagnoses are not coded; an outpatient
    work-up codes the presenting symptom (cough, shortness of breath, chest pain, fatigue);
  * symptoms that belong to a confirmed diagnosis are not coded;
  * relatives' conditions give family-history Z codes; resolved conditions give history Z codes
    (old MI gives I25.2); a former smoker gets Z87.891, a current smoker F17.210;
  * hypertension with CKD and/or heart failure uses the combination codes I12.9/I11.0/I13.0;
    type 2 diabetes with CKD is E11.22 (plus the CKD stage), one E11 code per complication;
  * BMI Z68 codes only accompany a documented obesity diagnosis;
  * Z79 long-term drug codes come from the current medication list only (not from drugs that
    are discussed, newly started, stopped or listed as allergies);
  * CPT codes only for procedures performed in the clinic during the visit.

The parts: catalogue_codes.py, catalogue_cases.py and catalogue_phrases.py (the tables: terms and
drugs, sampling weights, phrasings), cases.py (the case and the coding rules), case_sampling.py (a
case), note_sections.py, note_chronic.py, note_acute.py and note_rendering.py (the note). This
module holds the entry points and re-exports the tables callers read.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import simple_icd_10_cm as icd

from src.tasks.coding.synthetic.case_sampling import build_case
from src.tasks.coding.synthetic.cases import case_codes
from src.tasks.coding.synthetic.catalogue_codes import CODE_TERMS, CPT_DESCRIPTIONS
from src.tasks.coding.synthetic.note_rendering import render_note
from src.tasks.coding.synthetic.provenance import Trace, note_provenance

__all__ = [
    "CODE_TERMS",
    "CPT_DESCRIPTIONS",
    "GENERATOR_VERSION",
    "code_description",
    "generate_coding_dataset",
    "generate_note",
    "generate_note_with_provenance",
    "rows_provenance",
]

GENERATOR_VERSION = "1.0.0"


def generate_note(rng: random.Random) -> tuple[str, list[str]]:
    """One (text, codes) pair from the given random stream."""
    text, codes, _ = generate_note_with_provenance(rng)
    return text, codes


def generate_note_with_provenance(rng: random.Random) -> tuple[str, list[str], dict]:
    """generate_note's (text, codes) from the same draws, and the note's provenance: where it states
    each code and plants negated or family mentions (provenance.note_provenance)."""
    case = build_case(rng)
    trace = Trace()
    text = render_note(rng, case, trace)
    return text, case_codes(case), note_provenance(text, case, trace)


def _note_rng(seed: int, split: str, i: int, attempt: int) -> random.Random:
    # one stream per note: a note never depends on how many notes precede it
    return random.Random(f"medtune-coding:{seed}:{split}:{i}:{attempt}")


def rows_provenance(rows: list[dict], seed: int = 0, n_train: int = 5100) -> dict[str, dict]:
    """{id: provenance} for the rows of the embedded data (generate_coding_dataset with this seed
    and n_train) whose text the generator gives again under their id; other rows are left out.
    Reruns the generator for those notes only: nothing is stored beside the data."""
    out = {}
    for row in rows:
        number = row["id"].removeprefix("syn-coding-")
        if not number.isdigit():
            continue
        index = int(number) - 1
        split, i = ("train", index) if index < n_train else ("eval", index - n_train)
        for attempt in range(3):  # a chance collision with an earlier note takes the next attempt
            text, _, provenance = generate_note_with_provenance(_note_rng(seed, split, i, attempt))
            if text == row["text"]:
                out[row["id"]] = provenance
                break
    return out


def _split_rows(seed: int, split: str, n: int, first_id: int, seen: set[str]) -> list[dict]:
    rows = []
    for i in range(n):
        attempt = 0
        while True:
            rng = _note_rng(seed, split, i, attempt)
            text, codes = generate_note(rng)
            if text not in seen:  # keeps train and eval disjoint even on a chance collision
                break
            attempt += 1
        seen.add(text)
        rows.append({"id": f"syn-coding-{first_id + i:06d}", "text": text, "codes": codes})
    return rows


def code_description(code: str) -> str:
    if code in CPT_DESCRIPTIONS:
        return CPT_DESCRIPTIONS[code]
    return icd.get_description(code)


def generate_coding_dataset(out_dir: Path, seed: int = 0, n_train: int = 5100, n_eval: int = 1000) -> dict:
    """Writes out_dir/train.jsonl, out_dir/eval.jsonl, out_dir/code_descriptions.json; returns stats."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    splits = {
        "train": _split_rows(seed, "train", n_train, 1, seen),
        "eval": _split_rows(seed, "eval", n_eval, n_train + 1, seen),
    }
    for name, rows in splits.items():
        with open(out_dir / f"{name}.jsonl", "w", encoding="utf-8", newline="\n") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    all_rows = splits["train"] + splits["eval"]
    counts = Counter(code for row in all_rows for code in row["codes"])
    descriptions = {code: code_description(code) for code in sorted(counts)}
    with open(out_dir / "code_descriptions.json", "w", encoding="utf-8", newline="\n") as f:
        json.dump(descriptions, f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")
    n = max(1, len(all_rows))
    return {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "n_train": n_train,
        "n_eval": n_eval,
        "distinct_codes": len(counts),
        "mean_codes_per_note": round(sum(len(r["codes"]) for r in all_rows) / n, 3),
        "mean_words_per_note": round(sum(len(r["text"].split()) for r in all_rows) / n, 1),
    }
