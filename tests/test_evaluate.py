"""python -m src.evaluate on a tiny trained coding run (random 2-layer BERT): src.predict's own
predictions of the evaluation split score to the run's tuned metrics with a zero delta; a degraded
file shows the drop with intervals and names its missing and unknown ids; bad input is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import coding_rows, compose_config, train_here, write_jsonl

from src import evaluate, predict, verify
from src.errors import MedtuneError
from src.tasks import make_task

pytestmark = pytest.mark.usefixtures("restore_umask")  # conftest


@pytest.fixture(scope="module")
def run_and_predictions(tmp_path_factory, tiny_bert) -> tuple[Path, Path]:
    """A finished run and src.predict's predictions of its evaluation file."""
    tmp = tmp_path_factory.mktemp("evaluate")
    evaluation = write_jsonl(tmp / "eval.jsonl", coding_rows(16, "e"))
    train_here(
        tmp,
        tmp / "run",
        "logger=none",
        *(f"data.path={write_jsonl(tmp / 'train.jsonl', coding_rows(40, 't'))}", "data.train_size=null"),
        f"data.eval_path={evaluation}",
        *(f"model.name_or_path={tiny_bert}", "model.lora_top_layers=null", "model.max_length=32"),
        "trainer.max_epochs=1",
    )
    predict.main([f"run={tmp / 'run'}", f"input={evaluation}", f"output={tmp / 'own.jsonl'}"])
    return tmp / "run", tmp / "own.jsonl"


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_runs_own_predictions_score_to_its_tuned_metrics(run_and_predictions):
    run, own = run_and_predictions
    report = evaluate.evaluate(
        evaluate.parse_args(evaluate.EvaluateArgs, [f"run={run}", f"predictions={own}"], "")
    )
    metrics = json.loads((run / "metrics.json").read_text())
    tuned = metrics["tuned"]
    assert report["tuned_reproduced"] and report["metrics"]["tuned"] == pytest.approx(tuned, abs=1e-12)
    assert report["intervals"]["tuned"] == metrics["intervals"]["tuned"]  # same seed, same resamples
    assert report["metrics"]["predictions"] == report["metrics"]["tuned"]
    assert all(value == 0 for value in report["delta"].values())
    assert report["intervals"]["delta"]["micro_f1"] == [0.0, 0.0]
    assert (report["answered"], report["missing"]["n"], report["unknown"]["n"]) == (16, 0, 0)
    table = (run / "evaluations" / "own" / "evaluation.md").read_text()
    assert "| micro_f1 |" in table and "+0.0 | 0.0 to 0.0 |" in table
    assert verify.check(run)[0] == []  # evaluations/ leaves the sealed run intact


def test_a_degraded_file_shows_the_drop_and_names_missing_and_unknown_ids(run_and_predictions, capsys):
    run, own = run_and_predictions
    rows = _lines(own)
    assert any(row["codes"] for row in rows)  # the tuned model predicts codes to take away
    degraded = [{**row, "codes": []} if i % 2 else row for i, row in enumerate(rows[3:])]
    worse = write_jsonl(own.parent / "worse.jsonl", [*degraded, {"id": "stranger", "codes": ["I10"]}])
    evaluate.main(["--predictions", str(worse), "--run", str(run), "--name=vendor"])
    report = json.loads((run / "evaluations" / "vendor" / "evaluation.json").read_text())
    assert report["missing"] == {"n": 3, "ids": ["e0", "e1", "e2"], "scored_as": "no answer"}
    assert report["unknown"]["ids"] == ["stranger"] and report["answered"] == 13
    tuned, theirs = report["metrics"]["tuned"]["micro_f1"], report["metrics"]["predictions"]["micro_f1"]
    assert theirs < tuned and report["delta"]["micro_f1"] == pytest.approx(100 * (theirs - tuned), abs=1e-3)
    low, high = report["intervals"]["delta"]["micro_f1"]
    assert low <= report["delta"]["micro_f1"] <= high and low < 0
    printed = capsys.readouterr().out
    assert "3 missing ids (no line in the file, scored as no answer): e0, e1, e2" in printed
    assert "1 unknown ids" in printed and "stranger" in printed
    with pytest.raises(SystemExit):  # the same name again: kept unless --overwrite
        evaluate.main(["--predictions", str(worse), "--run", str(run), "--name=vendor"])
    evaluate.main(["--predictions", str(worse), "--run", str(run), "--name=vendor", "--overwrite"])


@pytest.mark.parametrize(
    "lines, message",
    [
        (['{"id": "e0", "codes": ["I10"]}', "not json"], r"bad\.jsonl:2: not JSON"),
        (['{"id": "e0", "codes": "I10"}'], r"bad\.jsonl:1: 'codes' = I10; each line needs \"codes\""),
        (['{"codes": ["I10"]}'], r"bad\.jsonl:1: no 'id' field"),
        (['{"id": "e0", "codes": []}', '{"id": "e0", "codes": []}'], r"id 'e0' again \(first on line 1\)"),
        (['{"id": "x1", "codes": []}'], "none of its 1 ids is in the run's evaluation split"),
        ([], "no predictions in the file"),
    ],
)
def test_a_bad_file_stops_with_a_message_naming_the_line(run_and_predictions, tmp_path, lines, message):
    run, _ = run_and_predictions
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(line + "\n" for line in lines))
    with pytest.raises(MedtuneError, match=message):
        evaluate.evaluate(
            evaluate.parse_args(evaluate.EvaluateArgs, [f"run={run}", f"predictions={bad}"], "")
        )
    assert not (run / "evaluations" / "bad").exists()


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(MedtuneError, match="missing predictions="):
        evaluate.main.__wrapped__(["--run", str(tmp_path)])
    with pytest.raises(MedtuneError, match="directory not found"):
        evaluate.main.__wrapped__(["--run", str(tmp_path / "nope"), "--predictions", "p.jsonl"])


def test_summary_and_generative_coding_outputs_score_as_their_tasks_score(tmp_path, monkeypatch):
    """The hooks of the other scoring tasks: a line's output in the form score() takes, no line
    scored as no answer, a malformed field named."""
    monkeypatch.setenv("MEDTUNE_CACHE_DIR", str(tmp_path / "cache"))
    small = (
        "data.synthetic.n_train=30",
        "data.synthetic.n_eval=12",
        "data.synthetic.val_size=6",
        "data.train_size=20",
    )
    summaries = make_task(compose_config("task=summarize_radiology", *small))
    summaries.check_data()
    rows = summaries.rows.eval
    perfect = [summaries.prediction_output({"id": r["id"], "summary": r["summary"]}, "f:1") for r in rows]
    assert summaries.score(rows, perfect)["rougeL"] == 1.0
    assert summaries.score(rows, [summaries.prediction_output(None, "")] * len(rows))["rougeL"] == 0.0
    with pytest.raises(MedtuneError, match="f:3: 'summary' = None"):
        summaries.prediction_output({"id": "x", "summary": None}, "f:3")
    coding = make_task(compose_config("task=coding", "model=tiny_llama", *small))
    coding.check_data()
    rows = coding.rows.eval
    outputs = [coding.prediction_output({"codes": [c.lower() for c in r["codes"]]}, "f") for r in rows]
    assert coding.score(rows, outputs)["micro_f1"] == 1.0  # "e11.9" read as E11.9
    assert coding.score(rows, [coding.prediction_output(None, "")] * len(rows))["micro_f1"] == 0.0
