"""Serving speed of a coding run: notes/s and latency over HTTP against the Predictor called directly.

    python -m bench.serve --run <run dir> [--batches 6] [--clients 8]

Scores the same --batches x 32 evaluation notes of the run (from its manifest) five ways, one
after another: the Predictor in this process at batch 1 and batch 32; python -m src.serve
(started here in a subprocess on a free port, device=cpu) called by one client at batch 1
(/predict) and batch 32 (/predict_batch); and --clients clients at batch 1 at once. Latency is
per call (p50, p95); notes/s is notes over the row's wall time. Prints a markdown table and,
last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import transformers

from src.data.records import read_table
from src.inference import load_predictor
from src.manifest import read_manifest
from src.paths import ROOT

BATCH = 32


def eval_notes(run: Path, n: int) -> list[str]:
    """The first n notes of the run's evaluation file (cycled if it has fewer)."""
    manifest = read_manifest(run)
    entry = manifest["data"]["files"]["eval"]
    path = Path(entry["path"])
    path = path if path.is_absolute() else Path(manifest["data"]["root"]) / path
    texts = [str(row["text"]) for _, row in read_table(path)]
    return [texts[i % len(texts)] for i in range(n)]


def measure(call: Callable[[list[str]], object], batches: list[list[str]], clients: int = 1) -> dict:
    """notes/s and per-call latency percentiles of call(batch) over `batches`."""
    call(batches[0])  # warm-up: first-call allocations and lazy imports are not serving cost

    def timed(batch: list[str]) -> float:
        start = time.perf_counter()
        call(batch)
        return time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(timed, batches))
    wall = time.perf_counter() - start
    notes = sum(map(len, batches))
    return {
        "notes": notes,
        "notes_per_s": notes / wall,
        "p50_ms": 1000 * float(np.percentile(latencies, 50)),
        "p95_ms": 1000 * float(np.percentile(latencies, 95)),
    }


def start_server(run: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "src.serve", f"run={run}", f"port={port}", "device=cpu"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit(f"python -m src.serve run={run} did not start")


def direct_rows(run: Path, singles: list[list[str]], batches: list[list[str]]) -> dict[str, dict]:
    predictor = load_predictor(run, "cpu")

    def direct(batch: list[str]) -> None:
        predictor.predictions([{"text": text} for text in batch], BATCH)

    return {"direct, batch 1": measure(direct, singles), f"direct, batch {BATCH}": measure(direct, batches)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serve", description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a coding run dir")
    parser.add_argument("--batches", type=int, default=6, help=f"batch-{BATCH} calls (notes / {BATCH})")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients of the last row")
    args = parser.parse_args(argv)
    transformers.utils.logging.set_verbosity_error()  # as src.serve: no per-note tokenizer warnings
    texts = eval_notes(args.run, args.batches * BATCH)  # every row reads the same notes
    singles = [[text] for text in texts]
    batches = [texts[i * BATCH : (i + 1) * BATCH] for i in range(args.batches)]

    rows = direct_rows(args.run, singles, batches)  # freed before the server loads its own copy
    process, url = start_server(args.run)
    try:
        with httpx.Client(base_url=url, timeout=600) as client:

            def one(batch: list[str]) -> None:
                client.post("/v1/coding/predict", json={"text": batch[0]}).raise_for_status()

            def many(batch: list[str]) -> None:
                body = {"inputs": [{"text": t} for t in batch]}
                client.post("/v1/coding/predict_batch", json=body).raise_for_status()

            rows["HTTP, batch 1"] = measure(one, singles)
            rows[f"HTTP, batch {BATCH}"] = measure(many, batches)
            rows[f"HTTP, batch 1, {args.clients} clients"] = measure(one, singles, args.clients)
    finally:
        process.terminate()
        process.wait(timeout=60)

    print("| mode | notes | notes/s | p50 ms | p95 ms |\n|---|---|---|---|---|")
    for mode, row in rows.items():
        figures = f"{row['notes_per_s']:.2f} | {row['p50_ms']:.0f} | {row['p95_ms']:.0f}"
        print(f"| {mode} | {row['notes']} | {figures} |")
    ratios = {
        f"http_over_direct_batch_{n}": rows[f"HTTP, batch {n}"]["notes_per_s"]
        / rows[f"direct, batch {n}"]["notes_per_s"]
        for n in (1, BATCH)
    }
    print(json.dumps({"rows": rows, **{key: round(value, 3) for key, value in ratios.items()}}))


if __name__ == "__main__":
    main()
