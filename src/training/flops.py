"""How close training comes to the machine's matmul limit (metrics.json timing.flops).

FLOPs are counted, not modelled: torch's FlopCounterMode records the matmul-like operations
(linear, bmm, attention, convolution) of the first COUNTED_STEPS training steps, forward and
backward as they really run (LoRA, the frozen-layer cache and frozen weights that need no
weight gradient included; element-wise work and the optimizer update are not counted).
Divided by those steps' padded tokens, that is the run's FLOPs per padded token; every
training step costs that many per padded token (padding is computed too, and attention's
quadratic term is small at these lengths).

The limit is measured in the same process once training ends: dense matrix products at the
model's own shapes (a batch's padded tokens x hidden size, times hidden x hidden and hidden x
intermediate), in the weights' dtype, on the training device. Two fractions of it:
- steps: FLOPs of the timed (uncounted) steps / their time from batch start to batch end,
  the step's own efficiency (element-wise work, small shapes and Python overhead make the gap);
- run: FLOPs of every step / the whole training time, which also pays for the frozen-layer
  cache, validation, checkpoints and data loading between steps.
"""

from __future__ import annotations

import time
from collections import Counter

import lightning as L
import torch
from torch.utils.flop_counter import FlopCounterMode

COUNTED_STEPS = 2  # steps counted under FlopCounterMode (its dispatch overhead: not timed)
GEMM_SECONDS = 0.25  # per shape, after one warm-up product


class StepFlops(L.Callback):
    """Counts the FLOPs of the first training steps and times the others (rank 0's view)."""

    def __init__(self):
        self.counted_flops = 0
        self.counted_tokens = 0  # padded tokens of the counted steps
        self.timed_seconds = 0.0
        self.timed_tokens = 0
        self.all_tokens = 0  # padded tokens of every step
        self.steps_counted = 0
        self._counter: FlopCounterMode | None = None
        self._started = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.steps_counted < COUNTED_STEPS:
            self._counter = FlopCounterMode(display=False)
            self._counter.__enter__()
        self._started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        elapsed = time.perf_counter() - self._started
        tokens = batch["attention_mask"].numel()
        self.all_tokens += tokens
        if self._counter is not None:
            self._counter.__exit__(None, None, None)
            self.counted_flops += self._counter.get_total_flops()
            self.counted_tokens += tokens
            self._counter = None
            self.steps_counted += 1
        else:  # on CUDA, steps queue asynchronously: the sum over many steps is what holds
            self.timed_seconds += elapsed
            self.timed_tokens += tokens

    def report(self, model: torch.nn.Module, train_s: float, bf16: bool = False) -> dict | None:
        """timing.flops for metrics.json; None when no step was counted (nothing trained)."""
        if not self.counted_tokens:
            return None
        per_token = self.counted_flops / self.counted_tokens
        rows = max(1, round(self.counted_tokens / self.steps_counted))
        gemm = gemm_flop_per_s(model, rows, bf16)
        run = per_token * self.all_tokens / train_s
        steps = per_token * self.timed_tokens / self.timed_seconds if self.timed_seconds else None

        def share(rate: float | None) -> float | None:
            return rate / gemm if rate and gemm else None

        return {
            "flops_per_padded_token": per_token,
            "train_flops": per_token * self.all_tokens,
            "gemm_flop_per_s": gemm,
            "run_flop_per_s": run,
            "run_fraction_of_gemm": share(run),
            "step_flop_per_s": steps,
            "step_fraction_of_gemm": share(steps),
            "time_in_steps": self.timed_seconds / train_s if self.timed_seconds else None,
            "counted_steps": self.steps_counted,
        }


def model_shapes(model: torch.nn.Module) -> list[tuple[int, int]]:
    """(in, out) of the model's linear layers holding the most weights (at most two shapes): its
    attention and feed-forward projections, or a generative model's vocabulary projection. Read
    from the layers, not the config: configs name their sizes differently (d_model, n_embd, an
    encoder-decoder's two sub-configs)."""
    weights: Counter[tuple[int, int]] = Counter()
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            weights[module.in_features, module.out_features] += module.in_features * module.out_features
    return [shape for shape, _ in weights.most_common(2)]


def gemm_flop_per_s(model: torch.nn.Module, rows: int, bf16: bool = False) -> float | None:
    """The best dense-matmul FLOP/s of the model's main weight shapes, for `rows` tokens; None
    for a model without linear layers."""
    parameter = next(p for p in model.parameters() if p.is_floating_point())  # not 4-bit storage
    device = parameter.device
    dtype = torch.bfloat16 if bf16 else parameter.dtype
    best = None
    for inner, cols in model_shapes(model):
        a = torch.randn(rows, inner, device=device, dtype=dtype)
        b = torch.randn(inner, cols, device=device, dtype=dtype)
        torch.mm(a, b)  # warm-up: kernel choice, caches
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < GEMM_SECONDS:
            torch.mm(a, b)
            n += 1
            if device.type == "cuda":
                torch.cuda.synchronize(device)
        rate = 2 * rows * inner * cols * n / (time.perf_counter() - start)
        best = rate if best is None else max(best, rate)
    return best
