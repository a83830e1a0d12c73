"""GPU section: LoRA training throughput and FLOPs utilisation of a >= 0.5B causal LM.

    python -m bench.gpu_causal [--model qwen0.5b|llama1b] [--steps N] [--seq-len L] [--batch B]
                               [--gradient-checkpointing] [--compile]
    python -m bench.gpu_causal --smoke     # a tiny model of the same architecture, on the CPU

Nothing is downloaded: the model is built from its architecture's config with random weights
(throughput does not depend on their values). Qwen2.5-0.5B's or Llama-3.2-1B's shape, bf16
weights under bf16 autocast, sdpa attention; peft LoRA r=16 (alpha 32, no dropout) on q, k, v,
o and the MLP's gate, up and down projections; AdamW on the adapter only; one random batch of
tokens, reused, as its own labels (the LM loss over the whole vocabulary). Warm-up steps, then
timed steps between torch.cuda.synchronize() calls; data loading is not part of the step.

FLOPs per trained token. N = the weights of every matmul: each nn.Linear, the LM head (tied or
not) and the LoRA A and B matrices included; embedding lookups, norms and biases are not
counted. L layers, d = attention heads x head dim, T tokens per sequence.

* Model FLOPs, the PaLM convention (Chowdhery et al. 2022, appendix B): 6N + 12 L d T, i.e. the
  forward (2N) and backward (4N) matmuls of every weight, plus attention's QK^T and AV products
  (12 L d T, not halved for the causal mask). MFU = model FLOPs x tokens/s / the GPU's peak
  dense bf16 FLOP/s (PEAK_BF16). Recomputation is never counted: MFU compares setups.
* Hardware FLOPs, aware of LoRA: what the GPU computes. A frozen weight needs no weight
  gradient, so its backward is one matmul, not two: 4 N_frozen + 6 N_lora + 12 L d T, plus one
  more forward pass (2N + 4 L d T) under gradient checkpointing. HFU = hardware FLOPs x
  tokens/s / peak. With LoRA, MFU credits weight-gradient work that is never done, and reads
  up to ~1.5x HFU: HFU is the share of the GPU's peak that the step actually uses.

An unknown device (or the CPU) gets MFU and HFU null, with the reason in `mfu_note`.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import peft
import torch
import transformers
from torch import nn
from transformers import AutoModelForCausalLM, LlamaConfig, PretrainedConfig, Qwen2Config

from src.models.efficiency import enable_gradient_checkpointing

# Dense (no sparsity) bf16 tensor-core peaks from NVIDIA's datasheets, by a substring of
# torch.cuda.get_device_name(); more specific names first (PCIe and NVL cards are slower).
PEAK_BF16 = [
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H200 NVL", 835e12),
    ("H100", 989e12),  # SXM, e.g. "NVIDIA H100 80GB HBM3"
    ("H200", 989e12),
    ("A100", 312e12),
]
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LORA_RANK = 16


def qwen25_05b() -> PretrainedConfig:
    """Qwen/Qwen2.5-0.5B's config.json: 0.49B parameters, tied embeddings, q/k/v biases."""
    return Qwen2Config(
        vocab_size=151936,
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0},
        tie_word_embeddings=True,
    )


def llama32_1b() -> PretrainedConfig:
    """meta-llama/Llama-3.2-1B's config.json: 1.24B parameters, tied embeddings."""
    return LlamaConfig(
        vocab_size=128256,
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=64,
        max_position_embeddings=131072,
        rms_norm_eps=1e-5,
        rope_parameters={
            "rope_type": "llama3",
            "rope_theta": 500_000.0,
            "factor": 32.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
        },
        tie_word_embeddings=True,
    )


def tiny_qwen() -> PretrainedConfig:
    """--smoke: Qwen2's architecture at a size the CPU trains in a second."""
    return Qwen2Config(
        vocab_size=1000,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
    )


MODELS = {"qwen0.5b": ("Qwen2.5-0.5B shape", qwen25_05b), "llama1b": ("Llama-3.2-1B shape", llama32_1b)}


def build(
    config: PretrainedConfig, device: torch.device, dtype: torch.dtype, checkpointing: bool, compile: bool
):
    """Random-weight causal LM with LoRA on `device`, in train mode."""
    torch.manual_seed(0)
    with device:  # weights are created on the GPU, not copied there
        base = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation="sdpa")
    lora = peft.LoraConfig(
        r=LORA_RANK, lora_alpha=2 * LORA_RANK, lora_dropout=0.0, target_modules=LORA_TARGETS
    )
    with warnings.catch_warnings():  # peft reads transformers' deprecated is_gradient_checkpointing
        warnings.simplefilter("ignore", FutureWarning)
        model = peft.get_peft_model(base, lora)
    if checkpointing:  # after wrapping: peft would add back the input-grad hook this removes
        enable_gradient_checkpointing(model.get_base_model())
    if compile:
        for layer in model.get_base_model().model.layers:
            layer.compile()
    return model.train()


def matmul_params(model: nn.Module) -> tuple[int, int]:
    """(frozen, trainable) weights of the model's matmuls: its nn.Linear layers (see above)."""
    frozen = trainable = 0
    for module in model.modules():
        if isinstance(module, nn.Linear):
            if module.weight.requires_grad:
                trainable += module.weight.numel()
            else:
                frozen += module.weight.numel()
    return frozen, trainable


def flops_per_token(
    frozen: int, trainable: int, layers: int, attention_dim: int, seq_len: int, recompute: bool
) -> tuple[float, float]:
    """(model FLOPs, hardware FLOPs) per trained token, as the module docstring defines them."""
    attention = 12 * layers * attention_dim * seq_len
    model = 6 * (frozen + trainable) + attention
    hardware = 4 * frozen + 6 * trainable + attention
    if recompute:  # one more forward pass
        hardware += 2 * (frozen + trainable) + 4 * layers * attention_dim * seq_len
    return float(model), float(hardware)


def peak_flops(device_name: str) -> float | None:
    """The dense bf16 peak FLOP/s of a GPU from its torch name, None when it is not listed."""
    return next((peak for key, peak in PEAK_BF16 if key in device_name), None)


def measure(
    config: PretrainedConfig,
    label: str,
    *,
    device: torch.device,
    dtype: torch.dtype,
    batch: int,
    seq_len: int,
    steps: int,
    warmup: int,
    checkpointing: bool = False,
    compile: bool = False,
) -> dict:
    """Trains `config`'s model with LoRA on random tokens and returns throughput, memory, MFU."""
    model = build(config, device, dtype, checkpointing, compile)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    tokens = torch.randint(0, config.vocab_size, (batch, seq_len), device=device)
    cuda = device.type == "cuda"

    def step() -> torch.Tensor:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            loss = model(input_ids=tokens, labels=tokens, use_cache=False).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    for _ in range(warmup):  # allocator, kernels (and compilation) settle here
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        loss = step()
    if cuda:
        torch.cuda.synchronize()
    step_s = (time.perf_counter() - start) / steps

    frozen, trainable = matmul_params(model)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    model_flops, hardware_flops = flops_per_token(
        frozen,
        trainable,
        config.num_hidden_layers,
        config.num_attention_heads * head_dim,
        seq_len,
        checkpointing,
    )
    tokens_per_s = batch * seq_len / step_s
    device_name = torch.cuda.get_device_name(device) if cuda else "cpu"
    dtype_name = str(dtype).removeprefix("torch.")
    peak = peak_flops(device_name) if cuda and dtype == torch.bfloat16 else None
    if peak is not None:
        note = f"peak dense bf16 {peak / 1e12:.0f} TFLOP/s ({device_name})"
    elif cuda and dtype == torch.bfloat16:
        note = f"no bf16 peak known for {device_name!r}: add it to PEAK_BF16 in bench/gpu_causal.py"
    else:
        note = f"MFU is defined for bf16 on a listed GPU; this ran in {dtype_name} on {device_name}"
    return {
        "model": label,
        "device": device_name,
        "dtype": dtype_name,
        "batch": batch,
        "seq_len": seq_len,
        "steps": steps,
        "gradient_checkpointing": checkpointing,
        "compile": compile,
        "params": sum(p.numel() for p in model.parameters()),
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "matmul_params_frozen": frozen,
        "matmul_params_trainable": trainable,
        "loss": float(loss),
        "step_s": step_s,
        "tokens_per_s": tokens_per_s,
        "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None,
        "model_flops_per_token": model_flops,
        "hardware_flops_per_token": hardware_flops,
        "peak_flops": peak,
        "mfu": model_flops * tokens_per_s / peak if peak else None,
        "hfu": hardware_flops * tokens_per_s / peak if peak else None,
        "mfu_note": note,
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
        },
    }


def gpu_section(
    model: str = "qwen0.5b",
    steps: int = 20,
    warmup: int = 5,
    seq_len: int = 1024,
    batch: int = 8,
    gradient_checkpointing: bool = False,
    compile: bool = False,
) -> dict | None:
    """The GPU section's numbers for one setting (see measure), None when there is no CUDA GPU."""
    if not torch.cuda.is_available():
        return None
    label, config = MODELS[model]
    return measure(
        config(),
        label,
        device=torch.device("cuda"),
        dtype=torch.bfloat16,
        batch=batch,
        seq_len=seq_len,
        steps=steps,
        warmup=warmup,
        checkpointing=gradient_checkpointing,
        compile=compile,
    )


def print_table(result: dict) -> None:
    def share(value):
        return "null" if value is None else f"{100 * value:.1f}%"

    memory = result["peak_memory_gib"]
    rows = [
        ("model", f"{result['model']}, {result['params'] / 1e6:,.1f}M params, LoRA r={LORA_RANK}"),
        ("device", f"{result['device']} ({result['dtype']})"),
        ("batch x seq", f"{result['batch']} x {result['seq_len']}"),
        ("grad ckpt / compile", f"{result['gradient_checkpointing']} / {result['compile']}"),
        ("step time", f"{1000 * result['step_s']:.1f} ms"),
        ("tokens/s", f"{result['tokens_per_s']:,.0f}"),
        ("peak GPU memory", "n/a" if memory is None else f"{memory:.2f} GiB"),
        ("MFU (6N + 12LdT)", share(result["mfu"])),
        ("HFU (LoRA-aware)", share(result["hfu"])),
        ("note", result["mfu_note"]),
    ]
    for name, value in rows:
        print(f"{name:22s} {value}")


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="qwen0.5b")
    parser.add_argument("--steps", type=int, default=20, help="timed steps (after --warmup steps)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seq-len", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile each decoder layer")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny model on the CPU in float32: checks the script"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        result = measure(
            tiny_qwen(),
            "tiny Qwen2 (smoke)",
            device=torch.device("cpu"),
            dtype=torch.float32,
            batch=2,
            seq_len=32,
            steps=args.steps,
            warmup=1,
            checkpointing=args.gradient_checkpointing,
        )
    else:
        result = gpu_section(
            args.model,
            args.steps,
            args.warmup,
            args.seq_len,
            args.batch,
            args.gradient_checkpointing,
            args.compile,
        )
        if result is None:
            print("no CUDA GPU here: the GPU section is skipped (--smoke checks the script on the CPU)")
    if result is not None:
        print_table(result)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
