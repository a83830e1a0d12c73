"""python -m src.predict and python -m src.export for the eligibility classifier, both readers, on
tiny trained runs (random 2-layer BERT): predicting the evaluation split scores to the run's own
tuned metrics, and the export predicts what the run does."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from conftest import train_here, write_jsonl

from src import export, predict
from src.tasks.eligibility.screening import screening_metrics
from src.tasks.eligibility.synthetic import generate_eligibility_rows

READERS = ("criteria", "pair")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """48 training pairs (16 of them the validation slice) and 40 evaluation pairs: two batches
    of the default 32, as evaluation batched them."""
    folder = tmp_path_factory.mktemp("eligibility-data")
    write_jsonl(folder / "train.jsonl", generate_eligibility_rows(48, 0, "t"))
    write_jsonl(folder / "eval.jsonl", generate_eligibility_rows(40, 0, "e"))
    return folder


@pytest.fixture(scope="module", params=READERS)
def run(request, data, tiny_bert) -> tuple[Path, dict]:
    """(run dir, metrics.json) of one reader; both share the data and the base-result cache."""
    run_dir = data / f"run-{request.param}"
    metrics = train_here(
        data,
        run_dir,
        *("task=eligibility", f"task.reader={request.param}", "task.max_length=128"),
        *(f"model.name_or_path={tiny_bert}", "logger=none", "trainer.max_epochs=1"),
        *(f"data.path={data / 'train.jsonl'}", f"data.eval_path={data / 'eval.jsonl'}"),
        *("data.train_size=null", "data.val_size=16"),
    )
    return run_dir, metrics


@pytest.fixture(scope="module")
def run_predictions(run, data) -> list[dict]:
    """The run's predictions of its evaluation file, by the command line's main()."""
    return predicted(run[0], data / "eval.jsonl")


def predicted(run_or_export: Path, input_file: Path, *args: str) -> list[dict]:
    output = input_file.with_name(f"{run_or_export.name}-{input_file.stem}.jsonl")
    predict.main([f"run={run_or_export}", f"input={input_file}", f"output={output}", "overwrite=true", *args])
    return [json.loads(line) for line in output.read_text().splitlines()]


def test_predicting_the_eval_split_reproduces_the_tuned_metrics(run, data, run_predictions):
    run_dir, metrics = run
    meta = json.loads((run_dir / "adapter" / "medtune.json").read_text())
    rows = run_predictions
    gold = [json.loads(line) for line in (data / "eval.jsonl").read_text().splitlines()]
    assert [row["id"] for row in rows] == [row["id"] for row in gold]
    criteria = meta["reader"]["name"] == "criteria"
    assert all(set(row) == {"id", "decision", "score", *(["criteria"] if criteria else [])} for row in rows)
    scores = [row["score"] for row in rows]
    labels = [row["label"] == "eligible" for row in gold]
    ours = screening_metrics(scores, labels, meta["threshold"], meta["target_recall"])
    assert ours == pytest.approx(metrics["tuned"], rel=0, abs=0, nan_ok=True)
    assert [row["decision"] for row in rows] == [
        "eligible" if score >= meta["threshold"] else "excluded" for score in scores
    ]
    assert {row["decision"] for row in rows} == {"eligible", "excluded"}  # the threshold splits them
    if criteria:  # every criterion in the text's order; P(eligible) is the rule over them
        for row, pair in zip(rows, gold, strict=True):
            assert [c["index"] for c in row["criteria"]] == list(range(len(pair["criteria_labels"])))
            blocks = [c["p_met"] if c["exclusion"] else 1 - c["p_met"] for c in row["criteria"]]
            assert row["score"] == pytest.approx(math.prod(1 - p for p in blocks), rel=1e-5)
            assert any(c["exclusion"] for c in row["criteria"]) and not row["criteria"][0]["exclusion"]
        # Threshold criteria one value decides are the numeric rule's, at the run's trust in it.
        confidence = meta["reader"]["numeric_rule"]["confidence"]
        decided = [c for row in rows for c in row["criteria"] if c["decided_by"] == "numeric rule"]
        assert decided and {c["p_met"] for c in decided} <= {confidence, 1 - confidence}
        assert any(c["decided_by"] == "model" for row in rows for c in row["criteria"])


def test_export_loads_with_plain_transformers_and_predicts_the_same(run, data, run_predictions, tiny_bert):
    from safetensors.torch import load_file
    from transformers import AutoModel

    run_dir, _ = run
    out = data / f"export-{run_dir.name}"
    export.main([f"run={run_dir}", f"out={out}"])
    assert not list(out.glob("*.bin")) and (out / "model.safetensors").is_file()
    merged, base = (
        AutoModel.from_pretrained(out).state_dict(),
        AutoModel.from_pretrained(tiny_bert).state_dict(),
    )
    changed = [name for name in base if not torch.equal(merged[name], base[name])]
    assert changed and all(".query." in name or ".value." in name for name in changed)  # LoRA merged
    assert set(load_file(out / "classifier.safetensors")) >= {"weight", "bias"}
    meta = json.loads((out / "medtune.json").read_text())
    trained = json.loads((run_dir / "adapter" / "medtune.json").read_text())
    assert meta["exported_from"] == str(run_dir.resolve())
    assert (meta["threshold"], meta["reader"], meta["labels"]) == (
        trained["threshold"],
        trained["reader"],
        trained["labels"],
    )
    assert meta["model"]["dtype"] == "float32" and "tokenizer" in meta["model"]
    assert meta["data"] == {"columns": {"patient": "patient", "criteria": "criteria"}, "id_column": "id"}
    assert "python -m src.export run=<this run dir>" in (run_dir / "MODEL_CARD.md").read_text()

    from_run, from_export = run_predictions, predicted(out, data / "eval.jsonl")
    assert [row["decision"] for row in from_export] == [row["decision"] for row in from_run]
    for ours, theirs in zip(from_export, from_run, strict=True):
        assert ours["score"] == pytest.approx(theirs["score"], rel=1e-5, abs=1e-5)
        for mine, trained_p in zip(ours.get("criteria", []), theirs.get("criteria", []), strict=True):
            assert mine["p_met"] == pytest.approx(trained_p["p_met"], abs=1e-5)


def test_other_column_names_and_a_missing_column(run, data, run_predictions, capsys):
    run_dir, _ = run
    pairs = [json.loads(line) for line in (data / "eval.jsonl").read_text().splitlines()][:3]
    renamed = [{"pid": p["id"], "record": p["patient"], "trial": p["criteria"]} for p in pairs]
    input_file = write_jsonl(data / f"renamed-{run_dir.name}.jsonl", renamed)
    rows = predicted(run_dir, input_file, "columns.patient=record", "columns.criteria=trial", "id_column=pid")
    expected = run_predictions[:3]
    assert [(row["pid"], row["decision"]) for row in rows] == [
        (row["id"], row["decision"]) for row in expected
    ]

    with pytest.raises(SystemExit) as exit_info:
        predicted(run_dir, input_file, "columns.patient=record", "id_column=pid")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "no 'criteria' column" in err and "set columns.criteria=" in err
    assert pairs[0]["criteria"][:20] not in err  # names the field, never shows the text

    write_jsonl(
        input_file, [*renamed[:1], {**renamed[1], "trial": "Inclusion Criteria:\nExclusion Criteria:"}]
    )
    with pytest.raises(SystemExit):
        predicted(run_dir, input_file, "columns.patient=record", "columns.criteria=trial", "id_column=pid")
    assert "input row 2: the criteria text holds headings but no criterion" in capsys.readouterr().err
