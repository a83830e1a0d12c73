"""Training from cached frozen-layer features computes what the full model computes."""

from __future__ import annotations

import pytest
import torch
from conftest import NOTES, compose_config
from datasets import Dataset

from src.data.chunking import tokenize_chunks
from src.models import build, prefix_cache
from src.tasks.coding.data import CodingRows
from src.tasks.coding.task import CodingData, CodingTask


def setup(tiny_bert, tmp_path, *overrides):
    """A tiny 2-layer BERT with LoRA on its top layer, and a few tokenized notes."""
    cfg = compose_config(
        f"model.name_or_path={tiny_bert}",
        "model.encoder_dropout=0.0",
        "lora.top_layers=1",
        "lora.dropout=0.0",
        "model.classifier_dropout=0.0",
        f"paths.cache_dir={tmp_path}",
        "model.max_length=16",  # short chunks: several per note
        "data.chunk_overlap=4",
        "data.max_chunks=4",
        *overrides,
    )
    task = CodingTask(cfg)
    rows = [
        {"id": str(i), "text": text * (1 + i % 3), "codes": codes} for i, (text, codes) in enumerate(NOTES)
    ]
    labels = sorted({code for row in rows for code in row["codes"]})
    tokenizer = build.load_tokenizer(cfg.model)
    tokenized, _ = tokenize_chunks(
        Dataset.from_list(rows),
        tokenizer,
        cfg.model.max_length,
        cfg.data.chunk_overlap,
        cfg.data.max_chunks,
        tmp_path,
        "notes",
        {},
    )  # as a run tokenizes: the evaluation's evidence recomputes the chunks' offsets from the config
    task.label_index = {code: i for i, code in enumerate(labels)}
    task.pad_token_id = tokenizer.pad_token_id
    coding_rows = CodingRows(rows, rows, rows, labels, descriptions={c: c for c in labels}, files={})
    data = CodingData(coding_rows, tokenized, tokenized, tokenized, tokenizer, tokenization={})
    torch.manual_seed(0)
    model = task.build_model(data)
    return task, data, model


@pytest.mark.parametrize("checkpointing", [False, True])
def test_cached_features_give_the_same_scores_and_gradients(tiny_bert, tmp_path, checkpointing):
    """Also under model.gradient_checkpointing, which recomputes the top layer from cached input."""
    task, data, model = setup(tiny_bert, tmp_path, f"model.gradient_checkpointing={checkpointing}")
    plain = task.collate(list(data.train))
    train_set, _ = task.training_sets(model, data)
    assert isinstance(train_set, prefix_cache.WithPrefix)
    assert model.get_base_model().frozen_layers == 1
    cached = task.collate([train_set[i] for i in range(len(train_set))])
    assert cached["prefix_hidden"].shape[:2] == plain["input_ids"].shape

    model.train()
    losses, grads = [], []
    for batch in (plain, cached):
        model.zero_grad()
        loss, _ = task.step(model, batch)
        loss.backward()
        losses.append(loss.item())
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad})
    assert abs(losses[0] - losses[1]) < 1e-6
    lora_grads = [n for n in grads[0] if "lora_" in n]
    assert lora_grads  # the top layer's LoRA weights get gradients through the cached path
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], atol=1e-6, rtol=1e-4)


def test_cache_stays_off_when_lower_layers_change(tiny_bert, tmp_path):
    for overrides, reason in [
        (("model.encoder_dropout=0.1",), "use dropout"),
        (("lora.top_layers=null",), "top layers only"),
        (("loop.cache_frozen_layers=false",), "off (loop.cache_frozen_layers=false)"),
        (("loop.cache_max_gb=0.0",), "loop.cache_max_gb=0.0"),
    ]:
        task, data, model = setup(tiny_bert, tmp_path, *overrides)
        n_frozen, why = prefix_cache.frozen_layers(model, task.cfg, 1000)
        assert n_frozen == 0 and reason in why, (overrides, why)
        assert task.training_sets(model, data) == (data.train, data.val)


def test_base_evaluation_keeps_features_that_validation_and_tuned_scoring_reuse(tiny_bert, tmp_path):
    task, data, model = setup(tiny_bert, tmp_path)
    base = task.evaluate_base(data)
    assert task.features["layers"] == 1 and len(task.features["eval"]) == len(data.eval)
    _, val_set = task.training_sets(model, data)
    assert val_set.features is task.features["val"]  # not computed a second time
    tuned = task.evaluate_tuned(model, data)

    plain_task, plain_data, plain_model = setup(tiny_bert, tmp_path, "loop.cache_frozen_layers=false")
    assert plain_task.evaluate_base(plain_data) == pytest.approx(base)
    assert plain_task.features["layers"] == 0
    assert plain_task.evaluate_tuned(plain_model, plain_data) == pytest.approx(tuned)
