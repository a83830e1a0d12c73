"""medtune's training against a plain PyTorch loop and Hugging Face Trainer, in one run.

    python -m bench.compare [--train-size 400] [config overrides...]

The three train the same peft model (the config's model, LoRA and head) on the same notes with
the same batch size, epochs, learning-rate schedule and clipping, one after another, each in its
own process (bench/baselines.py holds the two references):

- medtune: `python -m src.train` itself; its stage timings come from metrics.json;
- plain: a hand-written loop over medtune's own batches (the overhead floor);
- hf_trainer: `transformers.Trainer`, as a user would write it for this model.

It prints a table and, as its last line, one JSON object with the ratios (tracked over time).
Examples/s and tokens/s cover the training stage: from the data in memory to the last epoch's
validation pass, including medtune's one-off pass over the frozen layers. Peak memory is each
process's peak resident set (medtune's includes its base-model evaluation).
Where CUDA is present, a GPU section (bench/gpu_causal.py) follows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from src.paths import ROOT

IMPLEMENTATIONS = ("medtune", "plain", "hf_trainer")
TARGETS = {  # issue 6: ratio name -> (minimum or maximum, value)
    "speedup_vs_trainer": (">=", 1.3),
    "speedup_vs_plain": (">=", 0.95),
    "padding_efficiency": (">=", 0.95),
    "peak_rss_ratio_vs_plain": ("<=", 1.2),
}


def run_measured(command: list[str], log: Path) -> tuple[float, float]:
    """Runs command to completion (output to log); returns (wall s, peak resident MB) of it alone."""
    start = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own resource usage
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench: {' '.join(command[1:4])} failed; its output: {log}")
    return wall, usage.ru_maxrss / 1024  # Linux reports kilobytes


def measure(kind: str, overrides: list[str], work: Path) -> dict:
    if kind == "medtune":
        run_dir = work / "medtune"
        command = [sys.executable, "-m", "src.train", "logger=none", f"hydra.run.dir={run_dir}", *overrides]
        wall, peak_mb = run_measured(command, work / "medtune.log")
        metrics = json.loads((run_dir / "metrics.json").read_text())
        timing, epochs = metrics["timing"], _override(overrides, "trainer.max_epochs")
        result = {
            "train_s": timing["train_s"],
            "examples_per_s": metrics["data"]["n_train"] * epochs / timing["train_s"],
            "tokens_per_s": timing["train_tokens_per_s"],
            "padding_efficiency": timing["padding_efficiency"],
            "metric": metrics["tuned"][metrics["main_metric"]],
        }
    else:
        result_file = work / f"{kind}.json"
        command = [sys.executable, "-m", "bench.baselines", kind, str(result_file), *overrides]
        wall, peak_mb = run_measured(command, work / f"{kind}.log")
        result = json.loads(result_file.read_text())
    return {**result, "wall_s": wall, "peak_rss_mb": peak_mb}


def _override(overrides: list[str], key: str) -> int:
    """An integer setting as the runs resolved it (bench passes the ones it sets explicitly)."""
    return int(next(o.split("=", 1)[1] for o in overrides if o.startswith(f"{key}=")))


def ratios(results: dict[str, dict]) -> dict[str, float]:
    medtune, plain, trainer = (results[k] for k in IMPLEMENTATIONS)
    return {
        "speedup_vs_trainer": medtune["examples_per_s"] / trainer["examples_per_s"],
        "speedup_vs_plain": medtune["examples_per_s"] / plain["examples_per_s"],
        "padding_efficiency": medtune["padding_efficiency"],
        "peak_rss_ratio_vs_plain": medtune["peak_rss_mb"] / plain["peak_rss_mb"],
    }


def print_table(results: dict[str, dict], summary: dict[str, float], metric: str) -> None:
    print(
        f"\n{'implementation':12s} {'examples/s':>10s} {'tokens/s':>9s} {'padding':>8s} "
        f"{'peak MB':>8s} {'train s':>8s} {metric:>9s}"
    )
    for kind, r in results.items():
        print(
            f"{kind:12s} {r['examples_per_s']:10.2f} {r['tokens_per_s']:9.0f} {r['padding_efficiency']:8.3f} "
            f"{r['peak_rss_mb']:8.0f} {r['train_s']:8.1f} {r['metric']:9.4f}"
        )
    print()
    for name, value in summary.items():
        op, target = TARGETS[name]
        met = value >= target if op == ">=" else value <= target
        print(f"{name:26s} {value:6.3f}   target {op} {target}: {'met' if met else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=400, help="training notes (default 400)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs (default 3, as the default run)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides applied to all three")
    args = parser.parse_args()
    overrides = [f"data.train_size={args.train_size}", f"trainer.max_epochs={args.epochs}", *args.overrides]
    results = {}
    with tempfile.TemporaryDirectory(prefix="medtune-bench-") as tmp:
        for kind in IMPLEMENTATIONS:
            print(f"training with {kind} ...", flush=True)
            results[kind] = measure(kind, overrides, Path(tmp))
    from src.config import compose_config

    metric = compose_config(overrides).task.main_metric
    summary = ratios(results)
    print_table(results, summary, metric)
    record = {**summary, "metric": metric, "settings": overrides}
    for kind, r in results.items():
        record[f"{kind}_examples_per_s"] = r["examples_per_s"]
        record[f"{kind}_{metric}"] = r["metric"]
        record[f"{kind}_peak_rss_mb"] = r["peak_rss_mb"]
    gpu = gpu_results()
    if gpu is not None:
        record["gpu"] = gpu
    print(json.dumps(record))


def gpu_results() -> dict | None:
    import torch

    if not torch.cuda.is_available():
        print("\nGPU section: skipped (no CUDA device)")
        return None
    from bench.gpu_causal import gpu_section

    return gpu_section()


if __name__ == "__main__":
    main()
