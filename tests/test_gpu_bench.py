"""bench/gpu_causal.py on the CPU: its FLOP counts against hand-computed values, the GPU peak
lookup, and the script end to end in --smoke mode. The GPU numbers themselves need a GPU."""

from __future__ import annotations

import json
import math

import torch

from bench import gpu_causal

# The --smoke model (hidden 64, 2 layers, 4 heads of 16, 2 KV heads, MLP 128, vocab 1000, tied):
# per layer q 64x64 + k, v 64x32 + o 64x64 + gate, up, down 64x128 = 36,864 weights, plus the
# LM head 1000x64; LoRA r=16 adds 16 x (in + out) per adapted projection.
TINY_FROZEN = 2 * (4096 + 2048 + 2048 + 4096 + 3 * 8192) + 64_000  # 137,728
TINY_LORA = 2 * 16 * ((64 + 64) * 2 + (64 + 32) * 2 + (64 + 128) * 3)  # 32,768
# Qwen2.5-0.5B: per layer q, o 896x896, k, v 896x128, gate, up, down 896x4864; LM head 151936x896.
QWEN_FROZEN = 24 * (2 * 896 * 896 + 2 * 896 * 128 + 3 * 896 * 4864) + 151936 * 896  # 493,961,216
QWEN_LORA = 24 * 16 * (2 * (896 + 896) + 2 * (896 + 128) + 3 * (896 + 4864))  # 8,798,208


def test_matmul_weights_are_counted_as_by_hand():
    cpu, meta = torch.device("cpu"), torch.device("meta")
    tiny = gpu_causal.build(gpu_causal.tiny_qwen(), cpu, torch.float32, False, False)
    assert gpu_causal.matmul_params(tiny) == (TINY_FROZEN, TINY_LORA)
    qwen = gpu_causal.build(gpu_causal.qwen25_05b(), meta, torch.bfloat16, False, False)
    assert gpu_causal.matmul_params(qwen) == (QWEN_FROZEN, QWEN_LORA)
    assert sum(p.numel() for p in qwen.parameters()) - QWEN_LORA == 494_032_768  # the model card's 0.49B


def test_flops_per_token_follow_palm_and_the_lora_aware_count():
    attention = 12 * 2 * 64 * 32  # 12 L d T at 32 tokens
    model, hardware = gpu_causal.flops_per_token(TINY_FROZEN, TINY_LORA, 2, 64, 32, recompute=False)
    assert model == 6 * (137_728 + 32_768) + attention == 1_072_128
    assert hardware == 4 * 137_728 + 6 * 32_768 + attention == 796_672
    _, recomputed = gpu_causal.flops_per_token(TINY_FROZEN, TINY_LORA, 2, 64, 32, recompute=True)
    assert recomputed == hardware + 2 * (137_728 + 32_768) + 4 * 2 * 64 * 32
    model, _ = gpu_causal.flops_per_token(QWEN_FROZEN, QWEN_LORA, 24, 14 * 64, 1024, recompute=False)
    assert model == 6 * 502_759_424 + 12 * 24 * 896 * 1024 == 3_280_797_696


def test_peak_flops_by_device_name():
    assert gpu_causal.peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert gpu_causal.peak_flops("NVIDIA H100 PCIe") == 756e12  # not the SXM figure
    assert gpu_causal.peak_flops("NVIDIA H200") == 989e12
    assert gpu_causal.peak_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert gpu_causal.peak_flops("Tesla T4") is None


def test_smoke_run_end_to_end_prints_a_table_and_one_json_line(capsys):
    result = gpu_causal.main(["--smoke", "--steps", "2"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert json.loads(lines[-1]) == result
    assert any(line.startswith("tokens/s") for line in lines[:-1])
    assert math.isfinite(result["loss"]) and result["tokens_per_s"] > 0
    assert result["model_flops_per_token"] == 1_072_128 and result["hardware_flops_per_token"] == 796_672
    assert result["mfu"] is None and "float32 on cpu" in result["mfu_note"]


def test_gpu_section_is_none_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_causal.gpu_section() is None
