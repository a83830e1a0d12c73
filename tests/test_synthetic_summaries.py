"""The synthetic summarisation generator: determinism, structure, facts that hold, and variety."""

from __future__ import annotations

import json
import random
import re
import time

import pytest

from src.tasks.summarization.facts import extract_facts, fact_key
from src.tasks.summarization.metrics import STRUCTURE_RULES
from src.tasks.summarization.synthetic import SPECIALTIES, generate_summary_dataset, generate_summary_rows


@pytest.fixture(scope="module")
def rows() -> dict[str, list[dict]]:
    return {specialty: generate_summary_rows(specialty, 300, 0, "train", set()) for specialty in SPECIALTIES}


def test_same_seed_same_files_other_seed_differs(tmp_path):
    for specialty in SPECIALTIES:
        a, b, c = tmp_path / f"{specialty}-a", tmp_path / f"{specialty}-b", tmp_path / f"{specialty}-c"
        generate_summary_dataset(specialty, a, seed=3, n_train=40, n_eval=10)
        generate_summary_dataset(specialty, b, seed=3, n_train=40, n_eval=10)
        generate_summary_dataset(specialty, c, seed=4, n_train=40, n_eval=10)
        for name in ("train.jsonl", "eval.jsonl"):
            assert (a / name).read_bytes() == (b / name).read_bytes()
            assert (a / name).read_bytes() != (c / name).read_bytes()


def test_a_row_does_not_depend_on_how_many_rows_precede_it():
    assert generate_summary_rows("operative", 30, 0, "train", set())[:10] == generate_summary_rows(
        "operative", 10, 0, "train", set()
    )


def test_schema_ids_and_disjoint_splits(tmp_path):
    generate_summary_dataset("discharge", tmp_path, seed=0, n_train=200, n_eval=50)
    train = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    evaluation = [json.loads(line) for line in (tmp_path / "eval.jsonl").read_text().splitlines()]
    assert len(train) == 200 and len(evaluation) == 50
    for row in train + evaluation:
        assert set(row) == {"id", "text", "summary", "specialty", "facts"}
        assert row["specialty"] == "discharge" and row["text"].strip() and row["summary"].strip()
    assert len({r["id"] for r in train + evaluation}) == 250
    assert not {r["text"] for r in train} & {r["text"] for r in evaluation}


def test_recorded_facts_are_what_the_extractor_reads_from_the_summary(rows):
    for specialty_rows in rows.values():
        for row in specialty_rows:
            recorded = {fact_key(f) for f in row["facts"]}
            assert recorded == {fact_key(f) for f in extract_facts(row["summary"])}, row["summary"]
            assert len(recorded) == len(row["facts"])


def test_every_summary_fact_is_stated_in_the_note(rows):
    for specialty_rows in rows.values():
        for row in specialty_rows:
            in_note = {fact_key(f) for f in extract_facts(row["text"])}
            missing = [f for f in row["facts"] if fact_key(f) not in in_note]
            assert not missing, (missing, row["summary"])


def test_facts_cover_every_kind_the_specialty_should_have(rows):
    expected = {
        "radiology": {"laterality", "negation", "measurement", "diagnosis"},
        "discharge": {"laterality", "measurement", "diagnosis", "procedure"},
        "operative": {"laterality", "negation", "measurement", "diagnosis", "procedure"},
    }
    for specialty, specialty_rows in rows.items():
        assert expected[specialty] <= {f["kind"] for row in specialty_rows for f in row["facts"]}
        assert sum(len(row["facts"]) for row in specialty_rows) / len(specialty_rows) >= 3


def test_reference_summaries_have_their_specialty_form(rows):
    for specialty, specialty_rows in rows.items():
        assert all(STRUCTURE_RULES[specialty](row["summary"]) for row in specialty_rows), specialty


def test_notes_have_their_specialty_sections(rows):
    sections = {
        "radiology": ("TECHNIQUE:", "COMPARISON:", "FINDINGS:"),
        "discharge": ("HOSPITAL COURSE:", "DISCHARGE DIAGNOSES:", "DISCHARGE MEDICATIONS:", "FOLLOW-UP:"),
        "operative": ("ANESTHESIA:", "ESTIMATED BLOOD LOSS:", "SPECIMENS:", "DRAINS:", "COMPLICATIONS:"),
    }
    for specialty, specialty_rows in rows.items():
        for row in specialty_rows:
            assert all(section in row["text"] for section in sections[specialty]), row["text"]
            assert "IMPRESSION" not in row["text"]  # the summary is not in the note
    radiology = [row["text"] for row in rows["radiology"]]
    for modality in ("CHEST", "CT HEAD", "CT A", "MRI", "US"):
        assert any(modality in text.split("\n")[0] for text in radiology), modality
    assert any(re.search(r"\d+ mm", row["summary"]) for row in rows["radiology"])


def _shingles(text: str) -> set[tuple[str, ...]]:
    tokens = text.lower().split()
    return {tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2)}


def test_notes_are_not_near_duplicates(rows):
    """Word 3-gram Jaccard similarity between notes: low on average, and no pair nearly identical."""
    rng = random.Random(0)
    for specialty, specialty_rows in rows.items():
        shingles = [_shingles(row["text"]) for row in specialty_rows[:150]]
        similarities = [len(a & b) / len(a | b) for i, a in enumerate(shingles) for b in shingles[i + 1 :]]
        assert sum(similarities) / len(similarities) < 0.45, specialty
        assert max(similarities) < 0.95, specialty
        pairs = [rng.sample(specialty_rows, 2) for _ in range(200)]
        assert sum(a["summary"] != b["summary"] for a, b in pairs) >= 190, specialty


def test_six_thousand_radiology_reports_distinct_and_quick(tmp_path):
    start = time.perf_counter()
    generate_summary_dataset("radiology", tmp_path, seed=0, n_train=6000, n_eval=1000)
    elapsed = time.perf_counter() - start
    train = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert len(train) == 6000 and len({r["text"] for r in train}) == 6000
    assert len({r["summary"] for r in train}) > 3000  # impressions of normal exams repeat, as in life
    # Every report has an impression and no empty section (a rare draw once left both empty).
    assert all(STRUCTURE_RULES["radiology"](r["summary"]) and r["facts"] for r in train)
    assert not [
        r["id"] for r in train if re.search(r"^(?!FINDINGS)[A-Za-z ]+:[ \t]*$", r["text"], re.MULTILINE)
    ]
    print(f"\n6,000 + 1,000 radiology reports in {elapsed:.1f} s")
