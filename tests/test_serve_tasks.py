"""python -m src.serve for every task's predictor, over real HTTP on 127.0.0.1: an eligibility
classifier (criteria reader), a generative summary run (tiny T5) and a coding classifier in one
server, each named by its task, answering as its predictor does when loaded alone."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import torch
from conftest import NOTES, coding_rows, compose_config, running_server, write_jsonl
from safetensors.torch import load_file, save_file

from src.data.caches import sha256_file
from src.inference import load_predictor
from src.run_dir import write_resolved_config
from src.tasks.eligibility.synthetic import generate_eligibility_rows
from src.train import train

MARKER = "Zebrafinch-7731 hemangioma"  # input text that must never reach the server's log
NO_CRITERION = "Inclusion Criteria:\nExclusion Criteria:"  # headings only: refused by the predictor
SUMMARY = "summarize_radiology"
PAIR = {"patient": "Age: 50.", "criteria": "Inclusion Criteria:\n- Age 18 or older"}
REPORTS = [
    "CT chest: no acute findings. 4 mm nodule in the right upper lobe.",
    "MRI brain: small acute infarct in the left frontal lobe.",
    "Chest X-ray: mild cardiomegaly, no effusion.",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_bert) -> dict[str, Path]:
    """Task name -> run dir, trained in this process (seconds saved over python -m src.train)."""
    tmp = tmp_path_factory.mktemp("serve-tasks")
    write_jsonl(tmp / "pairs.jsonl", generate_eligibility_rows(24, 0, "t"))
    write_jsonl(tmp / "pairs-eval.jsonl", generate_eligibility_rows(8, 0, "e"))
    write_jsonl(tmp / "notes.jsonl", coding_rows(16, "t"))
    write_jsonl(tmp / "notes-eval.jsonl", coding_rows(8, "e"))
    bert = (f"model.name_or_path={tiny_bert}", "data.train_size=null")
    settings = {
        "eligibility": (
            *("task=eligibility", "task.reader=criteria", "task.max_length=128", *bert, "data.val_size=8"),
            *(f"data.path={tmp / 'pairs.jsonl'}", f"data.eval_path={tmp / 'pairs-eval.jsonl'}"),
        ),
        SUMMARY: (
            *(f"task={SUMMARY}", "model=tiny_t5", "task.max_new_tokens=8", "data.train_size=8"),
            *("data.synthetic.n_train=24", "data.synthetic.n_eval=8", "data.synthetic.eval_size=4"),
            *("data.synthetic.val_size=4", "loop.eval_batch_size=4"),
        ),
        "coding": (
            *(*bert, "model.lora_top_layers=null", "model.max_length=32", "data.max_chunks=2"),
            *(f"data.path={tmp / 'notes.jsonl'}", f"data.eval_path={tmp / 'notes-eval.jsonl'}"),
        ),
    }
    for task, overrides in settings.items():
        cfg = compose_config("logger=none", "trainer.max_epochs=1", f"paths.cache_dir={tmp}/c", *overrides)
        write_resolved_config(cfg, tmp / task)  # as python -m src.train does before training
        train(cfg, tmp / task)
    # A random T5 with a one-epoch adapter writes empty summaries, which could not tell one input's
    # answer from another's: other adapter weights (a second run's), without the manifest they falsify.
    weights = tmp / SUMMARY / "adapter" / "adapter_model.safetensors"
    torch.manual_seed(1)
    save_file({k: v + 0.5 * torch.randn_like(v) for k, v in load_file(weights).items()}, weights)
    (tmp / SUMMARY / "manifest.json").unlink()
    return {task: tmp / task for task in settings}


@pytest.fixture(scope="module")
def inputs(runs) -> dict[str, list[dict]]:
    pairs = [json.loads(line) for line in (runs["eligibility"].parent / "pairs-eval.jsonl").open()][:3]
    return {
        "eligibility": [{"patient": pair["patient"], "criteria": pair["criteria"]} for pair in pairs],
        SUMMARY: [{"text": text} for text in REPORTS],
        "coding": [{"text": text} for text, _ in NOTES[:3]],
    }


@pytest.fixture(scope="module")
def expected(runs, inputs) -> dict[str, dict[str, list[dict]]]:
    """Each run's predictions by its own predictor, loaded alone: one input at a time ("single")
    and all in one call at the server's batch_size ("batch")."""
    out = {}
    for task, path in runs.items():
        predictor = load_predictor(path, "cpu")
        single = [predictor.predictions([row])[0] for row in inputs[task]]
        out[task] = {"single": single, "batch": predictor.predictions(inputs[task], 4)}
    return out


@pytest.fixture(scope="module")
def server(runs, tmp_path_factory):
    """One server for all three runs, named by their tasks (runs=[...]); yields (url, log file)."""
    log = tmp_path_factory.mktemp("server-log") / "server.log"
    args = [f"runs=[{','.join(str(path) for path in runs.values())}]", "device=cpu", "batch_size=4"]
    with running_server(args, log) as url:
        yield url, log


def same(got, want) -> None:
    """Equal, floats to float rounding (another process may sum in another order)."""
    if isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6)
    elif isinstance(want, dict):
        assert set(got) == set(want)
        for key in want:
            same(got[key], want[key])
    elif isinstance(want, list):
        assert len(got) == len(want)
        for mine, theirs in zip(got, want, strict=True):
            same(mine, theirs)
    else:
        assert got == want


def test_predictions_are_plain_json(expected):
    for task, predictions in expected.items():
        for prediction in predictions["single"] + predictions["batch"]:
            assert json.loads(json.dumps(prediction, allow_nan=False)) == prediction, task
    eligibility, summary = expected["eligibility"]["single"], expected[SUMMARY]["single"]
    assert all(set(p) == {"decision", "score", "criteria"} and p["criteria"] for p in eligibility)
    assert len({p["summary"] for p in summary}) == len(summary)  # answers that tell inputs apart


def test_each_task_answers_as_its_predictor(server, inputs, expected):
    url, _ = server
    for task, rows in inputs.items():
        for i, (row, want) in enumerate(zip(rows, expected[task]["single"], strict=True)):
            response = httpx.post(f"{url}/v1/{task}/predict", json={"id": f"r{i}", **row}, timeout=120)
            assert response.status_code == 200, response.text
            body = response.json()
            assert (body["adapter"], body["id"]) == (task, f"r{i}")
            same(body["prediction"], want)
        response = httpx.post(f"{url}/v1/{task}/predict_batch", json={"inputs": rows}, timeout=120)
        assert response.status_code == 200, response.text
        same([p["prediction"] for p in response.json()["predictions"]], expected[task]["batch"])


def test_concurrent_requests_across_tasks(server, inputs, expected):
    """Model calls run in a threadpool, one at a time per adapter: three tasks at once."""
    url, _ = server
    jobs = [(task, i) for task in inputs for i in range(3)] * 2

    def call(job: tuple[str, int]) -> dict:
        task, i = job
        response = httpx.post(f"{url}/v1/{task}/predict", json=inputs[task][i], timeout=120)
        assert response.status_code == 200, response.text
        return response.json()["prediction"]

    with ThreadPoolExecutor(6) as pool:
        for (task, i), prediction in zip(jobs, pool.map(call, jobs), strict=True):
            same(prediction, expected[task]["single"][i])


def test_adapters_and_request_schemas_name_each_tasks_fields(server, runs):
    url, _ = server
    infos = {info["name"]: info for info in httpx.get(f"{url}/v1/adapters").json()}
    assert {name: (info["task"], info["input_fields"]) for name, info in infos.items()} == {
        "eligibility": ("eligibility", ["patient", "criteria"]),
        SUMMARY: (SUMMARY, ["text"]),
        "coding": ("coding", ["text"]),
    }
    assert infos[SUMMARY]["task_class"].endswith("SummarizationTask")
    assert infos["eligibility"]["manifest_sha256"] == sha256_file(runs["eligibility"] / "manifest.json")
    schemas = httpx.get(f"{url}/openapi.json").json()["components"]["schemas"]
    assert schemas["EligibilityInput"]["required"] == ["patient", "criteria"]
    assert schemas["SummarizeRadiologyInput"]["required"] == ["text"]


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("eligibility/predict", {"patient": "Age: 50."}, "criteria: Field required"),
        ("eligibility/predict", {**PAIR, "criteria": " "}, "criteria: is empty"),
        ("eligibility/predict", {"text": "Age: 50."}, "text: Extra inputs are not permitted"),
        ("eligibility/predict_batch", {"inputs": [PAIR, {"patient": "a"}]}, "inputs.1.criteria: Field req"),
        (f"{SUMMARY}/predict", {"patient": "x"}, "text: Field required"),
        # Refused by the predictor, not the schema: criteria headings without a criterion.
        ("eligibility/predict", {**PAIR, "criteria": NO_CRITERION}, "input row 1: the criteria text holds"),
    ],
)
def test_bad_requests_name_the_field(server, path, body, named):
    url, _ = server
    response = httpx.post(f"{url}/v1/{path}", json=body, timeout=120)
    assert response.status_code == 422, response.text
    assert named in response.json()["detail"]


def test_input_text_never_reaches_the_log(server, inputs):
    url, log = server
    long_report = f"{MARKER}. " * 200  # longer than the summary model reads: a warning is logged
    pair = inputs["eligibility"][0]
    calls = [
        (SUMMARY, {"text": long_report}, 200),
        ("eligibility", {**pair, "patient": f"{MARKER}\n{pair['patient']}"}, 200),
        ("eligibility", {"patient": MARKER, "criteria": NO_CRITERION}, 422),
    ]
    for task, body, status in calls:
        assert httpx.post(f"{url}/v1/{task}/predict", json=body, timeout=120).status_code == status
    time.sleep(0.5)
    text = log.read_text()
    assert "1 of 1 inputs are longer than the model reads" in text  # the predictors' warnings are on
    assert '"POST /v1/eligibility/predict HTTP/1.1" 422' in text
    assert "Zebrafinch" not in text
