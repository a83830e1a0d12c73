"""Training speed of the default coding run on this machine (not a test: timings are noisy).

    python -m bench.train_speed                 # step throughput of each setting, as ratios
    python -m bench.train_speed --end-to-end    # + time `python -m src.train` on the defaults

Part 1 trains the real default model (MiniLM + LoRA + label-attention head) on random tokens
for a few steps per setting and reports training tokens/s relative to the default setting, all
in one process so the ratios share the machine's state. Part 2 runs the default training job
end to end and breaks its wall time into stages, against the 5-minute target.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from src.config import compose_config, validate
from src.models import build
from src.models.efficiency import compile_encoder
from src.models.frozen_prefix import prefix_features
from src.paths import ROOT

TARGET_S = 300.0
EVERY_LAYER = "model.lora_top_layers=null"
# (label, config overrides, autocast dtype, from cached frozen-layer features). The first row
# is the reference: the default model's training step through the whole encoder.
SETTINGS = [
    ("LoRA on layer 6 of 6, whole encoder run", [], None, False),
    ("  + layers 1-5 cached (the default's epochs)", [], None, True),
    ("LoRA on layers 5-6, whole encoder run", ["model.lora_top_layers=2"], None, False),
    ("  + layers 1-4 cached", ["model.lora_top_layers=2"], None, True),
    ("LoRA on every layer", [EVERY_LAYER], None, False),
    ("  + gradient checkpointing", [EVERY_LAYER, "model.gradient_checkpointing=true"], None, False),
    ("  + torch.compile", [EVERY_LAYER, "loop.compile=true"], None, False),
    ("LoRA on layer 6 + gradient checkpointing", ["model.gradient_checkpointing=true"], None, False),
    ("256-token chunks", ["model.max_length=256"], None, False),
    ("encoder dropout 0.1", ["model.encoder_dropout=0.1"], None, False),
    ("bf16 autocast", [], torch.bfloat16, False),
]


def step_throughput(overrides: list[str], autocast: torch.dtype | None, cached: bool, steps: int) -> float:
    """Training tokens/s of the default model and head under `overrides` (best of `steps`).

    cached: the step starts from the lower layers' output, computed once beforehand, as
    training does when loop.cache_frozen_layers applies (src/models/prefix_cache.py).
    """
    cfg = validate(compose_config(overrides))
    torch.manual_seed(0)
    base = build.classifier_base(build.load_encoder(cfg.model), 105, cfg.model)
    model = build.wrap_with_lora(base, cfg.lora)
    if cfg.loop.compile:  # compiles in the first (untimed) step
        compile_encoder(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    # A default batch: 8 notes of ~420 tokens, cut into chunks of max_length tokens.
    chunks = 8 * 420 // cfg.model.max_length
    input_ids = torch.randint(1000, 20000, (chunks, cfg.model.max_length))
    batch = {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "note_index": torch.arange(chunks) * 8 // chunks,
    }
    if cached:
        classifier = model.get_base_model()
        classifier.frozen_layers = classifier.config.num_hidden_layers - cfg.lora.top_layers
        batch["prefix_hidden"] = prefix_features(
            classifier.encoder, input_ids, batch["attention_mask"], classifier.frozen_layers
        )
    target = (torch.rand(8, 105) < 0.03).float()
    best = float("inf")
    for _ in range(steps + 1):  # the first step warms up allocators and kernels
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=autocast or torch.float32, enabled=autocast is not None):
            logits = model(**batch)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), target)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        best = min(best, time.perf_counter() - start)
    return input_ids.numel() / best


def end_to_end(args: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        command = [sys.executable, "-m", "src.train", "logger=none", f"hydra.run.dir={run_dir}", *args]
        start = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        metrics = json.loads((run_dir / "metrics.json").read_text())
    timing = metrics["timing"]
    print(f"\nend to end: {wall:.0f} s wall ({wall / TARGET_S:.2f} of the {TARGET_S:.0f} s target)")
    for key, value in timing.items():
        print(f"  {key:22s} {value:10.1f}")
    print(f"  tuned {metrics['main_metric']}: {metrics['tuned'][metrics['main_metric']]:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per setting")
    parser.add_argument("--end-to-end", action="store_true", help="also time the default training job")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for the end-to-end run")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    rates = [(label, step_throughput(o, dtype, cached, args.steps)) for label, o, dtype, cached in SETTINGS]
    default = rates[0][1]
    print(f"{'setting':48s} {'tokens/s':>9s} {'vs first':>10s}")
    for label, rate in rates:
        print(f"{label:48s} {rate:9.0f} {rate / default:10.2f}")
    if args.end_to_end:
        end_to_end(args.overrides)


if __name__ == "__main__":
    main()
