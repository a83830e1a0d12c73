"""python -m src.predict and python -m src.export on a tiny trained run (random 2-layer BERT)."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import NOTES, ROOT, coding_rows, train_here, write_jsonl

from src import export, predict
from src.inference import load_predictor

# A note of ~200 tokens: more than max_chunks=3 chunks of 32 tokens, so its tail is cut.
LONG_NOTE = " ".join([text for text, _ in NOTES] * 3)
TEXTS = [text for text, _ in NOTES] + [LONG_NOTE]
IDS = [f"p{i}" for i in range(len(TEXTS))][::-1]  # not sorted: the output must keep input order


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, tiny_bert) -> Path:
    tmp = tmp_path_factory.mktemp("predict-export")
    train_here(
        tmp,
        tmp / "run",
        "logger=none",
        *(f"data.path={write_jsonl(tmp / 'train.jsonl', coding_rows(40, 't'))}", "data.train_size=null"),
        f"data.eval_path={write_jsonl(tmp / 'eval.jsonl', coding_rows(16, 'e'))}",
        *(f"model.name_or_path={tiny_bert}", "model.lora_top_layers=null", "model.max_length=32"),
        *("data.max_chunks=3", "data.chunk_overlap=4", "trainer.max_epochs=1"),
    )
    return tmp / "run"


@pytest.fixture(scope="session")
def notes_file(tmp_path_factory) -> Path:
    rows = [{"id": row_id, "text": text} for row_id, text in zip(IDS, TEXTS, strict=True)]
    return write_jsonl(tmp_path_factory.mktemp("notes") / "notes.jsonl", rows)


@pytest.fixture(scope="session")
def predicted(trained_run, notes_file) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """The real command line, run once."""
    output = notes_file.parent / "codes.jsonl"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "src.predict",
            f"run={trained_run}",
            f"input={notes_file}",
            f"output={output}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result, [json.loads(line) for line in output.read_text().splitlines()]


@pytest.fixture(scope="session")
def exported(trained_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("exports") / "model"
    export.main([f"run={trained_run}", f"out={out}"])
    return out


def meta_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "adapter" / "medtune.json").read_text())


def direct_scores(run_dir: Path, tiny_bert: Path, texts: list[str], cache_dir: Path) -> np.ndarray:
    """Scores the way training computes them: cached tokenization, unmerged peft model, one batch."""
    from conftest import compose_config
    from datasets import Dataset
    from peft import PeftModel

    from src.data.chunking import collate_chunks, tokenize_chunks
    from src.models import build

    cfg = compose_config(f"model.name_or_path={tiny_bert}", "model.max_length=32")
    meta = meta_of(run_dir)
    base = build.classifier_base(build.load_encoder(cfg.model), len(meta["labels"]), cfg.model)
    model = PeftModel.from_pretrained(base, run_dir / "adapter").eval()
    tokenizer = build.load_tokenizer(cfg.model)
    dataset, stats = tokenize_chunks(
        Dataset.from_list([{"text": t} for t in texts]), tokenizer, 32, 4, 3, cache_dir, "x", {}
    )
    assert stats["notes_cut_at_max_chunks"] == 1  # the long note really is read in part
    with torch.no_grad():
        return torch.sigmoid(model(**collate_chunks(list(dataset), tokenizer.pad_token_id))).numpy()


def test_predict_writes_one_row_per_note_in_input_order(trained_run, predicted):
    result, rows = predicted
    labels = meta_of(trained_run)["labels"]
    assert [row["id"] for row in rows] == IDS
    for row in rows:
        assert row["codes"] and set(row["codes"]) <= set(labels)
        assert list(row["scores"]) == row["codes"] and all(0 < p < 1 for p in row["scores"].values())
    assert "1 of 9 notes are longer than the model reads" in result.stderr
    assert "predicted 9 rows" in result.stdout


def test_predictions_equal_the_training_code_path(trained_run, predicted, tiny_bert, tmp_path):
    """Merged model, batch-wise chunking without the cache, batches of 2 notes: same scores."""
    from src.tasks.coding.decision import Decision

    predictor = load_predictor(trained_run, device="cpu")
    scores = predictor.predict(TEXTS, batch_size=2)
    expected = direct_scores(trained_run, tiny_bert, TEXTS, tmp_path)
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    codes = Decision(**meta_of(trained_run)["decision"]).apply(expected, predictor.labels)
    assert predictor.decide(scores) == codes
    _, rows = predicted
    assert [row["codes"] for row in rows] == codes
    index = {code: j for j, code in enumerate(predictor.labels)}
    for row, probabilities in zip(rows, expected, strict=True):
        for code, p in row["scores"].items():
            assert p == pytest.approx(probabilities[index[code]], abs=1e-5)


def test_predict_applies_the_saved_decision_rule(trained_run, notes_file, tmp_path):
    """A saved top-1 rule keeps exactly the best code (the tiny run's own rule may keep all)."""
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    meta = meta_of(run)
    meta["decision"] = {"kind": "top_k", "threshold": None, "k": 1}
    (run / "adapter" / "medtune.json").write_text(json.dumps(meta))
    predict.main([f"run={run}", f"input={notes_file}", f"output={tmp_path / 'codes.jsonl'}"])
    rows = [json.loads(line) for line in (tmp_path / "codes.jsonl").read_text().splitlines()]
    scores = load_predictor(trained_run, "cpu").predict(TEXTS)
    assert [row["codes"] for row in rows] == [[meta["labels"][j]] for j in scores.argmax(1)]


def test_csv_input_with_other_column_names(trained_run, tmp_path, capsys):
    import pandas as pd

    pd.DataFrame({"note_id": ["x", "y"], "note": TEXTS[:2]}).to_csv(tmp_path / "notes.csv", index=False)
    output = tmp_path / "out" / "codes.jsonl"
    args = [f"run={trained_run}", f"input={tmp_path / 'notes.csv'}", f"output={output}", "device=cpu"]
    predict.main([*args, "text_column=note", "id_column=note_id", "batch_size=1"])
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["note_id"] for row in rows] == ["x", "y"]


def test_export_loads_with_plain_transformers_and_predicts_the_same(trained_run, exported, tiny_bert):
    from safetensors.torch import load_file
    from transformers import AutoModel

    assert not list(exported.glob("*.bin")) and (exported / "model.safetensors").is_file()
    merged = AutoModel.from_pretrained(exported).state_dict()
    base = AutoModel.from_pretrained(tiny_bert).state_dict()
    assert merged.keys() == base.keys()
    changed = [name for name in base if not torch.equal(merged[name], base[name])]
    assert changed and all(".query." in name or ".value." in name for name in changed)  # LoRA merged
    assert set(load_file(exported / "classifier.safetensors")) >= {"weight", "bias", "queries.weight"}
    meta = json.loads((exported / "medtune.json").read_text())
    assert meta["exported_from"] == str(trained_run.resolve())
    assert meta["labels"] == meta_of(trained_run)["labels"]

    from_run, from_export = load_predictor(trained_run, "cpu"), load_predictor(exported, "cpu")
    run_scores, export_scores = from_run.predict(TEXTS), from_export.predict(TEXTS)
    np.testing.assert_allclose(export_scores, run_scores, atol=1e-5)
    assert from_export.decide(export_scores) == from_run.decide(run_scores)


def test_predict_accepts_an_export(exported, notes_file, predicted, tmp_path):
    output = tmp_path / "codes.jsonl"
    predict.main([f"run={exported}", f"input={notes_file}", f"output={output}"])
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [(row["id"], row["codes"]) for row in rows] == [(row["id"], row["codes"]) for row in predicted[1]]


def expect_user_error(main, argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_predict_refuses_to_overwrite_unless_asked(trained_run, notes_file, tmp_path, capsys):
    output = tmp_path / "codes.jsonl"
    output.write_text("keep me\n")
    args = [f"run={trained_run}", f"input={notes_file}", f"output={output}"]
    err = expect_user_error(predict.main, args, capsys)
    assert f"output={output} already exists" in err and "overwrite=true" in err
    assert output.read_text() == "keep me\n"
    predict.main([*args, "overwrite=true"])
    assert len(output.read_text().splitlines()) == len(TEXTS)


def test_export_refuses_a_non_empty_out_dir(trained_run, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("keep me\n")
    err = expect_user_error(export.main, [f"run={trained_run}", f"out={tmp_path}"], capsys)
    assert f"out={tmp_path} exists and is not an empty dir" in err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_missing_run_dir_is_one_clear_message(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "src.predict",
            "run=/no/such/run",
            "input=notes.jsonl",
            f"output={tmp_path}/o",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "run=/no/such/run: directory not found" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run={empty}", "input={notes}", "output={out}"], "is neither a finished training run (no adapter/"),
        (["run={run}", "input={tmp}/nope.jsonl", "output={out}"], "nope.jsonl: file not found"),
        (
            ["run={run}", "input={notes}", "output={out}", "text_column=note"],
            "notes.jsonl:1: no 'note' column",
        ),
        (["run={run}", "input={notes}"], "missing output="),
        (["run={run}", "input={notes}", "output={out}", "batch=2"], "Key 'batch' not in"),
        (["run={run}", "input={notes}", "output={out}", "device=tpu9"], "device='tpu9' is not a device"),
    ],
)
def test_bad_predict_input_names_the_key_and_the_fix(
    trained_run, notes_file, tmp_path, capsys, args, message
):
    (tmp_path / "empty").mkdir()
    paths = {"run": trained_run, "empty": tmp_path / "empty", "notes": notes_file, "tmp": tmp_path}
    argv = [arg.format(out=tmp_path / "o.jsonl", **paths) for arg in args]
    assert message in expect_user_error(predict.main, argv, capsys)
    assert not (tmp_path / "o.jsonl").exists()


def test_loading_under_other_tokenizer_versions_warns(trained_run, tmp_path, caplog):
    assert meta_of(trained_run)["versions"]["transformers"]  # recorded at training
    with caplog.at_level(logging.WARNING, logger="src.inference"):
        load_predictor(trained_run, device="cpu")
    assert "was trained with" not in caplog.text

    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    meta = meta_of(copy)
    meta["versions"]["transformers"] = "0.0.1"
    (copy / "adapter" / "medtune.json").write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING, logger="src.inference"):
        load_predictor(copy, device="cpu")
    assert "was trained with tokenizers" in caplog.text and "transformers 0.0.1" in caplog.text
