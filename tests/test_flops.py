"""Training FLOPs against the machine's matmul limit (src/training/flops.py, metrics.json timing.flops)."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from src.training.flops import COUNTED_STEPS, StepFlops, gemm_flop_per_s, model_shapes

IN, OUT, ROWS = 32, 16, 6


class Linear(L.LightningModule):
    """One trainable linear layer on inputs that need no gradient: forward 2*rows*in*out FLOPs,
    backward the weight gradient only (the same again)."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(IN, OUT, bias=False)
        self.config = type("Config", (), {"hidden_size": IN, "intermediate_size": OUT})()

    def training_step(self, batch, batch_idx):
        return self.layer(batch["x"]).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def batches(n: int) -> DataLoader:
    rows = [{"x": torch.randn(IN), "attention_mask": torch.ones(1)} for _ in range(n * ROWS)]
    return DataLoader(rows, batch_size=ROWS)


def test_counted_flops_are_the_matmuls_forward_and_backward():
    flops = StepFlops()
    trainer = L.Trainer(
        max_epochs=1, callbacks=[flops], logger=False, enable_checkpointing=False, enable_progress_bar=False
    )
    model = Linear()
    trainer.fit(model, batches(5))
    assert flops.steps_counted == COUNTED_STEPS
    assert flops.counted_flops == COUNTED_STEPS * 2 * (2 * ROWS * IN * OUT)
    assert flops.counted_tokens == COUNTED_STEPS * ROWS and flops.all_tokens == 5 * ROWS
    assert flops.timed_tokens == (5 - COUNTED_STEPS) * ROWS and flops.timed_seconds > 0

    report = flops.report(model, train_s=2.0)
    per_token = 4 * IN * OUT  # FLOPs per padded token (one row of the batch here)
    assert report["flops_per_padded_token"] == pytest.approx(per_token)
    assert report["train_flops"] == pytest.approx(per_token * 5 * ROWS)
    assert report["run_flop_per_s"] == pytest.approx(per_token * 5 * ROWS / 2.0)
    gemm = report["gemm_flop_per_s"]
    assert report["run_fraction_of_gemm"] == pytest.approx(report["run_flop_per_s"] / gemm)
    assert report["step_fraction_of_gemm"] > 0


def test_nothing_trained_reports_nothing():
    assert StepFlops().report(Linear(), train_s=1.0) is None


def test_gemm_limit_uses_the_models_largest_weight_shapes():
    model = Linear()
    assert model_shapes(model) == [(IN, OUT)]
    mixed = torch.nn.Sequential(
        *(torch.nn.Linear(8, 8) for _ in range(3)), torch.nn.Linear(8, 32), torch.nn.Linear(8, 2)
    )
    assert model_shapes(mixed) == [(8, 32), (8, 8)]  # most weights first; the small head left out
    assert gemm_flop_per_s(model, rows=64) > 0
    assert gemm_flop_per_s(torch.nn.Sequential(torch.nn.LayerNorm(4)), rows=8) is None


def test_a_warm_started_encoder_decoder_is_measured():
    """minilm_seq2seq's EncoderDecoderConfig has no hidden_size of its own: shapes come from layers."""
    from transformers import BertConfig, EncoderDecoderConfig, EncoderDecoderModel

    small = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        BertConfig(**small), BertConfig(**small, is_decoder=True, add_cross_attention=True)
    )
    model = EncoderDecoderModel(config=config)
    assert (32, 64) in model_shapes(model) or (32, config.decoder.vocab_size) in model_shapes(model)
    assert gemm_flop_per_s(model, rows=16) > 0
