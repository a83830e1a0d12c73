"""The classifier on a tiny random BERT: chunking, LoRA wiring, learning, adapter round trip."""

import torch
from conftest import NOTES, compose_config
from datasets import Dataset
from peft import PeftModel
from transformers import AutoTokenizer

from src.data.chunking import collate_chunks, tokenize_chunks
from src.models import build
from src.models.classifier import pool_notes


def test_long_notes_become_overlapping_chunks_and_the_cache_is_reused(tmp_path, tiny_bert):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    long_note = " ".join(f"word{i}" for i in range(300))
    data = Dataset.from_list([{"text": long_note}, {"text": "short note"}])
    out, stats = tokenize_chunks(data, tokenizer, 64, 16, 3, tmp_path, "fp1")
    assert not stats["reused_cache"]
    assert len(out[0]["chunks"]) == 3 and out[0]["n_chunks_total"] > 3  # cut at max_chunks
    assert stats["notes_cut_at_max_chunks"] == 1
    assert len(out[1]["chunks"]) == 1
    first, second = out[0]["chunks"][:2]
    assert first[-17:-1] == second[1:17]  # 16 tokens of overlap (between [CLS]/[SEP])
    again, stats = tokenize_chunks(data, tokenizer, 64, 16, 3, tmp_path, "fp1")
    assert stats["reused_cache"] and again["chunks"] == out["chunks"]
    _, stats = tokenize_chunks(data, tokenizer, 48, 16, 3, tmp_path, "fp1")
    assert not stats["reused_cache"]  # a chunking setting is part of the key

    batch = collate_chunks(list(out), tokenizer.pad_token_id)
    assert batch["input_ids"].shape == (4, 64) and batch["note_index"].tolist() == [0, 0, 0, 1]
    assert batch["attention_mask"][3].sum() == len(out[1]["chunks"][0])


def test_pool_notes_takes_max_per_note():
    vectors = torch.tensor([[1.0, 0.0], [3.0, -1.0], [2.0, 5.0]])
    pooled = pool_notes(vectors, torch.tensor([0, 0, 1]), "max")
    assert pooled.tolist() == [[3.0, 0.0], [2.0, 5.0]]


def make_model(tiny_bert, labels, *overrides):
    cfg = compose_config(f"model.name_or_path={tiny_bert}", "model.max_length=32", *overrides)
    base = build.classifier_base(build.load_encoder(cfg.model), len(labels), cfg.model)
    return cfg, build.wrap_with_lora(base, cfg.lora)


def test_lora_trains_only_adapter_and_head_and_can_overfit(tiny_bert):
    torch.manual_seed(0)
    labels = sorted({c for _, codes in NOTES for c in codes})
    cfg, model = make_model(tiny_bert, labels, "lora.r=4", "model.classifier_dropout=0", "lora.dropout=0")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "classifier" in n for n in trainable)
    assert model.training  # from_pretrained's eval mode must not leak into training

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    rows = [{"chunks": [tokenizer(text)["input_ids"]]} for text, _ in NOTES]
    batch = collate_chunks(rows, tokenizer.pad_token_id)
    target = torch.zeros(len(NOTES), len(labels))
    for i, (_, codes) in enumerate(NOTES):
        for code in codes:
            target[i, labels.index(code)] = 1
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(150):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(**batch), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        predicted = (torch.sigmoid(model(**batch)) > 0.5).float()
    assert torch.equal(predicted, target), f"could not overfit 8 notes (loss {loss.item():.3f})"


def test_adapter_round_trip_with_plain_peft(tiny_bert, tmp_path):
    labels = ["E11.9", "I10"]
    cfg, model = make_model(tiny_bert, labels)
    with torch.no_grad():  # make the adapter non-trivial (LoRA B starts at zero)
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.1)
    model.eval()
    model.save_pretrained(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    fresh = build.classifier_base(build.load_encoder(cfg.model), len(labels), cfg.model)
    loaded = PeftModel.from_pretrained(fresh, tmp_path / "adapter").eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    batch = collate_chunks([{"chunks": [tokenizer("HTN and T2DM")["input_ids"]]}], tokenizer.pad_token_id)
    with torch.no_grad():
        assert torch.equal(model(**batch), loaded(**batch))
