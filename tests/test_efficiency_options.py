"""model.gradient_checkpointing and loop.compile on a tiny random BERT: they reach the model,
leave the loss and gradients as they were, and a run with them trains."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import compose_config, train_here

from src.errors import MedtuneError
from src.models import build
from src.models.efficiency import check_compile
from src.training.module import FineTuneModule

LABELS = 3


def tiny_model(tiny_bert, *overrides):
    """The tiny BERT with LoRA and a label-attention head, no dropout (comparable runs)."""
    cfg = compose_config(
        f"model.name_or_path={tiny_bert}",
        "model.encoder_dropout=0.0",
        "model.classifier_dropout=0.0",
        "lora.dropout=0.0",
        *overrides,
    )
    torch.manual_seed(0)
    base = build.classifier_base(build.load_encoder(cfg.model), LABELS, cfg.model)
    return build.wrap_with_lora(base, cfg.lora), cfg


def batch():
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(1000, 2000, (4, 16), generator=generator)
    return {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "note_index": torch.tensor([0, 0, 1, 1]),
        "labels": torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]),
    }


def count_forward_calls(modules) -> list[int]:
    """A list that counts each module's forward calls from now on."""
    calls = [0] * len(modules)

    def hook(index):
        return lambda *_: calls.__setitem__(index, calls[index] + 1)

    for index, module in enumerate(modules):
        module.register_forward_hook(hook(index))
    return calls


def loss_of(model, data):
    return F.binary_cross_entropy_with_logits(model(**data), data["labels"])


def test_new_keys_default_off_and_are_validated():
    cfg = compose_config()
    assert cfg.model.gradient_checkpointing is False and cfg.loop.compile is False
    assert compose_config("lora=qlora").model.gradient_checkpointing is True  # QLoRA's recipe
    for key in ("model.gradient_checkpointing", "loop.compile"):
        with pytest.raises(MedtuneError, match=f"invalid config key '{key}'"):
            compose_config(f"{key}=sometimes")


@pytest.mark.parametrize("top_layers", ["null", "1"])
def test_gradient_checkpointing_recomputes_only_layers_with_lora_above(tiny_bert, top_layers):
    """Same loss and LoRA gradients; with gradient checkpointing the layers that backpropagation
    reaches run their forward twice, and a frozen layer below LoRA runs it once."""
    results = {}
    for checkpointing in (False, True):
        overrides = f"lora.top_layers={top_layers}", f"model.gradient_checkpointing={checkpointing}"
        model, _ = tiny_model(tiny_bert, *overrides)
        encoder = model.get_base_model().encoder
        assert encoder.is_activation_checkpointing is checkpointing
        # Inside the layers: hooks on a layer itself stay outside its checkpoint.
        calls = count_forward_calls([layer.attention for layer in encoder.encoder.layer])
        loss = loss_of(model, batch())
        loss.backward()
        grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
        results[checkpointing] = loss.item(), grads, calls
    (loss_off, grads_off, calls_off), (loss_on, grads_on, calls_on) = results[False], results[True]
    assert loss_on == pytest.approx(loss_off, abs=1e-6)
    assert any("lora_" in name for name in grads_on)
    for name, grad in grads_off.items():
        torch.testing.assert_close(grads_on[name], grad, atol=1e-6, rtol=1e-4)
    assert calls_off == [1, 1]
    assert calls_on == ([2, 2] if top_layers == "null" else [1, 2])


def test_compile_flag_compiles_the_encoder_layers_and_the_model_trains(tiny_bert, monkeypatch):
    """FineTuneModule compiles each encoder layer in place (Dynamo's eager backend here: the
    real one takes minutes on this CPU, see bench/README.md); the compiled model trains."""
    compiled = []
    real_compile = torch.compile

    def eager_compile(fn, **kwargs):
        compiled.append(fn.__self__)
        return real_compile(fn, backend="eager")

    monkeypatch.setattr(torch, "compile", eager_compile)
    model, cfg = tiny_model(tiny_bert, "loop.compile=true")
    FineTuneModule(model, task=None, loop_cfg=cfg.loop)
    assert compiled == list(model.get_base_model().encoder.encoder.layer)
    names = {name for name, _ in model.named_parameters()}
    assert not any("_orig_mod" in name for name in names)  # checkpoints and adapters keep their keys

    model.train()
    lora = [p for name, p in model.named_parameters() if "lora_B" in name]
    before = [p.detach().clone() for p in lora]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):
        loss = loss_of(model, batch())
        assert torch.isfinite(loss)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert all(not torch.equal(p, b) for p, b in zip(lora, before, strict=True))


def test_compile_on_the_cpu_without_a_cpp_compiler_is_refused(monkeypatch):
    from torch._inductor import config as inductor_config

    monkeypatch.setattr(inductor_config.cpp, "cxx", ("medtune-no-such-compiler",))
    check_compile(compose_config())  # compile off: nothing is checked
    with pytest.raises(MedtuneError, match=r"CPU needs a C\+\+ compiler.*or set loop.compile=false"):
        check_compile(compose_config("loop.compile=true"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    check_compile(compose_config("trainer=gpu", "loop.compile=true"))  # GPU kernels are Triton


def test_run_with_gradient_checkpointing_and_the_frozen_layer_cache(
    tmp_path, tiny_bert, coding_files, capsys
):
    """A run with gradient checkpointing: the default LoRA on the top layer with the lower one
    cached trains to finite metrics."""
    train_file, eval_file = coding_files
    metrics = train_here(
        tmp_path,
        tmp_path / "run",
        *("logger=none", f"model.name_or_path={tiny_bert}", f"data.path={train_file}"),
        *(f"data.eval_path={eval_file}", "data.train_size=null", "model.max_length=32"),
        *("trainer.max_epochs=1", "model.gradient_checkpointing=true"),
    )
    assert "frozen-layer cache: layers 1-1 computed once" in capsys.readouterr().out
    assert all(0.0 <= value <= 1.0 for value in metrics["tuned"].values())
