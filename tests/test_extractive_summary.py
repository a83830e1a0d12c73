"""Extractive summarisation (src/tasks/summarization/extractive.py): sentence units, oracle labels,
the validation-chosen count, and a tiny end-to-end run on MTSamples-shaped notes."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_reference, train_here, write_jsonl

from src.tasks.summarization.metrics import METRIC_KEYS, rouge
from src.tasks.summarization.oracle import oracle_labels
from src.tasks.summarization.selection import K_CHOICES, choose_k, k_choices, summary
from src.tasks.summarization.sentences import Unit, join_units, split_units

NOTE = (
    "PREOPERATIVE DIAGNOSIS: , Morbid obesity.,POSTOPERATIVE DIAGNOSIS:  ,Morbid obesity.,"
    "PROCEDURE: , Laparoscopic gastric bypass.,FINDINGS: ,1.  A 2.5 cm mass. ,2.  No bleeding. ,"
    "PROCEDURE IN DETAIL:  ,The patient was taken to the operating room.  Ports were placed, "
    "CO2 was used.,The patient tolerated the procedure well."
)


def test_units_keep_headers_apart_and_offsets():
    units = split_units(NOTE)
    assert [(u.header, u.text) for u in units] == [
        ("PREOPERATIVE DIAGNOSIS", "Morbid obesity."),
        ("POSTOPERATIVE DIAGNOSIS", "Morbid obesity."),
        ("PROCEDURE", "Laparoscopic gastric bypass."),
        ("FINDINGS", "A 2.5 cm mass."),  # the item number is trimmed, the decimal point kept
        ("FINDINGS", "No bleeding."),
        ("PROCEDURE IN DETAIL", "The patient was taken to the operating room."),
        ("PROCEDURE IN DETAIL", "Ports were placed, CO2 was used."),
        ("PROCEDURE IN DETAIL", "The patient tolerated the procedure well."),
    ]
    assert all(NOTE[u.start : u.end] == u.text for u in units)
    plain = split_units("No header here. A second line\nand a third")
    assert [(u.header, u.text) for u in plain] == [
        ("", "No header here."),
        ("", "A second line"),
        ("", "and a third"),
    ]


def test_summary_copies_units_in_note_order():
    units = [Unit("A", "First", 0, 5), Unit("B", "Second.", 7, 14), Unit("C", "Third.", 16, 22)]
    assert join_units([units[2], units[0]]) == "First. Third."
    assert summary(units, np.array([0.1, 0.9, 0.5]), 2) == "Second. Third."
    assert summary(units, np.array([0.5, 0.5, 0.5]), 1) == "First."  # ties: the earliest


def test_oracle_labels_pick_the_copied_lines():
    units = [
        "Morbid obesity.",
        "Morbid obesity.",
        "Laparoscopic gastric bypass.",
        "General anesthesia.",
        "No bleeding.",
    ]
    assert oracle_labels(units, "Morbid obesity. Laparoscopic gastric bypass.") == [1, 0, 1, 0, 0]
    assert oracle_labels(units, "Laparoscopic gastric bypass.") == [0, 0, 1, 0, 0]
    assert oracle_labels(units, "Unrelated words entirely.") == [0] * 5  # nothing raises ROUGE-L


def test_training_notes_keep_every_oracle_unit():
    from src.tasks.summarization.extractive import TRAIN_UNITS_PER_NOTE, training_units

    labels = [0] * 40
    labels[3] = labels[30] = 1
    keep = training_units(labels, np.random.default_rng(0))
    assert len(keep) == TRAIN_UNITS_PER_NOTE and keep == sorted(set(keep)) and {3, 30} <= set(keep)
    assert training_units([1, 0, 0], np.random.default_rng(0)) == [0, 1, 2]  # short notes: read whole


def mean_rouge_l(rows: list[dict], outputs: list[str]) -> dict[str, float]:
    values = [rouge(r["summary"], o)["rougeL"] for r, o in zip(rows, outputs, strict=True)]
    return {"rougeL": float(np.mean(values))}


def test_count_is_chosen_on_the_validation_rows():
    # Every note's reference is its two best-scored units: k=2 wins; k=1 and k=3 lose recall or precision.
    notes = [
        [Unit("", f"alpha{i} word.", 0, 1), Unit("", f"beta{i} word.", 2, 3), Unit("", "gamma filler.", 4, 5)]
        for i in range(3)
    ]
    rows = [{"summary": f"alpha{i} word. beta{i} word."} for i in range(3)]
    scores = [np.array([0.9, 0.8, 0.1])] * 3

    k, by_k = choose_k(rows, notes, scores, mean_rouge_l, "rougeL")
    assert k == 2 and set(by_k) == set(K_CHOICES) and by_k[2] == pytest.approx(1.0) and by_k[1] < 1.0


def test_discharge_k_keeps_the_form():
    """A discharge summary is at most five sentences: six units are never chosen, even when six
    score best (here the reference is six sentences long)."""
    reference = " ".join(f"fact{i} stated." for i in range(6))
    rows = [{"summary": reference}] * 2
    notes = [[Unit("", f"fact{i} stated.", 0, 0) for i in range(6)]] * 2
    scores = [np.arange(6, 0, -1, dtype=float)] * 2

    assert choose_k(rows, notes, scores, mean_rouge_l, "rougeL")[0] == 6
    k, by_k = choose_k(rows, notes, scores, mean_rouge_l, "rougeL", k_choices("discharge"))
    assert k == 5 and max(by_k) == 5
    assert k_choices("operative") == K_CHOICES


def operative_rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        diagnosis = ["Morbid obesity", "Inguinal hernia", "Cholelithiasis", "Carpal tunnel syndrome"][i % 4]
        operation = ["Gastric bypass", "Hernia repair", "Cholecystectomy", "Carpal tunnel release"][i % 4]
        text = (
            f"PREOPERATIVE DIAGNOSIS: , {diagnosis}.,POSTOPERATIVE DIAGNOSIS:  ,{diagnosis}.,"
            f"ANESTHESIA: , General.,PROCEDURE: , {operation}.,PROCEDURE IN DETAIL:  ,The patient was "
            f"prepped and draped.  Case {i} went well.,The patient tolerated the procedure well."
        )
        rows.append({"id": f"op{i}", "text": text, "summary": f"{diagnosis}. {operation}."})
    return rows


def test_extractive_run_end_to_end(tmp_path, tiny_bert, restore_umask):
    """A run on MTSamples-shaped notes: metrics.json as abstractive runs write it, k chosen on the
    validation slice; src.predict on the evaluation file scores to the run's tuned metrics, and its
    export predicts the same summaries."""
    import json

    from src import export, predict
    from src.tasks.summarization.metrics import summary_metrics

    rows = operative_rows(40)
    train, evaluation = (
        write_jsonl(tmp_path / "train.jsonl", rows[:30]),
        write_jsonl(tmp_path / "eval.jsonl", rows[30:]),
    )
    settings = (
        *("task=summarize_operative", "model=minilm", f"model.name_or_path={tiny_bert}", "logger=none"),
        *(f"data.path={train}", f"data.eval_path={evaluation}", "data.train_size=null", "data.val_size=8"),
        "loop.batch_size=4",
    )
    metrics = train_here(tmp_path, tmp_path / "run", *settings, "trainer.max_epochs=2")
    assert metrics["base_reused_from"] is None
    again = train_here(tmp_path, tmp_path / "run-again", *settings, "trainer.max_epochs=1")
    assert again["base_reused_from"] and again["base"] == metrics["base"]  # read back, not re-run
    assert again["extractive"]["base"] == metrics["extractive"]["base"]
    assert list(metrics["base"]) == list(metrics["tuned"]) == list(metrics["validation"]) == list(METRIC_KEYS)
    assert set(metrics["intervals"]) == {"base", "tuned", "delta"}
    assert_reference(metrics)
    assert metrics["reference"]["name"].startswith(("lead-", "most frequent"))
    assert metrics["data"]["notes_cut_to_max_length"] == 0 and metrics["data"]["units_cut_to_max_length"] == 0
    assert metrics["data"]["units_per_note"] == metrics["data"]["units_trained_per_note"] == 7
    assert metrics["data"]["oracle_units_per_train_note"] == 2
    for side in ("base", "tuned"):
        chosen = metrics["extractive"][side]
        by_k = {int(k): v for k, v in chosen["validation_rougeL_by_k"].items()}
        assert chosen["k"] in K_CHOICES and by_k[chosen["k"]] == max(by_k.values())
    assert metrics["training"]["curve"] and "val/rougeL" in metrics["training"]["curve"][-1]

    run_dir, out = tmp_path / "run", tmp_path / "predicted.jsonl"
    assert "sentences copied from the note" in (run_dir / "MODEL_CARD.md").read_text()
    predict.main([f"run={run_dir}", f"input={evaluation}", f"output={out}"])
    summaries = [json.loads(line)["summary"] for line in out.read_text().splitlines()]
    eval_rows = rows[30:]
    assert all(
        s and all(part.strip(" .") in row["text"] for part in s.split(". "))
        for s, row in zip(summaries, eval_rows, strict=True)
    )
    scored = summary_metrics(
        [r["summary"] for r in eval_rows], summaries, "operative", sources=[r["text"] for r in eval_rows]
    )
    assert scored == pytest.approx(metrics["tuned"], abs=1e-6)
    export.main([f"run={run_dir}", f"out={tmp_path / 'export'}"])
    again = tmp_path / "again.jsonl"
    predict.main([f"run={tmp_path / 'export'}", f"input={evaluation}", f"output={again}"])
    assert [json.loads(line)["summary"] for line in again.read_text().splitlines()] == summaries
