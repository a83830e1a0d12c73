"""QLoRA (model.quantization, lora=qlora): a clear error without CUDA, before anything loads;
the bitsandbytes config handed to from_pretrained. No test here needs bitsandbytes or a GPU."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from conftest import ROOT, compose_config

from src.errors import MedtuneError
from src.models import build
from src.preflight import check_quantized_trainer, preflight

CPU_ERROR = "cannot run here: bitsandbytes' 4-bit/8-bit kernels need a CUDA GPU and none was found"


def refuse_to_load(*args, **kwargs):
    raise AssertionError("something was loaded before the QLoRA check")


@pytest.fixture
def nothing_loads(monkeypatch):
    """A task and a loader that fail the test if preflight reaches them."""
    monkeypatch.setattr(build, "_load", refuse_to_load)
    return SimpleNamespace(check_data=refuse_to_load)


@pytest.mark.parametrize("override", ["lora=qlora", "model.quantization=4bit"])
def test_preflight_without_cuda_stops_on_qlora_before_loading_anything(
    override, tmp_path, monkeypatch, nothing_loads
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    # A model folder that does not exist: had preflight looked at it, that would be the error.
    cfg = compose_config(override, f"model.name_or_path={tmp_path / 'no-model'}")
    assert cfg.model.quantization == "4bit"
    with pytest.raises(MedtuneError) as err:
        preflight(cfg, nothing_loads, tmp_path / "run")
    message = str(err.value)
    assert message.startswith("model.quantization=4bit (e.g. from lora=qlora)") and CPU_ERROR in message
    assert "drop lora=qlora or set model.quantization=null" in message
    assert "trainer=gpu" in message and "pip install 'bitsandbytes>=0.48'" in message
    assert "\n" not in message  # one line, and only this problem
    assert not (tmp_path / "run").exists()  # not even the run dir check ran


def test_preflight_8bit_without_cuda_names_8bit(tmp_path, monkeypatch, nothing_loads):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = compose_config("model.quantization=8bit")
    with pytest.raises(MedtuneError, match=r"^model\.quantization=8bit asks for bitsandbytes 8bit base"):
        preflight(cfg, nothing_loads, tmp_path / "run")


def test_full_precision_runs_skip_the_quantization_check(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(build, "_bitsandbytes_version", refuse_to_load)
    for overrides in ([], ["lora=qlora", "model.quantization=null"]):
        cfg = compose_config(*overrides)
        assert cfg.model.quantization is None
        build.check_quantization(cfg.model.quantization)  # no error, bitsandbytes not looked up
        assert build.quantization_kwargs(cfg.model) == {}


def test_cuda_without_bitsandbytes_names_pip_install(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(build, "_bitsandbytes_version", lambda: None)
    with pytest.raises(
        MedtuneError, match=r"needs the bitsandbytes package.*pip install 'bitsandbytes>=0\.48'"
    ):
        build.check_quantization("4bit")
    monkeypatch.setattr(build, "_bitsandbytes_version", lambda: "0.42.0")
    with pytest.raises(MedtuneError, match=r"needs bitsandbytes>=0\.48, found 0\.42\.0"):
        build.check_quantization("8bit")


def test_quantized_weights_need_the_gpu_trainer():
    with pytest.raises(MedtuneError, match="trainer.accelerator=cpu would train on the CPU: add trainer=gpu"):
        check_quantized_trainer(compose_config("lora=qlora"))
    check_quantized_trainer(compose_config("lora=qlora", "trainer=gpu"))
    check_quantized_trainer(compose_config())  # full precision on the CPU: fine


def test_qlora_lora_settings():
    cfg = compose_config("lora=qlora")
    default = compose_config("lora=default")
    assert (cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout) == (16, 32, 0.05)
    assert cfg.lora.target_modules == default.lora.target_modules == cfg.model.lora_target_modules
    assert cfg.lora.modules_to_save == default.lora.modules_to_save == ["classifier"]
    assert cfg.lora.top_layers == default.lora.top_layers
    assert default.model.quantization is None
    with pytest.raises(MedtuneError, match=r"model\.quantization='16bit' is not one of null, 4bit, 8bit"):
        compose_config("model.quantization=16bit")


@pytest.mark.parametrize("quantization", ["4bit", "8bit"])
def test_from_pretrained_gets_the_bitsandbytes_config(quantization, monkeypatch):
    """On a CUDA machine with bitsandbytes (both faked here), load_encoder hands from_pretrained
    the QLoRA quantization config and prepares the loaded model for k-bit training."""
    from transformers import BertConfig, BertModel

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(build, "_bitsandbytes_version", lambda: "0.48.2")
    calls = {}

    class FakeAutoModel:
        @staticmethod
        def from_pretrained(source, **kwargs):
            calls["from_pretrained"] = kwargs
            config = BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2)
            return BertModel(config)

    def prepare(model, **kwargs):
        calls["prepare"] = kwargs
        return model

    monkeypatch.setattr(build, "AutoModel", FakeAutoModel)
    monkeypatch.setattr(build.peft, "prepare_model_for_kbit_training", prepare)
    cfg = compose_config(f"model.quantization={quantization}")
    # Gradient checkpointing is model.gradient_checkpointing's, not peft's (lora=qlora turns it on).
    assert not build.load_encoder(cfg.model).is_activation_checkpointing
    qlora = compose_config("lora=qlora", f"model.quantization={quantization}")
    assert build.load_encoder(qlora.model).is_activation_checkpointing

    config = calls["from_pretrained"]["quantization_config"]
    assert calls["from_pretrained"]["dtype"] == torch.float32
    assert calls["prepare"] == {"use_gradient_checkpointing": False}
    if quantization == "4bit":
        assert config.load_in_4bit and not config.load_in_8bit
        assert config.bnb_4bit_quant_type == "nf4" and config.bnb_4bit_use_double_quant
        assert config.bnb_4bit_compute_dtype == torch.bfloat16
    else:
        assert config.load_in_8bit and not config.load_in_4bit


def test_full_precision_load_passes_no_quantization(monkeypatch):
    calls = {}

    class FakeAutoModel:
        @staticmethod
        def from_pretrained(source, **kwargs):
            calls.update(kwargs)
            return torch.nn.Linear(1, 1)

    monkeypatch.setattr(build, "AutoModel", FakeAutoModel)
    monkeypatch.setattr(build.peft, "prepare_model_for_kbit_training", refuse_to_load)
    build.load_encoder(compose_config("model.encoder_dropout=null").model)
    assert "quantization_config" not in calls


def test_train_with_qlora_on_cpu_exits_with_one_message(tmp_path, tiny_bert, coding_files):
    train_file, eval_file = coding_files
    result = subprocess.run(
        [
            *(sys.executable, "-m", "src.train", "lora=qlora", f"hydra.run.dir={tmp_path / 'run'}"),
            *(f"model.name_or_path={tiny_bert}", f"data.path={train_file}", f"data.eval_path={eval_file}"),
            *("data.train_size=null", "model.max_length=32", "logger=none"),
        ],
        cwd=ROOT,
        # No CUDA device visible, so the CPU error is what this test sees on a GPU machine too.
        env={**os.environ, "MEDTUNE_CACHE_DIR": str(tmp_path / "cache"), "CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("medtune: error:")]
    assert len(errors) == 1 and errors[0].startswith("medtune: error: model.quantization=4bit"), result.stderr
    assert CPU_ERROR in errors[0] and "drop lora=qlora" in errors[0]
    assert not (tmp_path / "run" / "metrics.json").exists()
