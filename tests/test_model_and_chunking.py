"""The classifier on a tiny random BERT: chunking, LoRA wiring, learning, adapter round trip."""

import itertools
import math

import pytest
import torch
from conftest import NOTES, compose_config
from datasets import Dataset
from peft import PeftModel
from transformers import AutoTokenizer

from src.data.chunking import chunk_texts, collate_chunks, even_windows, tokenize_chunks
from src.errors import MedtuneError
from src.models import build
from src.models.classifier import LabelAttentionHead, pool_notes


def test_long_notes_become_overlapping_chunks_and_the_cache_is_reused(tmp_path, tiny_bert):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    long_note = " ".join(f"word{i}" for i in range(300))
    data = Dataset.from_list([{"text": long_note}, {"text": "short note"}])
    out, stats = tokenize_chunks(data, tokenizer, 64, 16, 3, tmp_path, "fp1", {})
    assert not stats["reused_cache"]
    assert len(out[0]["chunks"]) == 3 and out[0]["n_chunks_total"] > 3  # cut at max_chunks
    assert stats["notes_cut_at_max_chunks"] == 1
    assert len(out[1]["chunks"]) == 1
    first, second = out[0]["chunks"][:2]
    assert first[-17:-1] == second[1:17]  # 16 tokens of overlap (between [CLS]/[SEP])
    width = len(first)
    assert width <= 64 and all(len(chunk) == width for chunk in out[0]["chunks"])  # shared evenly
    again, stats = tokenize_chunks(data, tokenizer, 64, 16, 3, tmp_path, "fp1", {})
    assert stats["reused_cache"] and again["chunks"] == out["chunks"]
    _, stats = tokenize_chunks(data, tokenizer, 48, 16, 3, tmp_path, "fp1", {})
    assert not stats["reused_cache"]  # a chunking setting is part of the key

    batch = collate_chunks(list(out), tokenizer.pad_token_id)
    assert batch["input_ids"].shape == (4, width) and batch["note_index"].tolist() == [0, 0, 0, 1]
    assert batch["attention_mask"][3].sum() == len(out[1]["chunks"][0])


def test_pool_notes_takes_max_per_note():
    vectors = torch.tensor([[1.0, 0.0], [3.0, -1.0], [2.0, 5.0]])
    pooled = pool_notes(vectors, torch.tensor([0, 0, 1]), "max")
    assert pooled.tolist() == [[3.0, 0.0], [2.0, 5.0]]


def test_label_attention_spans_the_chunks_of_a_note():
    """One note read as two padded chunks scores exactly as the same tokens in one row."""
    torch.manual_seed(0)
    head = LabelAttentionHead(hidden_size=8, num_labels=3)
    tokens = torch.randn(5, 8)
    whole = head(tokens[None], torch.ones(1, 5), torch.tensor([0]))
    split = torch.zeros(2, 4, 8)
    split[0, :3], split[1, :2] = tokens[:3], tokens[3:]
    split[0, 3], split[1, 2:] = 100.0, -100.0  # padding must not count
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    chunked = head(split, mask, torch.tensor([0, 0]))
    torch.testing.assert_close(chunked, whole)
    other = head(torch.randn(1, 4, 8), torch.ones(1, 4), torch.tensor([0]))
    assert not torch.allclose(other, whole)


def test_encoder_dropout_override_reaches_attention(tiny_bert):
    cfg = compose_config(f"model.name_or_path={tiny_bert}", "model.encoder_dropout=0.0")
    encoder = build.load_encoder(cfg.model)
    rates = {m.p for m in encoder.modules() if isinstance(m, torch.nn.Dropout)}
    assert rates == {0.0} and encoder.config.attention_probs_dropout_prob == 0.0


def make_model(tiny_bert, labels, *overrides):
    cfg = compose_config(
        f"model.name_or_path={tiny_bert}", "model.max_length=32", "model.lora_top_layers=null", *overrides
    )
    base = build.classifier_base(build.load_encoder(cfg.model), len(labels), cfg.model)
    return cfg, build.wrap_with_lora(base, cfg.lora)


@pytest.mark.parametrize("head", ["label_attention", "pooled"])
def test_lora_trains_only_adapter_and_head_and_can_overfit(tiny_bert, head):
    torch.manual_seed(0)
    labels = sorted({c for _, codes in NOTES for c in codes})
    cfg, model = make_model(
        tiny_bert, labels, f"model.head={head}", "lora.r=4", "model.classifier_dropout=0", "lora.dropout=0"
    )
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


def test_lora_top_layers_adapts_only_the_top_of_the_encoder(tiny_bert):
    _, model = make_model(tiny_bert, ["I10"], "model.lora_top_layers=1")
    adapted = {n.split(".layer.")[1].split(".")[0] for n, _ in model.named_parameters() if "lora_A" in n}
    assert adapted == {"1"}  # the tiny BERT has layers 0 and 1
    with pytest.raises(MedtuneError, match="lora.top_layers=3, but the model has 2 layers"):
        make_model(tiny_bert, ["I10"], "model.lora_top_layers=3")


@pytest.mark.parametrize("window, overlap", [(126, 8), (62, 16), (10, 3)])
def test_even_windows_cover_the_text_with_the_fewest_equal_chunks(window, overlap):
    for n in range(1, 1500):
        starts, width = even_windows(n, window, overlap)
        fewest = 1 if n <= window else 1 + math.ceil((n - window) / (window - overlap))
        assert len(starts) == fewest and width <= window
        assert starts[0] == 0 and starts[-1] + width == n  # every token is read
        assert all(b > a and a + width - b >= overlap for a, b in itertools.pairwise(starts))


def test_chunks_keep_the_tokenizers_special_tokens(tiny_bert):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    chunks, total = chunk_texts(["short note", " ".join(["word"] * 200)], tokenizer, 64, 8, 8)
    assert chunks[0] == [tokenizer("short note")["input_ids"]]  # one chunk: as the tokenizer makes it
    assert total[1] == len(chunks[1]) == 4  # 200 words in windows of 62 with 8 of overlap
    assert all(c[0] == tokenizer.cls_token_id and c[-1] == tokenizer.sep_token_id for c in chunks[1])
