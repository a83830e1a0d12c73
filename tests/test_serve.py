"""python -m src.serve over real HTTP on 127.0.0.1: two coding adapters on one tiny base model."""

from __future__ import annotations

import json
import shutil
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import torch
from conftest import NOTES, coding_rows, running_server, train_here, write_jsonl
from safetensors.torch import load_file, save_file

from src.data.caches import sha256_file
from src.errors import MedtuneError
from src.inference import load_predictor, load_predictors, parse_args
from src.serve import ServeArgs, serve
from src.tasks.coding.predictor import SharedPredictor

TEXTS = [text for text, _ in NOTES]
MARKER = "Zebrafinch-7731 hemangioma"  # note text that must never reach the server's log
MAX_BODY = 20_000


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_bert) -> dict[str, Path]:
    """Run "a" trained for real; "b" its copy with other adapter weights (as a second run on the
    same base would have), without the manifest and card a copy would falsify."""
    tmp = tmp_path_factory.mktemp("serve")
    train_here(
        tmp,
        tmp / "a",
        "logger=none",
        *(f"data.path={write_jsonl(tmp / 'train.jsonl', coding_rows(24, 't'))}", "data.train_size=null"),
        f"data.eval_path={write_jsonl(tmp / 'eval.jsonl', coding_rows(8, 'e'))}",
        *(f"model.name_or_path={tiny_bert}", "model.lora_top_layers=null", "model.max_length=32"),
        *("data.max_chunks=2", "trainer.max_epochs=1"),
    )
    shutil.copytree(tmp / "a", tmp / "b")
    (tmp / "b" / "manifest.json").unlink()
    (tmp / "b" / "MODEL_CARD.md").unlink()
    weights = tmp / "b" / "adapter" / "adapter_model.safetensors"
    torch.manual_seed(1)
    save_file({k: v + 0.5 * torch.randn_like(v) for k, v in load_file(weights).items()}, weights)
    for run in ("a", "b"):  # three codes with their scores: answers that tell the adapters apart
        meta_file = tmp / run / "adapter" / "medtune.json"
        meta = json.loads(meta_file.read_text())
        meta["decision"] = {"kind": "top_k", "threshold": None, "k": 3}
        meta_file.write_text(json.dumps(meta))
    return {"a": tmp / "a", "b": tmp / "b"}


@pytest.fixture(scope="module")
def expected(runs) -> dict[str, list[dict]]:
    """Each adapter's predictions from its own Predictor, loaded alone (merged)."""
    inputs = [{"text": text} for text in TEXTS]
    return {name: load_predictor(path, "cpu").predictions(inputs) for name, path in runs.items()}


@pytest.fixture(scope="module")
def server(runs, tmp_path_factory):
    """The real command line on a free port; yields (base url, its log file)."""
    log = tmp_path_factory.mktemp("server-log") / "server.log"
    args = [f"adapters.{name}={path}" for name, path in runs.items()]
    args += ["device=cpu", "max_batch=8", f"max_body_bytes={MAX_BODY}", "batch_size=4"]
    with running_server(args, log) as url:
        yield url, log


def same(got: dict, want: dict) -> None:
    """Codes equal, scores to 1e-5: a shared base runs the adapter unmerged (~1e-7 apart)."""
    assert got["codes"] == want["codes"]
    assert got["scores"] == pytest.approx(want["scores"], abs=1e-5)


def test_predict_equals_the_direct_predictor(server, expected):
    url, _ = server
    assert expected["a"] != expected["b"]  # otherwise switching adapters could not be seen
    for name, predictions in expected.items():
        for i, (text, want) in enumerate(zip(TEXTS, predictions, strict=True)):
            response = httpx.post(f"{url}/v1/{name}/predict", json={"id": f"n{i}", "text": text})
            assert response.status_code == 200, response.text
            body = response.json()
            assert (body["adapter"], body["id"]) == (name, f"n{i}")
            same(body["prediction"], want)


def test_batch_keeps_input_order(server, expected):
    url, _ = server
    inputs = [{"id": str(i), "text": text} for i, text in enumerate(TEXTS)][::-1]
    response = httpx.post(f"{url}/v1/b/predict_batch", json={"inputs": inputs})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["id"] for p in predictions] == [row["id"] for row in inputs]
    for p in predictions:
        same(p["prediction"], expected["b"][int(p["id"])])


def test_concurrent_requests_get_their_own_adapter_and_note(server, expected):
    url, _ = server
    jobs = [(name, i) for i in range(len(TEXTS)) for name in ("a", "b")] * 2

    def call(job: tuple[str, int]) -> tuple[str, int, dict]:
        name, i = job
        if i % 3 == 0:  # some batches among the single requests
            body = {"inputs": [{"text": TEXTS[i]}, {"text": TEXTS[-1]}]}
            response = httpx.post(f"{url}/v1/{name}/predict_batch", json=body, timeout=120)
            return name, i, response.json()["predictions"][0]["prediction"]
        response = httpx.post(f"{url}/v1/{name}/predict", json={"text": TEXTS[i]}, timeout=120)
        return name, i, response.json()["prediction"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, jobs))
    assert len(answers) == len(jobs)
    for name, i, prediction in answers:
        same(prediction, expected[name][i])


def test_health_adapters_and_openapi(server, runs):
    url, _ = server
    assert httpx.get(f"{url}/health").json() == {"status": "ok", "adapters": ["a", "b"]}
    infos = {info["name"]: info for info in httpx.get(f"{url}/v1/adapters").json()}
    a = infos["a"]
    assert (a["task"], a["input_fields"]) == ("coding", ["text"])
    assert a["task_class"].endswith("CodingTask") and Path(a["base_model"]).is_dir()
    assert a["model_card"] == (runs["a"] / "MODEL_CARD.md").read_text()
    assert a["manifest_sha256"] == sha256_file(runs["a"] / "manifest.json")
    assert infos["b"]["model_card"] is None and infos["b"]["manifest_sha256"] is None
    spec = httpx.get(f"{url}/openapi.json").json()
    assert {"/v1/a/predict", "/v1/a/predict_batch", "/v1/b/predict", "/health"} <= set(spec["paths"])
    schema = spec["components"]["schemas"]["AInput"]
    assert schema["required"] == ["text"] and set(schema["properties"]) == {"id", "text"}
    assert "swagger" in httpx.get(f"{url}/docs").text.lower()


@pytest.mark.parametrize(
    ("path", "body", "status", "named"),
    [
        ("a/predict", {"id": "x"}, 422, "text: Field required"),
        ("a/predict", {"text": "  \n"}, 422, "text: is empty"),
        ("a/predict", {"text": "ok", "txt": "x"}, 422, "txt: Extra inputs are not permitted"),
        ("a/predict", {"text": 3}, 422, "text: Input should be a valid string"),
        ("a/predict_batch", {"inputs": [{"text": "ok"}, {}]}, 422, "inputs.1.text: Field required"),
        ("a/predict_batch", {"inputs": []}, 422, "inputs: List should have at least 1 item"),
        ("a/predict_batch", {"inputs": [{"text": "ok"}] * 9}, 422, "inputs: List should have at most 8"),
        ("nope/predict", {"text": "ok"}, 404, "no adapter named 'nope' is loaded; loaded: a, b"),
    ],
)
def test_bad_requests_name_the_field(server, path, body, status, named):
    url, _ = server
    response = httpx.post(f"{url}/v1/{path}", json=body)
    assert response.status_code == status
    assert named in response.json()["detail"]


def test_invalid_json_and_oversized_bodies(server):
    url, _ = server
    as_json = {"content-type": "application/json"}
    response = httpx.post(f"{url}/v1/a/predict", content=b'{"text": ', headers=as_json)
    assert response.status_code == 422 and response.json()["detail"].startswith("body: JSON decode error")
    big = json.dumps({"text": "x" * MAX_BODY}).encode()
    response = httpx.post(f"{url}/v1/a/predict", content=big, headers=as_json)
    assert response.status_code == 413 and f"max_body_bytes={MAX_BODY}" in response.json()["detail"]
    # Streamed without a Content-Length: counted as it arrives.
    chunks = iter([b'{"text": "', *[b"x" * 4000] * 6, b'"}'])
    response = httpx.post(f"{url}/v1/a/predict", content=chunks, headers=as_json)
    assert response.status_code == 413
    assert httpx.post(f"{url}/v1/a/predict", json={"text": "x" * 1000}).status_code == 200  # under the limit


def test_note_text_never_reaches_the_log(server):
    url, log = server
    assert httpx.post(f"{url}/v1/a/predict", json={"text": MARKER}).status_code == 200
    assert httpx.post(f"{url}/v1/a/predict_batch", json={"inputs": [{"text": MARKER}, {}]}).status_code == 422
    assert httpx.post(f"{url}/v1/a/predict", json={"text": MARKER, "extra": MARKER}).status_code == 422
    assert httpx.post(f"{url}/v1/a/predict?text={MARKER}", json={"text": MARKER}).status_code == 200
    assert httpx.post(f"{url}/v1/a/predict", json={"text": MARKER * 2000}).status_code == 413
    time.sleep(0.5)
    text = log.read_text()
    assert '"POST /v1/a/predict HTTP/1.1" 200' in text  # the access log is on, without the query
    assert "Zebrafinch" not in text


def test_one_base_model_is_shared(runs):
    """Both runs in one AdapterSet: one copy of the base weights, each adapter switched in."""
    predictors = load_predictors(runs, "cpu")
    a, b = predictors["a"], predictors["b"]
    assert isinstance(a, SharedPredictor) and a.model is b.model and a.adapters is b.adapters


def test_command_line_errors(runs, tmp_path):
    def args(*argv: str):
        return parse_args(ServeArgs, list(argv), "usage")

    with pytest.raises(MedtuneError, match="no run to serve"):
        serve(args("port=0"))
    with pytest.raises(MedtuneError, match="directory not found"):
        serve(args(f"run={tmp_path / 'missing'}", "port=0"))
    with pytest.raises(MedtuneError, match="max_batch must be a positive integer"):
        serve(args(f"run={runs['a']}", "max_batch=0"))
    with pytest.raises(MedtuneError, match="two adapters would be named 'coding'"):
        serve(args(f"run={runs['a']}", f"adapters.coding={runs['b']}", "port=0"))
    with pytest.raises(MedtuneError, match="adapters.x y: a name is letters"):
        serve(args(f"adapters.x y={runs['a']}", "port=0"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MedtuneError, match=f"port={port}: cannot listen there"):
            serve(args(f"run={runs['a']}", f"port={port}"))
