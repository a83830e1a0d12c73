"""The HTTP service of python -m src.serve: a FastAPI app over any task's predictors.

Per adapter <name>: POST /v1/<name>/predict (one input) and POST /v1/<name>/predict_batch
({"inputs": [...]}, at most max_batch); GET /health, GET /v1/adapters (task, base model, model
card, manifest hash of each), the OpenAPI page at /docs. Request schemas are built from each
predictor's input fields (meta["data"]["columns"]: "text" for coding and summaries); the
response holds whatever the task's predictions() returns. FastAPI because it checks typed
request schemas with pydantic, writes the OpenAPI page from them, and runs blocking model calls
in a threadpool; uvicorn is its usual server.

An input the task's predictor refuses (e.g. eligibility criteria text that lists no criterion)
gets a 422 with its message, which names the input row (counted from 1) and the field.
Note text is never logged: bad requests are answered without echoing their input, and the
access log (src.serve) carries method, path without query string, and status only.
"""

import re
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model
from pydantic_core import PydanticCustomError
from starlette.concurrency import run_in_threadpool

from src.data.caches import sha256_file
from src.errors import MedtuneError
from src.inference import Predictor

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")  # a path segment and an OpenAPI schema name


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("empty_text", "is empty (or only whitespace): send the text to read")
    return value


Text = Annotated[str, AfterValidator(_not_blank)]


class Prediction(BaseModel):
    id: str | None = Field(None, description="the request's id, echoed")
    prediction: dict[str, Any] = Field(description="the prediction, as the task's predictor returns it")


class PredictResponse(Prediction):
    adapter: str


class BatchResponse(BaseModel):
    adapter: str
    predictions: list[Prediction] = Field(description="one per input, in input order")


class AdapterInfo(BaseModel):
    name: str
    task: str
    task_class: str
    base_model: str
    input_fields: list[str]
    model_card: str | None = Field(description="the run's MODEL_CARD.md; null for an export")
    manifest_sha256: str | None = Field(description="sha256 of the run's manifest.json; null if none")


class Health(BaseModel):
    status: str
    adapters: list[str]


def adapter_info(name: str, path: Path, meta: dict) -> AdapterInfo:
    """What GET /v1/adapters says about one loaded run or export (a run dir holds MODEL_CARD.md and
    manifest.json, whose hash `python -m src.verify` checks the run against)."""
    card, manifest = path / "MODEL_CARD.md", path / "manifest.json"
    return AdapterInfo(
        name=name,
        task=meta.get("task", ""),
        task_class=meta.get("task_class", ""),
        base_model=meta.get("base_model", ""),
        input_fields=list(meta["data"]["columns"]),
        model_card=card.read_text(encoding="utf-8") if card.is_file() else None,
        manifest_sha256=sha256_file(manifest) if manifest.is_file() else None,
    )


def create_app(
    predictors: dict[str, Predictor],
    paths: dict[str, Path],
    batch_size: int = 32,
    max_batch: int = 64,
    max_body_bytes: int = 2_000_000,
) -> FastAPI:
    """The service over `predictors` (name -> predictor; paths: name -> its run dir or export)."""
    for name in predictors:
        if not NAME.match(name):
            raise ValueError(f"adapter name {name!r}: use letters, digits, '_' and '-'")
    app = FastAPI(
        title="medtune",
        summary="Trained medtune adapters over HTTP",
        description="Note text is never logged. Each adapter's input fields are its run's data columns.",
    )
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    infos = [adapter_info(name, paths[name], predictor.meta) for name, predictor in predictors.items()]

    @app.get("/health", response_model=Health)
    async def health() -> Health:
        return Health(status="ok", adapters=list(predictors))

    @app.get("/v1/adapters", response_model=list[AdapterInfo])
    async def adapters() -> list[AdapterInfo]:
        return infos

    for name, predictor in predictors.items():
        _add_adapter(app, name, predictor, batch_size, max_batch)

    # After the adapters' own routes, so these catch only names that are not loaded.
    async def unknown(name: str) -> JSONResponse:
        loaded = ", ".join(predictors)
        detail = f"adapter: no adapter named {name!r} is loaded; loaded: {loaded} (GET /v1/adapters)"
        return JSONResponse(status_code=404, content={"detail": detail})

    app.post("/v1/{name}/predict", include_in_schema=False)(unknown)
    app.post("/v1/{name}/predict_batch", include_in_schema=False)(unknown)
    return app


def _add_adapter(app: FastAPI, name: str, predictor: Predictor, batch_size: int, max_batch: int) -> None:
    fields = list(predictor.meta["data"]["columns"])
    if "id" in fields:  # the request's own id field
        raise ValueError(f"adapter {name}: an input field named 'id' is not supported")
    title = "".join(part.capitalize() for part in re.split(r"[_-]", name))
    input_model = create_model(
        f"{title}Input",
        __config__=ConfigDict(extra="forbid"),
        id=(str | None, Field(None, description="any id of yours, echoed in the response")),
        **{field: (Text, Field(description=f"the {field} to read")) for field in fields},
    )
    batch_model = create_model(
        f"{title}Batch",
        __config__=ConfigDict(extra="forbid"),
        inputs=(list[input_model], Field(min_length=1, max_length=max_batch)),
    )
    lock = threading.Lock()  # one model call at a time: tokenizers and models are not thread-safe

    def run(rows: list[BaseModel]) -> list[Prediction]:
        inputs = [{field: getattr(row, field) for field in fields} for row in rows]
        try:
            with lock:
                outputs = predictor.predictions(inputs, batch_size)
        except MedtuneError as err:  # an input the task refuses (its message names the row and field)
            raise HTTPException(status_code=422, detail=str(err)) from None
        return [Prediction(id=row.id, prediction=out) for row, out in zip(rows, outputs, strict=True)]

    async def predict(body: input_model) -> PredictResponse:  # type: ignore[valid-type]
        [prediction] = await run_in_threadpool(run, [body])
        return PredictResponse(adapter=name, **prediction.model_dump())

    async def predict_batch(body: batch_model) -> BatchResponse:  # type: ignore[valid-type]
        return BatchResponse(adapter=name, predictions=await run_in_threadpool(run, body.inputs))

    task = predictor.meta.get("task", "")
    summary = f"{task}: one input"
    app.post(f"/v1/{name}/predict", response_model=PredictResponse, tags=[name], summary=summary)(predict)
    app.post(
        f"/v1/{name}/predict_batch",
        response_model=BatchResponse,
        tags=[name],
        summary=f"{task}: up to {max_batch} inputs",
    )(predict_batch)


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """422 naming each bad field (e.g. "inputs.2.text: Field required"), without pydantic's echo
    of the input, which would hold note text."""
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        where = [str(part) for part in error["loc"][1:]] if error["type"] != "json_invalid" else []
        errors.append({"field": ".".join(where) or "body", "message": error["msg"], "type": error["type"]})
    detail = "; ".join(f"{error['field']}: {error['message']}" for error in errors)
    return JSONResponse(status_code=422, content={"detail": detail, "errors": errors})


class BodyLimit:
    """ASGI middleware: 413 for a body over max_bytes, by its Content-Length or, when it is
    streamed without one, as soon as the bytes received pass the limit."""

    def __init__(self, app: Callable[..., Awaitable[None]], max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, scope: dict, receive: Callable, send: Callable) -> None:
        detail = (
            f"body: request body over max_body_bytes={self.max_bytes} bytes; send fewer inputs per "
            "request or start the server with a larger max_body_bytes="
        )
        await JSONResponse(status_code=413, content={"detail": detail})(scope, receive, send)
