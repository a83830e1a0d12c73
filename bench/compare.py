"""medtune's training against its peers on every task, in one run.

    python -m bench.compare [--tasks coding,eligibility,summaries] [--train-size N] [--epochs N]
                            [overrides...]

Each section trains the task's default model (its peft model, LoRA and head) on the same data
with the same batch size, epochs, learning-rate schedule, clipping and loss, one implementation
after another, each in its own process (bench/baselines.py holds the peers):

- coding: medtune (`python -m src.train`), a plain PyTorch loop over medtune's own batches (the
  overhead floor) and `transformers.Trainer`, as a user would write it for this model;
- eligibility: medtune and `Trainer` on the same criterion sequences;
- summaries (task=summarize_radiology): medtune and `Seq2SeqTrainer`; then the run medtune
  trained decodes its evaluation split twice, each in its own process (bench/decoding.py):
  medtune's batched greedy decoding and plain `model.generate`, with the share of identical outputs.

Every implementation's tuned model is scored by the task's own evaluation, so a speed-up is never
bought with quality. Examples/s and tokens/s cover the training stage: from the data in memory to
the last epoch's validation pass, including medtune's one-off pass over the frozen layers. Peak
memory is each process's peak resident set (medtune's includes its base-model evaluation).
It prints a table per task and the ratios against their targets and, as its last line, one JSON
object: `speedup_vs_trainer` (by task), `decoding_speedup_vs_generate`, `greedy_identical_share`,
and each task's details under its name. Where CUDA is present, a GPU section
(bench/gpu_causal.py) follows.

Overrides apply to every section; `TASK:key=value` (e.g. `summaries:model=tiny_t5`) to one only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from src.paths import ROOT


@dataclass(frozen=True)
class Section:
    task: str  # conf/task/<task>.yaml
    peers: tuple[str, ...]  # bench.baselines kinds; the last is the Trainer the speed-up is against
    train_size: int  # default training examples (--train-size overrides)
    decoding: bool = False  # also medtune's decoding against model.generate (bench/decoding.py)
    settings: tuple[str, ...] = ()  # the section's own defaults (overrides given to bench come after)
    peer_settings: tuple[str, ...] = ()  # the peers' own: what a user's model would be


SECTIONS = {
    "coding": Section("coding", ("plain", "hf_trainer"), 400),
    "eligibility": Section("eligibility", ("hf_trainer",), 400),
    # 48 validation and 48 evaluation reports: every implementation generates for them (on 2 CPU
    # cores ~4 s a report for the base model, ~0.3 s for a tuned one).
    "summaries": Section(
        "summarize_radiology",
        ("seq2seq_trainer",),
        200,
        decoding=True,
        settings=("data.synthetic.val_size=48", "data.synthetic.eval_size=48"),
        # A user's model scores every word piece; medtune's only its references' (output_vocab).
        peer_settings=("model.output_vocab=full",),
    ),
}
TARGETS = {  # ratio name -> (minimum or maximum, value); issue 6 (coding), issue 19 (every task)
    "speedup_vs_trainer": (">=", 1.3),
    "speedup_vs_plain": (">=", 0.95),
    "padding_efficiency": (">=", 0.95),
    "peak_rss_ratio_vs_plain": ("<=", 1.2),
    "decoding_speedup_vs_generate": (">=", 1.3),
    "greedy_identical_share": (">=", 1.0),
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


def measure_decoding(kind: str, run_dir: Path, work: Path) -> dict:
    result_file = work / f"decode_{kind}.json"
    command = [sys.executable, "-m", "bench.decoding", kind, str(run_dir), str(result_file)]
    wall, peak_mb = run_measured(command, work / f"decode_{kind}.log")
    return {**json.loads(result_file.read_text()), "wall_s": wall, "peak_rss_mb": peak_mb}


def _override(overrides: list[str], key: str) -> int:
    """An integer setting as the runs resolved it (bench passes the ones it sets explicitly)."""
    return int(next(o.split("=", 1)[1] for o in overrides if o.startswith(f"{key}=")))


def ratios(results: dict[str, dict], section: Section) -> dict[str, float]:
    medtune, trainer = results["medtune"], results[section.peers[-1]]
    summary = {"speedup_vs_trainer": medtune["examples_per_s"] / trainer["examples_per_s"]}
    if "plain" in results:  # coding: issue 6's ratios against the plain loop
        plain = results["plain"]
        summary |= {
            "speedup_vs_plain": medtune["examples_per_s"] / plain["examples_per_s"],
            "padding_efficiency": medtune["padding_efficiency"],
            "peak_rss_ratio_vs_plain": medtune["peak_rss_mb"] / plain["peak_rss_mb"],
        }
    return summary


def decoding_ratios(decoded: dict[str, dict]) -> dict[str, float]:
    medtune, generate = decoded["medtune"]["outputs"], decoded["generate"]["outputs"]
    same = sum(a == b for a, b in zip(medtune, generate, strict=True))
    speedup = decoded["medtune"]["tokens_per_s"] / decoded["generate"]["tokens_per_s"]
    return {
        "decoding_speedup_vs_generate": speedup,
        "greedy_identical_share": same / len(medtune),
    }


def print_table(name: str, results: dict[str, dict], metric: str) -> None:
    print(
        f"\n{name}\n{'implementation':16s} {'examples/s':>10s} {'tokens/s':>9s} {'padding':>8s} "
        f"{'peak MB':>8s} {'train s':>8s} {metric:>9s}"
    )
    for kind, r in results.items():
        print(
            f"{kind:16s} {r['examples_per_s']:10.2f} {r['tokens_per_s']:9.0f} {r['padding_efficiency']:8.3f} "
            f"{r['peak_rss_mb']:8.0f} {r['train_s']:8.1f} {r['metric']:9.4f}"
        )


def print_decoding(decoded: dict[str, dict], metric: str) -> None:
    heads = f"{'outputs/s':>10s} {'tokens/s':>9s} {'peak MB':>8s} {'decode s':>8s} {metric:>9s}"
    print(f"\n{'decoding':16s} {heads}")
    for kind, r in decoded.items():
        print(
            f"{kind:16s} {r['outputs_per_s']:10.2f} {r['tokens_per_s']:9.1f} {r['peak_rss_mb']:8.0f} "
            f"{r['decode_s']:8.1f} {r['metric']:9.4f}"
        )


def print_ratios(summary: dict[str, float]) -> None:
    print()
    for name, value in summary.items():
        op, target = TARGETS[name]
        met = value >= target if op == ">=" else value <= target
        print(f"{name:30s} {value:6.3f}   target {op} {target}: {'met' if met else 'NOT met'}")


def section_overrides(name: str, args: argparse.Namespace) -> list[str]:
    """The section's task and sizes, the overrides for every section, then its own (TASK:...)."""
    section = SECTIONS[name]
    shared, own = [], []
    for override in args.overrides:
        prefix, _, rest = override.partition(":")
        if rest and "=" not in prefix:
            if prefix not in SECTIONS:
                sys.exit(f"bench: {override!r} names no section; use one of {', '.join(SECTIONS)}")
            if prefix == name:
                own.append(rest)
        else:
            shared.append(override)
    sizes = [f"data.train_size={args.train_size or section.train_size}", f"trainer.max_epochs={args.epochs}"]
    return [f"task={section.task}", *sizes, *section.settings, *shared, *own]


def run_section(name: str, overrides: list[str], work: Path) -> dict:
    """Trains (and decodes) one task's implementations; prints its tables; returns its record."""
    from src.config import compose_config

    section = SECTIONS[name]
    results = {}
    for kind in ("medtune", *section.peers):
        print(f"{name}: training with {kind} ...", flush=True)
        peer = kind in section.peers
        results[kind] = measure(kind, [*overrides, *(section.peer_settings if peer else ())], work)
    metric = compose_config(overrides).task.main_metric
    summary = ratios(results, section)
    print_table(name, results, metric)
    record = {**summary, "metric": metric, "settings": overrides}
    for kind, r in results.items():
        record[f"{kind}_examples_per_s"] = r["examples_per_s"]
        record[f"{kind}_{metric}"] = r["metric"]
        record[f"{kind}_peak_rss_mb"] = r["peak_rss_mb"]
        record[f"{kind}_padding_efficiency"] = r["padding_efficiency"]
    if section.decoding:
        decoded = {}
        for kind in ("medtune", "generate"):
            print(f"{name}: decoding with {kind} ...", flush=True)
            decoded[kind] = measure_decoding(kind, work / "medtune", work)
        print_decoding(decoded, metric)
        summary |= decoding_ratios(decoded)
        record["decoding"] = {
            kind: {k: r[k] for k in ("tokens_per_s", "outputs_per_s", "metric", "peak_rss_mb")}
            for kind, r in decoded.items()
        }
    print_ratios(summary)
    return {**record, **summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tasks", default=",".join(SECTIONS), help=f"sections to run (default {','.join(SECTIONS)})"
    )
    defaults = ", ".join(f"{name} {section.train_size}" for name, section in SECTIONS.items())
    parser.add_argument("--train-size", type=int, help=f"training examples (default: {defaults})")
    parser.add_argument("--epochs", type=int, default=3, help="epochs (default 3, as the default runs)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides: for every section, or TASK:key=value")
    args = parser.parse_args()
    names = args.tasks.split(",")
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        sys.exit(f"bench: --tasks {','.join(unknown)}: unknown; choose among {','.join(SECTIONS)}")
    record: dict = {"speedup_vs_trainer": {}}
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"medtune-bench-{name}-") as tmp:
            record[name] = run_section(name, section_overrides(name, args), Path(tmp))
        record["speedup_vs_trainer"][name] = record[name]["speedup_vs_trainer"]
        for key in ("decoding_speedup_vs_generate", "greedy_identical_share"):
            if key in record[name]:
                record[key] = record[name][key]
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
