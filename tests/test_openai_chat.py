"""OpenAI chat fine-tuning files (data.format=openai_chat): validation, assistant-only labels with
and without a chat template, the cut, the family refusal, and one run end to end."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from conftest import compose_config, train_here, write_jsonl
from omegaconf import OmegaConf

from src.data.openai_chat import read_conversations
from src.data.prompts import IGNORE, PromptEncoder, training_batch
from src.data.synthetic import ensure_synthetic
from src.errors import MedtuneError
from src.models import build
from src.tasks import make_task
from src.tasks.summarization.data import load_summary_rows
from src.tasks.summarization.facts import extract_facts
from src.tasks.summarization.synthetic import synthetic_source

# A small template in the shape of the usual ones: role headers, an end-of-turn token after the
# assistant's text, a generation prompt that opens the assistant's turn.
TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}"
    "{% if m['role'] == 'assistant' %}[SEP]{% endif %}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
GOOD = {
    "messages": [
        {"role": "system", "content": "You write impressions of radiology reports."},
        {"role": "user", "content": "FINDINGS: Small left pleural effusion. No pneumothorax."},
        {"role": "assistant", "content": "1. Small left pleural effusion.", "weight": 1},
        {"role": "user", "content": "Shorter, please.", "name": "dr_a"},
        {"role": "assistant", "content": "1. Left effusion."},
    ]
}


# The uncased tokenizer lowercases; each reply is followed by its end of turn ([SEP]).
BOTH_REPLIES = "1. small left pleural effusion. [SEP] 1. left effusion. [SEP]"


def _tokenizer(template: str | None = None):
    minilm = "sentence-transformers/all-MiniLM-L6-v2"
    model = OmegaConf.create({"name_or_path": "x", "tokenizer": minilm, "trust_remote_code": False})
    tokenizer = build.load_tokenizer(model)  # a fresh object: setting its template leaks nowhere
    tokenizer.chat_template = template
    return tokenizer


def _messages(row: dict) -> list[dict]:
    return [
        {"role": m["role"], "content": m["content"], "weight": m.get("weight", 1)} for m in row["messages"]
    ]


def _data_cfg(*overrides: str):
    return compose_config("task=summarize_radiology", "data.format=openai_chat", *overrides).data


# -- validation ----------------------------------------------------------------------------------
def _assistant(content="1. Fine.", **extra):
    return {"role": "assistant", "content": content, **extra}


USER = {"role": "user", "content": "FINDINGS: normal."}
BAD_ROWS = {
    "no messages": ({"conversation": []}, "no 'messages' key"),
    "empty list": ({"messages": []}, "a non-empty list"),
    "not an object": ({"messages": [USER, "1. Fine."]}, "message 2 is '1. Fine.', not an object"),
    "unknown role": ({"messages": [USER, {"role": "tool", "content": "x"}, _assistant()]}, "use system"),
    "empty content": ({"messages": [{"role": "user", "content": "  "}, _assistant()]}, "non-empty text"),
    "content parts": (
        {"messages": [USER, _assistant([{"type": "text", "text": "1. Fine."}])]},
        "lists of content parts",
    ),
    "no user turn": ({"messages": [{"role": "system", "content": "Brief."}, _assistant()]}, "no user turn"),
    "ends with user": ({"messages": [USER, _assistant(), USER]}, "end each conversation with the assistant"),
    "bad weight": ({"messages": [USER, _assistant(weight=0.5)]}, "weight is 1"),
    "all weights 0": ({"messages": [USER, _assistant(weight=0)]}, "teaches nothing"),
}


@pytest.mark.parametrize("case", BAD_ROWS)
def test_bad_rows_name_file_line_and_fix(tmp_path, case):
    row, fix = BAD_ROWS[case]
    path = write_jsonl(tmp_path / "chat.jsonl", [GOOD, row])
    with pytest.raises(MedtuneError) as err:
        list(read_conversations(path, _data_cfg(), Counter()))
    assert f"{path}:2:" in str(err.value) and fix in str(err.value)


def test_chat_needs_a_jsonl_file_and_data_path(tmp_path):
    path = tmp_path / "chat.csv"
    path.write_text("messages\nx\n")
    with pytest.raises(MedtuneError, match=r"reads JSON Lines \(\.jsonl\)"):
        list(read_conversations(path, _data_cfg(), Counter()))
    with pytest.raises(MedtuneError, match="data.path is empty"):
        load_summary_rows(_data_cfg(), str(tmp_path))


def test_summary_rows_from_a_chat_file(tmp_path):
    rows = [GOOD, {"id": "r7", "messages": [USER, _assistant("1. Right lower lobe pneumonia.")]}]
    path = write_jsonl(tmp_path / "chat.jsonl", rows + [{**GOOD, "id": f"g{i}"} for i in range(8)])
    cfg = _data_cfg(f"data.path={path}", "data.val_size=1", "data.train_size=null")
    data = load_summary_rows(cfg, str(tmp_path))
    by_id = {row["id"]: row for row in data.train + data.val + data.eval}
    assert set(by_id) == {"chat:1", "r7", *(f"g{i}" for i in range(8))}  # no id: file stem and line
    first = by_id["chat:1"]
    assert first["summary"] == "1. Left effusion." and first["specialty"] == "radiology"
    assert first["text"] == "FINDINGS: Small left pleural effusion. No pneumothorax.\n\nShorter, please."
    assert by_id["r7"]["facts"] == extract_facts("1. Right lower lobe pneumonia.") != []
    assert [m["weight"] for m in first["messages"]] == [1, 1, 1, 1, 1]  # "name" tolerated, dropped


# -- labels --------------------------------------------------------------------------------------
def _labelled_text(tokenizer, example: dict) -> str:
    return tokenizer.decode([t for t in example["labels"] if t != IGNORE])


@pytest.mark.parametrize("template", [None, TEMPLATE], ids=["plain", "chat_template"])
def test_only_assistant_turns_carry_labels(template):
    tokenizer = _tokenizer(template)
    encoder = PromptEncoder(tokenizer, "causal_lm", max_length=256, max_target_length=64)
    assert encoder.chat == (template is not None)
    example = encoder.encode_chat(_messages(GOOD))
    ids, labels = example["input_ids"], example["labels"]
    assert len(ids) == len(labels) == example["length"]
    assert all(label in (IGNORE, token) for token, label in zip(ids, labels, strict=True))
    assert _labelled_text(tokenizer, example) == BOTH_REPLIES
    # generation reads exactly the tokens training read before the reference reply
    prompt = example["prompt_ids"]
    assert ids[: len(prompt)] == prompt and labels[len(prompt)] != IGNORE
    assert tokenizer.decode(ids[len(prompt) :]) == "1. left effusion. [SEP]"
    rendered = tokenizer.decode(prompt)
    assert rendered.endswith("< | assistant | >" if template else "assistant :")
    assert "system" in rendered and "shorter, please" in rendered


def test_weight_zero_turn_gets_no_loss():
    tokenizer = _tokenizer()
    messages = _messages(GOOD)
    messages[2]["weight"] = 0
    example = PromptEncoder(tokenizer, "causal_lm", 256, 64).encode_chat(messages)
    assert _labelled_text(tokenizer, example) == "1. left effusion. [SEP]"


def test_training_batch_uses_the_conversation_labels_and_keeps_the_table_path():
    tokenizer = _tokenizer()
    encoder = PromptEncoder(tokenizer, "causal_lm", 256, 64)
    chat = encoder.encode_chat(_messages(GOOD))
    table = encoder.encode(lambda text: f"Summarise:\n{text}", "No effusion.", "1. Normal.")
    batch = training_batch([chat, table], "causal_lm", pad_id=0)
    assert batch["labels"][0, : chat["length"]].tolist() == chat["labels"]
    prompt, target = table["prompt_ids"], table["target_ids"]
    assert batch["input_ids"][1, : table["length"]].tolist() == prompt + target
    assert batch["labels"][1, : table["length"]].tolist() == [IGNORE] * len(prompt) + target
    assert batch["labels"][1, table["length"] :].eq(IGNORE).all()  # padding


def test_template_that_rewrites_earlier_turns_is_refused():
    # renders only the last assistant reply: earlier replies vanish once a later turn follows
    dropping = (
        "{% for m in messages %}{% if m['role'] != 'assistant' or loop.last %}{{ m['role'] }}: "
        "{{ m['content'] }}\n{% endif %}{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}"
    )
    encoder = PromptEncoder(_tokenizer(dropping), "causal_lm", 256, 64)
    with pytest.raises(MedtuneError, match="model.chat_template=false"):
        encoder.encode_chat(_messages(GOOD))


# -- too long ------------------------------------------------------------------------------------
@pytest.mark.parametrize("template", [None, TEMPLATE], ids=["plain", "chat_template"])
def test_long_conversation_cuts_the_longest_user_turn(template):
    tokenizer = _tokenizer(template)
    messages = _messages(GOOD)
    messages[1]["content"] = "FINDINGS: " + "Small left pleural effusion. " * 60
    encoder = PromptEncoder(tokenizer, "causal_lm", max_length=80, max_target_length=64)
    example = encoder.encode_chat(messages)
    assert example["text_cut"] and not example["target_cut"]
    assert example["length"] <= 80 and len(example["input_ids"]) == example["length"]
    # the replies, the other user turn and the system turn are whole
    text = tokenizer.decode(example["input_ids"])
    assert "you write impressions" in text and "shorter, please" in text
    assert _labelled_text(tokenizer, example) == BOTH_REPLIES


def test_long_reply_is_cut_to_max_target_length():
    tokenizer = _tokenizer()
    example = PromptEncoder(tokenizer, "causal_lm", 256, max_target_length=3).encode_chat(_messages(GOOD))
    assert example["target_cut"] and not example["text_cut"]
    assert _labelled_text(tokenizer, example) == "1. small [SEP] 1. left [SEP]"


def test_no_room_for_user_turns_is_an_error():
    encoder = PromptEncoder(_tokenizer(), "causal_lm", max_length=12, max_target_length=64)
    with pytest.raises(MedtuneError, match="no room for the user turns"):
        encoder.encode_chat(_messages(GOOD))


# -- families and a whole run --------------------------------------------------------------------
@pytest.mark.parametrize("model", ["minilm_seq2seq", "minilm"])
def test_other_families_are_refused_before_any_work(model):
    cfg = compose_config("task=summarize_radiology", f"model={model}", "data.format=openai_chat")
    with pytest.raises(MedtuneError, match="model=tiny_llama") as err:
        make_task(cfg)
    assert f"model.family={cfg.model.family}" in str(err.value)


def test_chat_file_trains_end_to_end(tmp_path):
    synthetic = ensure_synthetic(synthetic_source("radiology"), tmp_path / "synthetic", 40, 10, seed=0)
    system = {"role": "system", "content": "Write the impression of this report as a numbered list."}
    for split in ("train", "eval"):
        rows = [json.loads(line) for line in (synthetic / f"{split}.jsonl").read_text().splitlines()]
        chats = [
            {
                "id": row["id"],
                "messages": [system, {"role": "user", "content": row["text"]}, _assistant(row["summary"])],
            }
            for row in rows
        ]
        write_jsonl(tmp_path / f"{split}.jsonl", chats)
    run_dir = tmp_path / "run"
    metrics = train_here(
        tmp_path,
        run_dir,
        *("task=summarize_radiology", "model=tiny_llama", "data.format=openai_chat"),
        *(f"data.path={tmp_path / 'train.jsonl'}", f"data.eval_path={tmp_path / 'eval.jsonl'}"),
        *(
            "data.train_size=24",
            "data.val_size=8",
            "trainer.max_epochs=1",
            "task.max_new_tokens=8",
            "logger=none",
        ),
    )
    assert (metrics["data"]["n_train"], metrics["data"]["n_val"], metrics["data"]["n_eval"]) == (24, 8, 10)
    assert metrics["main_metric"] == "rougeL" and "rougeL" in metrics["tuned"]
    assert set(metrics["base"]) == set(metrics["tuned"])
    meta = json.loads((run_dir / "adapter" / "medtune.json").read_text())
    assert meta["data_format"] == "openai_chat" and meta["prompt"] is None and meta["chat_template"] is False
