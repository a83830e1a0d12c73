"""python -m src.serve run=<run dir or export> [port=8000]: trained adapters over HTTP.

Several at once: runs=[<dir>,<dir>] (each named by its task, or <task>-<dir name> when two
share a task) or adapters.<name>=<dir> (your names); runs on one base model share it, their
adapters switched per request. Endpoints (src/serving.py): POST /v1/<name>/predict,
POST /v1/<name>/predict_batch, GET /health, GET /v1/adapters, the OpenAPI page at /docs.
Optional: host=127.0.0.1 (0.0.0.0 to listen on every interface), device=auto|cpu|cuda,
batch_size=32 (inputs per forward pass), max_batch=64 (inputs per request),
max_body_bytes=2000000 (larger requests get 413).
"""

from __future__ import annotations

import logging
import re
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

import transformers
import uvicorn
from omegaconf import DictConfig

from src.console import console
from src.errors import MedtuneError, exit_on_user_error
from src.inference import load_predictors, parse_args, read_meta
from src.paths import keep_private, private_from_env
from src.serving import NAME, create_app

USAGE = "python -m src.serve run=<run dir> | runs=[<dir>,<dir>] | adapters.<name>=<dir> [port=8000]"


@dataclass
class ServeArgs:
    run: str | None = None
    runs: list[str] = field(default_factory=list)
    adapters: dict[str, str] = field(default_factory=dict)  # name -> run dir or export
    host: str = "127.0.0.1"
    port: int = 8000
    device: str = "auto"  # auto: the GPU when there is one
    batch_size: int = 32
    max_batch: int = 64
    max_body_bytes: int = 2_000_000


class PathOnly(logging.Filter):
    """Strips the query string from uvicorn's access log lines: a client may put text there."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5:  # client, method, path, http, status
            args = list(record.args)
            args[2] = str(args[2]).split("?", 1)[0]
            record.args = tuple(args)
        return True


def named_runs(args: DictConfig) -> dict[str, Path]:
    """name -> run dir: adapters.<name> as given, run/runs named by their task (plus the dir name
    when two share a task)."""
    named = {name: Path(path) for name, path in args.adapters.items()}
    unnamed = [Path(path) for path in ([args.run] if args.run else []) + list(args.runs)]
    if not named and not unnamed:
        raise MedtuneError(f"no run to serve; usage: {USAGE}")
    tasks = [read_meta(path).get("task") or "adapter" for path in unnamed]
    for path, task in zip(unnamed, tasks, strict=True):
        name = task if tasks.count(task) == 1 else f"{task}-{re.sub(r'[^A-Za-z0-9_-]', '_', path.name)}"
        if name in named:
            raise MedtuneError(
                f"two adapters would be named {name!r} ({named[name]} and {path}); "
                "name them yourself with adapters.<name>=<run dir>"
            )
        named[name] = path
    for name in named:
        if not NAME.match(name):
            raise MedtuneError(f"adapters.{name}: a name is letters, digits, '_' and '-' (it is in the URL)")
    return named


def check_args(args: DictConfig) -> None:
    for key in ("batch_size", "max_batch", "max_body_bytes"):
        if args[key] < 1:
            raise MedtuneError(f"{key} must be a positive integer, got {args[key]}")
    if not 0 <= args.port <= 65535:
        raise MedtuneError(f"port={args.port} is not a TCP port (0-65535)")
    with socket.socket() as probe:  # before minutes of model loading, not after
        try:
            probe.bind((args.host, args.port))
        except OSError as err:
            raise MedtuneError(
                f"host={args.host} port={args.port}: cannot listen there ({err.strerror}); "
                "choose another port= (or host=)"
            ) from None


def serve(args: DictConfig) -> None:
    check_args(args)
    paths = named_runs(args)
    predictors = load_predictors(paths, args.device)
    app = create_app(predictors, paths, args.batch_size, args.max_batch, args.max_body_bytes)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="info")
    logging.getLogger("uvicorn.access").addFilter(PathOnly())  # after Config, which sets up logging
    base = f"http://{args.host}:{args.port}"
    for name, predictor in predictors.items():
        fields = ", ".join(predictor.meta["data"]["columns"])
        console.print(f"{name}: POST {base}/v1/{name}/predict ({fields}) from {paths[name]}")
    console.print(f"on {next(iter(predictors.values())).device}; OpenAPI page: {base}/docs")
    uvicorn.Server(config).run()


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    keep_private(private_from_env())
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    serve(parse_args(ServeArgs, sys.argv[1:] if argv is None else argv, USAGE))


if __name__ == "__main__":
    main()
