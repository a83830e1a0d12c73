"""The synthetic coding generator: determinism, shape, code validity and the coding rules."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
import simple_icd_10_cm as icd

from src.tasks.coding.synthetic import (
    CODE_TERMS,
    CPT_DESCRIPTIONS,
    GENERATOR_VERSION,
    generate_coding_dataset,
)

FILES = ("train.jsonl", "eval.jsonl", "code_descriptions.json")
DOTTED_ICD = re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _is_cpt(code: str) -> bool:
    return len(code) == 5 and code.isdigit()


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """The default 5,100 / 1,000 generation with seed 0 (about two seconds)."""
    out = tmp_path_factory.mktemp("coding")
    stats = generate_coding_dataset(out, seed=0, n_train=5100, n_eval=1000)
    return out, stats, _read(out / "train.jsonl"), _read(out / "eval.jsonl")


@pytest.fixture(scope="module")
def rows(full):
    _, _, train, eval_rows = full
    return train + eval_rows


def _with_codes(rows: list[dict], pattern: str, needle: str = "") -> list[dict]:
    """Rows whose text matches pattern; needle: a cheap substring every match contains."""
    rx = re.compile(pattern)
    return [r for r in rows if needle in r["text"] and rx.search(r["text"])]


def test_same_seed_is_byte_identical_and_other_seed_differs(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_coding_dataset(a, seed=3, n_train=150, n_eval=40)
    generate_coding_dataset(b, seed=3, n_train=150, n_eval=40)
    generate_coding_dataset(c, seed=4, n_train=150, n_eval=40)
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "train.jsonl").read_bytes() != (c / "train.jsonl").read_bytes()
    assert (a / "eval.jsonl").read_bytes() != (c / "eval.jsonl").read_bytes()


def test_counts_ids_and_disjoint_splits(full):
    _, stats, train, eval_rows = full
    assert len(train) == 5100 and len(eval_rows) == 1000
    ids = [r["id"] for r in train + eval_rows]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"syn-coding-\d{6}", i) for i in ids)
    assert not {r["text"] for r in train} & {r["text"] for r in eval_rows}
    assert stats["n_train"] == 5100 and stats["n_eval"] == 1000
    assert stats["generator_version"] == GENERATOR_VERSION
    print("\nstats:", stats)


def test_every_code_is_valid_and_billable(rows):
    codes = {c for r in rows for c in r["codes"]}
    for code in codes:
        if _is_cpt(code):
            assert code in CPT_DESCRIPTIONS
        else:
            assert DOTTED_ICD.match(code), code
            assert icd.is_valid_item(code) and icd.is_leaf(code), code
    for code in CODE_TERMS:  # the lexicon only names real codes
        assert _is_cpt(code) or (icd.is_valid_item(code) and icd.is_leaf(code)), code


def test_code_lists_sizes_and_frequencies(full, rows):
    _, stats, train, _ = full
    for r in rows:
        assert 1 <= len(r["codes"]) <= 6
        assert r["codes"] == sorted(set(r["codes"]))
    per_note = Counter(len(r["codes"]) for r in rows)
    assert len(per_note) == 6  # every size from 1 to 6 occurs
    assert 2.5 <= stats["mean_codes_per_note"] <= 3.5
    counts = Counter(c for r in train for c in r["codes"])
    assert len(counts) >= 60
    assert stats["distinct_codes"] >= 60
    rare = {c: n for c, n in counts.items() if n < 30}
    assert not rare, f"codes under 30 training examples: {rare}"
    assert set(counts) <= set(CODE_TERMS)


def test_note_length(full, rows):
    _, stats, _, _ = full
    words = [len(r["text"].split()) for r in rows]
    mean = sum(words) / len(words)
    assert 150 <= mean <= 260
    assert stats["mean_words_per_note"] == pytest.approx(mean, abs=0.1)
    assert max(words) < 400


def test_descriptions_cover_every_code(full, rows):
    out, _, _, _ = full
    descriptions = json.loads((out / "code_descriptions.json").read_text(encoding="utf-8"))
    codes = {c for r in rows for c in r["codes"]}
    assert set(descriptions) == codes
    for code, text in descriptions.items():
        assert text.strip()
        if not _is_cpt(code):
            assert text == icd.get_description(code)


def test_notes_have_the_usual_sections(rows):
    text = "\n".join(r["text"] for r in rows[:500])
    for header in ("HPI", "Medications", "Allergies", "Exam", "Vitals"):
        assert header.lower() in text.lower()
    assert re.search(r"^(A/P|Assessment and Plan|Assessment & Plan|IMPRESSION/PLAN):", text, re.M)


# ---------------------------------------------------------------------------------- coding rules


def test_family_history_of_breast_cancer_codes_z80_3_not_cancer(rows):
    fam = _with_codes(
        rows,
        r"(Mother|Sister|aunt|grandmother)[^.]{0,12}breast cancer|breast cancer in (her|his)",
        "breast cancer",
    )
    assert len(fam) >= 50
    for r in fam:
        assert "Z80.3" in r["codes"]
        assert not any(c.startswith("C50") for c in r["codes"])
        personal = re.search(r"(history of|h/o) breast cancer|breast cancer \(\d{4}\)", r["text"])
        assert personal or "Z85.3" not in r["codes"]


def test_family_history_of_mi_is_not_old_mi(rows):
    fam = _with_codes(rows, r"(Father|Mother|Brother)[^.]{0,12}\b(an )?MI\b|\bMI in (her|his)", "MI")
    assert len(fam) >= 20
    for r in fam:
        assert "Z82.49" in r["codes"]
        if not re.search(r"(prior|remote|history of) MI", r["text"]):
            assert "I25.2" not in r["codes"]


def test_negated_and_ruled_out_diagnoses_are_not_coded(rows):
    checks = {
        r"no evidence of pneumonia": ["J18.9"],
        r"duplex negative for DVT": ["I82.401", "I82.402"],
        r"UTI ruled out": ["N39.0"],
        r"no evidence of type 2 diabetes": ["E11.9", "E11.65"],
        r"Pulmonary embolism ruled out": ["I26.99"],
        r"without atrial fibrillation": ["I48.91", "I48.0", "I48.21"],
    }
    for pattern, codes in checks.items():
        hits = _with_codes(rows, pattern)
        assert len(hits) >= 10, pattern
        for r in hits:
            assert not set(codes) & set(r["codes"]), (pattern, r["id"])


RULE_OUT = re.compile(
    r"(Cough|Persistent cough|Shortness of breath|SOB|Chest pain|Chest discomfort|Fatigue|Tiredness), "
    r"(?:r/o|rule out|possible|concern for|cannot exclude|suspect) ([^;]+);"
)
SYMPTOM_CODES = {
    "cough": "R05.9",
    "shortness": "R06.02",
    "sob": "R06.02",
    "chest": "R07.9",
    "fatigue": "R53.83",
}
SUSPECT_CODES = {
    "pneumonia": ["J18.9"],
    "pulmonary embolism": ["I26.99"],
    "CAD": ["I25.10"],
    "CHF": ["I50.9", "I50.22", "I50.32"],
    "COPD": ["J44.9"],
    "hypothyroidism": ["E03.9"],
}


def test_outpatient_rule_out_codes_the_symptom_not_the_suspected_condition(rows):
    hits = [(r, m) for r in rows if (m := RULE_OUT.search(r["text"]))]
    assert len(hits) >= 500
    for r, m in hits:
        first_word = m.group(1).lower().replace("persistent ", "").replace("tiredness", "fatigue").split()[0]
        assert SYMPTOM_CODES[first_word] in r["codes"], r["id"]
        assert not set(SUSPECT_CODES.get(m.group(2), [])) & set(r["codes"]), r["id"]


def test_laterality_maps_to_the_documented_side(rows):
    pairs = {
        r"right lower extremity cellulitis|RLE cellulitis|cellulitis of the right leg": (
            "L03.115",
            "L03.116",
        ),
        r"left lower extremity cellulitis|LLE cellulitis|cellulitis of the left leg": ("L03.116", "L03.115"),
        r"right knee osteoarthritis|osteoarthritis of the right knee|right knee OA": ("M17.11", "M17.12"),
        r"left knee osteoarthritis|osteoarthritis of the left knee|left knee OA": ("M17.12", "M17.11"),
        r"right leg DVT|right lower extremity DVT|DVT of the right lower": ("I82.401", "I82.402"),
        r"left leg DVT|left lower extremity DVT|DVT of the left lower": ("I82.402", "I82.401"),
    }
    for pattern, (right, wrong) in pairs.items():
        needle = "DVT" if "DVT" in pattern else "cellulitis" if "cellulitis" in pattern else "knee"
        hits = _with_codes(rows, f"(?i:{pattern})", needle)
        assert len(hits) >= 20, pattern
        for r in hits:
            assert right in r["codes"] and wrong not in r["codes"], (pattern, r["id"])


def test_smoking_status(rows):
    former = _with_codes(rows, r"Former smoker|Ex-smoker")
    current = _with_codes(rows, r"Current smoker|Smokes cigarettes daily")
    assert len(former) >= 100 and len(current) >= 100
    assert all("Z87.891" in r["codes"] and "F17.210" not in r["codes"] for r in former)
    assert all("F17.210" in r["codes"] and "Z87.891" not in r["codes"] for r in current)
    for r in _with_codes(rows, r"Never smoker|Denies tobacco use"):
        assert not {"F17.210", "Z87.891"} & set(r["codes"])


def test_history_of_dvt_is_z86_718_not_acute_dvt(rows):
    hits = _with_codes(rows, r"(history of|h/o|remote) DVT")
    assert len(hits) >= 30
    for r in hits:
        assert "Z86.718" in r["codes"]
        assert not {"I82.401", "I82.402"} & set(r["codes"])


def test_combination_and_drug_rules(rows):
    for r in rows:
        codes = set(r["codes"])
        ckd = any(c.startswith("N18.") for c in codes)
        hf = any(c.startswith("I50.") for c in codes)
        if "I10" in codes:  # hypertension with CKD or heart failure uses a combination code
            assert not ckd and not hf, r["id"]
        if "E11.22" in codes:
            assert ckd
        if ckd and any(c.startswith("E11.") for c in codes):
            assert "E11.22" in codes
        if any(c.startswith("Z68.") for c in codes):  # BMI only with an obesity diagnosis
            assert any(c.startswith("E66.") for c in codes)
    for r in _with_codes(rows, r"Discussed starting insulin"):
        assert "Z79.4" not in r["codes"]
    for r in _with_codes(rows, r"ALLERGIES: aspirin|Allergies: aspirin"):
        assert "Z79.82" not in r["codes"]
    on_insulin = _with_codes(rows, r"insulin glargine \(Lantus\)|insulin glargine \d+ units")
    assert on_insulin and all("Z79.4" in r["codes"] for r in on_insulin)


def test_inpatient_notes_have_no_cpt_and_no_uncertain_diagnoses(rows):
    inpatient = _with_codes(rows, r"admitted")
    assert len(inpatient) >= 1000
    for r in inpatient:
        assert not any(_is_cpt(c) for c in r["codes"])
        assert not re.search(r"\b(r/o|rule out|possible|suspect|concern for|cannot exclude)\b", r["text"])
