"""Memory and speed options for the model being trained, set from config.

* model.gradient_checkpointing: each encoder layer keeps only its input during the forward
  pass and recomputes its activations during the backward pass: less activation memory for one
  extra forward pass of the layers that backpropagation reaches (the ones at and above the
  lowest LoRA layer). Layers that run without gradients (the frozen-layer cache pass,
  evaluation) are not affected.
* loop.compile: torch.compile on each encoder layer, in place, so parameter names, training
  checkpoints and saved adapters stay the same. Every new input shape and every new mode
  (training, evaluation) compiles on first use: tens of seconds each on a CPU.
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig
from torch import nn
from transformers import PreTrainedModel

from src.errors import MedtuneError
from src.models.frozen_prefix import layers_of


def enable_gradient_checkpointing(model: PreTrainedModel) -> None:
    """Non-reentrant activation checkpointing on every layer of a transformers model.

    transformers also hooks the input embeddings so that their output requires grad: only
    reentrant checkpointing needs that. With LoRA on the top layers only, the hook would make
    the backward pass run through every frozen layer below them, so it is removed:
    non-reentrant checkpointing finds the LoRA weights inside a layer by itself.
    """
    model.activation_checkpointing_enable({"use_reentrant": False})
    model.disable_input_require_grads()


def check_compile(cfg: DictConfig) -> None:
    """MedtuneError when loop.compile=true cannot work on this machine (trainer.accelerator's).

    On the CPU, torch.compile's backend (inductor) writes C++ and needs a C++ compiler; without
    one the run would fail at its first training step with a long compiler traceback.
    """
    if not cfg.loop.compile or (cfg.trainer.accelerator != "cpu" and torch.cuda.is_available()):
        return
    # Inductor's own lookup (CXX, else g++), imported here only: loading inductor takes seconds.
    from torch._inductor.cpp_builder import get_cpp_compiler

    try:
        get_cpp_compiler()
    except RuntimeError as err:
        raise MedtuneError(
            f"loop.compile=true on the CPU needs a C++ compiler for torch.compile ({err}); "
            "install one (e.g. apt-get install g++, or set CXX) or set loop.compile=false"
        ) from None


def compile_encoder(model: nn.Module) -> str:
    """Compiles the encoder of a (peft) classifier in place and says what was compiled.

    Layer by layer, so that training from cached lower-layer features (which calls the top
    layers directly, not the encoder) runs compiled too. The small task head stays eager: its
    per-note pooling depends on the batch's note count.
    """
    encoder = model.get_base_model().encoder
    stack = layers_of(encoder)
    if stack is None:
        encoder.compile()
        return f"the whole encoder ({type(encoder).__name__}) compiled; the head runs eagerly"
    for layer in stack:
        layer.compile()
    return f"{len(stack)} encoder layers compiled (each new shape compiles on first use); head eager"
