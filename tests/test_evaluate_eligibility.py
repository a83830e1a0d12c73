"""python -m src.evaluate on a tiny eligibility classifier run (criteria reader, random 2-layer
BERT): src.predict's own predictions of the evaluation split score to the run's tuned screening
metrics exactly with a zero delta; a degraded file shows the drop and names its missing ids; a
row without a line never helps the file; a bad decision stops naming the line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import compose_config, train_here, write_jsonl

from src import evaluate, predict
from src.errors import MedtuneError
from src.tasks import make_task
from src.tasks.eligibility.synthetic import generate_eligibility_rows

pytestmark = pytest.mark.usefixtures("restore_umask")  # conftest


@pytest.fixture(scope="module")
def run_and_predictions(tmp_path_factory, tiny_bert) -> tuple[Path, Path]:
    """A finished run (40 evaluation pairs: two batches of 32, as evaluation batched them) and
    src.predict's predictions of its evaluation file."""
    tmp = tmp_path_factory.mktemp("evaluate-eligibility")
    train, evaluation = (
        write_jsonl(tmp / f"{name}.jsonl", generate_eligibility_rows(n, 0, name[0]))
        for name, n in (("train", 48), ("eval", 40))
    )
    train_here(
        tmp,
        tmp / "run",
        *("task=eligibility", "task.max_length=128", f"model.name_or_path={tiny_bert}", "logger=none"),
        *(f"data.path={train}", f"data.eval_path={evaluation}", "data.train_size=null", "data.val_size=16"),
        "trainer.max_epochs=1",
    )
    predict.main([f"run={tmp / 'run'}", f"input={evaluation}", f"output={tmp / 'own.jsonl'}"])
    return tmp / "run", tmp / "own.jsonl"


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _evaluate(run: Path, predictions: Path, *args: str) -> dict:
    return evaluate.evaluate(
        evaluate.parse_args(evaluate.EvaluateArgs, [f"run={run}", f"predictions={predictions}", *args], "")
    )


def test_the_runs_own_predictions_score_to_its_tuned_metrics(run_and_predictions):
    run, own = run_and_predictions
    report = _evaluate(run, own)
    metrics = json.loads((run / "metrics.json").read_text())
    assert report["main_metric"] == "wss_at_target"
    assert report["metrics"]["tuned"] == pytest.approx(metrics["tuned"], rel=0, abs=0, nan_ok=True)
    assert report["metrics"]["predictions"] == pytest.approx(metrics["tuned"], rel=0, abs=0, nan_ok=True)
    assert report["tuned_reproduced"] and all(value == 0 for value in report["delta"].values())
    assert report["intervals"]["tuned"] == metrics["intervals"]["tuned"]  # same seed, same resamples
    assert report["intervals"]["delta"]["wss_at_target"] == [0.0, 0.0]
    assert (report["answered"], report["missing"]["n"], report["unknown"]["n"]) == (40, 0, 0)
    table = (run / "evaluations" / "own" / "evaluation.md").read_text()
    assert "| wss_at_target |" in table and "+0.0 | 0.0 to 0.0 |" in table


def test_a_degraded_file_shows_the_drop_and_names_missing_ids(run_and_predictions, capsys):
    run, own = run_and_predictions
    rows = _lines(own)
    gold = {row["id"]: row["label"] for row in _lines(own.parent / "eval.jsonl")}
    flagged = [
        row["id"] for row in rows[3:] if row["decision"] == "eligible" and gold[row["id"]] == "eligible"
    ]
    assert len(flagged) >= 4  # the tuned model finds eligible pairs to take away
    missed = set(flagged[::2])
    degraded = [{**row, "decision": "excluded"} if row["id"] in missed else row for row in rows[3:]]
    worse = write_jsonl(own.parent / "worse.jsonl", degraded)
    evaluate.main(["--predictions", str(worse), "--run", str(run), "--name=vendor"])
    report = json.loads((run / "evaluations" / "vendor" / "evaluation.json").read_text())
    missing = [row["id"] for row in rows[:3]]
    assert report["missing"] == {"n": 3, "ids": missing, "scored_as": "the wrong decision, ranked last"}
    assert report["answered"] == 37 and report["unknown"]["n"] == 0
    tuned, theirs = report["metrics"]["tuned"], report["metrics"]["predictions"]
    assert theirs["recall"] < tuned["recall"] and theirs["wss_at_target"] < tuned["wss_at_target"]
    low, high = report["intervals"]["delta"]["recall"]
    assert low <= report["delta"]["recall"] <= high and high < 0  # every resample loses recall
    printed = capsys.readouterr().out
    named = "3 missing ids (no line in the file, scored as the wrong decision, ranked last): "
    assert named + ", ".join(missing) in printed


def test_a_row_without_a_line_never_helps(run_and_predictions):
    """Scored against any answer it could have had (the right one, excluded with score 0), a row
    without a line lowers or keeps every metric; a line without a score ranks by its decision."""
    run, own = run_and_predictions
    task, _, _ = evaluate.load_run(run)
    rows, answers = task.rows.eval, _lines(own)
    outputs = [task.prediction_output(line, "own") for line in answers]
    right = ["eligible" if row["label"] else "excluded" for row in rows]
    for candidate in (
        [{"decision": "excluded", "score": 0.0}] * len(rows),
        [{"decision": decision, "score": float(decision == "eligible")} for decision in right],
    ):
        for gone in (range(0, 40, 3), range(40)):
            with_line = [
                task.prediction_output(candidate[i], "x") if i in gone else o for i, o in enumerate(outputs)
            ]
            without = [None if i in gone else o for i, o in enumerate(outputs)]
            better, worse = task.score(rows, with_line), task.score(rows, without)
            assert all(worse[k] <= better[k] or math.isnan(better[k]) for k in better), (worse, better)
    nothing = task.score(rows, [None] * len(rows))
    assert (nothing["accuracy"], nothing["recall"], nothing["auroc"]) == (0.0, 0.0, 0.0)
    binary = [task.prediction_output({"decision": line["decision"].upper()}, "x") for line in answers]
    as_scored = [
        task.prediction_output({**line, "score": float(line["decision"] == "eligible")}, "x")
        for line in answers
    ]
    assert task.score(rows, binary) == task.score(rows, as_scored)  # "EXCLUDED" read as excluded
    assert task.score(rows, binary)["accuracy"] == task.score(rows, outputs)["accuracy"]


@pytest.mark.parametrize(
    "line, message",
    [
        (
            '{"decision": "maybe", "score": 0.4}',
            r"bad\.jsonl:2: 'decision' = 'maybe'; .*'eligible' or 'excluded'",
        ),
        ('{"score": 0.4}', r"bad\.jsonl:2: no 'decision' key"),
        (
            '{"decision": "eligible", "score": "high"}',
            r"bad\.jsonl:2: 'score' = 'high'; a finite number",
        ),
        ('{"decision": "eligible", "score": NaN}', r"bad\.jsonl:2: 'score' = 'nan'"),
    ],
)
def test_a_bad_line_stops_with_a_message_naming_it(run_and_predictions, tmp_path, line, message):
    run, own = run_and_predictions
    first, second = (row["id"] for row in _lines(own)[:2])
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": first, "decision": "excluded"}])
    bad.write_text(bad.read_text() + line.replace("{", f'{{"id": "{second}", ', 1) + "\n")
    with pytest.raises(MedtuneError, match=message):
        _evaluate(run, bad)
    assert not (run / "evaluations" / "bad").exists()


def test_generative_eligibility_is_refused_with_the_reason():
    task = make_task(compose_config("task=eligibility", "model=tiny_llama"))
    with pytest.raises(
        MedtuneError, match="does not score generative eligibility runs.*eligibility classifier run"
    ):
        task.prediction_output(None, "")
