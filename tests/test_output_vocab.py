"""model.output_vocab=targets: the output layer scores only the word pieces training read
(src/models/output_vocab.py), with a loss equal to the full layer's and outputs inside the set."""

from __future__ import annotations

import pytest
import torch
from conftest import compose_config
from transformers import BertConfig, EncoderDecoderConfig, EncoderDecoderModel

from src.errors import MedtuneError
from src.models import output_vocab
from src.tasks.summarization.task import SummarizationTask

SMALL = (
    "data.train_size=16",
    "data.synthetic.n_train=60",
    "data.synthetic.n_eval=20",
    "data.synthetic.val_size=6",
)
VOCAB, KEPT = 120, [0, 1, 2, 5, 7, 11, 13, 40, 41, 42, 90]  # 0 pad, 1 start, 2 eos


def tiny_encoder_decoder(seed: int = 0) -> EncoderDecoderModel:
    """BERT shapes on both sides, as the MiniLM warm start, with random weights."""
    torch.manual_seed(seed)
    sizes = dict(
        vocab_size=VOCAB, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    decoder = BertConfig(**sizes, is_decoder=True, add_cross_attention=True)
    config = EncoderDecoderConfig.from_encoder_decoder_configs(BertConfig(**sizes), decoder)
    config.decoder_start_token_id, config.pad_token_id, config.eos_token_id = 1, 0, 2
    model = EncoderDecoderModel(config=config)
    with torch.no_grad():  # a bias that is not zero: the restriction must read the kept entries
        model.get_output_embeddings().bias.normal_()
    return model.eval()


def batch() -> dict[str, torch.Tensor]:
    labels = torch.tensor([[5, 7, 40, 2], [90, 2, -100, -100]])
    return {
        "input_ids": torch.randint(3, VOCAB, (2, 6)),
        "attention_mask": torch.ones(2, 6),
        "labels": labels,
    }


def test_the_loss_over_the_kept_rows_is_the_full_layers_loss_with_the_rest_at_minus_inf():
    model = tiny_encoder_decoder()
    inputs = batch()
    unrestricted = model(**inputs).loss
    output_vocab.restrict(model, KEPT)
    masked = model(**inputs).loss  # transformers' own loss over full-size logits, -inf outside
    subset = output_vocab.subset_loss(model, inputs)
    assert torch.allclose(subset, masked, atol=1e-5)
    assert subset < unrestricted  # the 109 other pieces no longer take probability
    with output_vocab.whole_layer(model):  # the base model's evaluation: every piece again
        assert torch.allclose(model(**inputs).loss, unrestricted)
    assert torch.allclose(model(**inputs).loss, masked)
    logits = model(**inputs).logits
    outside = [i for i in range(VOCAB) if i not in KEPT]
    assert torch.isinf(logits[..., outside]).all() and torch.isfinite(logits[..., KEPT]).all()


def test_gradients_reach_the_trained_layers_through_the_subset_loss():
    model = tiny_encoder_decoder().train()
    output_vocab.restrict(model, KEPT)
    output_vocab.subset_loss(model, batch()).backward()
    transform = model.decoder.cls.predictions.transform.dense.weight
    assert transform.grad is not None and transform.grad.abs().sum() > 0


def test_generation_writes_only_kept_pieces_and_a_baked_bias_needs_no_medtune():
    model = tiny_encoder_decoder()
    prompt = {"input_ids": torch.randint(3, VOCAB, (3, 6)), "attention_mask": torch.ones(3, 6)}
    settings = dict(max_new_tokens=12, do_sample=False, num_beams=1, min_new_tokens=12)
    free = model.generate(**prompt, **settings)
    assert not set(free.flatten().tolist()) <= set(KEPT)  # untrained: it writes anything
    output_vocab.restrict(model, KEPT)
    restricted = model.generate(**prompt, **settings)
    assert set(restricted.flatten().tolist()) <= set(KEPT)
    # An export: the same weights with -inf baked into the bias, loaded by plain transformers.
    assert output_vocab.bake(model, KEPT)
    plain = tiny_encoder_decoder(seed=1)
    plain.load_state_dict(model.state_dict())
    assert not output_vocab.is_restricted(plain)
    assert torch.equal(plain.generate(**prompt, **settings), restricted)


def test_a_reference_piece_outside_the_set_is_refused():
    model = tiny_encoder_decoder()
    output_vocab.restrict(model, KEPT)
    inputs = batch()
    inputs["labels"][0, 0] = 3  # not kept
    with pytest.raises(MedtuneError, match="outside model.output_vocab"):
        output_vocab.subset_loss(model, inputs)


def test_the_run_keeps_the_pieces_of_its_training_and_validation_examples(tmp_path):
    cfg = compose_config("task=summarize_radiology", f"paths.cache_dir={tmp_path}", *SMALL)
    task = SummarizationTask(cfg)
    data = task.load_data()
    learnt = {
        piece
        for split in (data.train, data.val)
        for column in ("prompt_ids", "target_ids")
        for pieces in split[column]
        for piece in pieces
    }
    assert set(task.output_ids) == learnt | {i for i in task.encoder.ids.values() if i is not None}
    stats = data.rows.stats
    assert stats["output_vocab"] == len(task.output_ids)
    outside = sum(p not in learnt for target in data.eval["target_ids"] for p in target)
    assert stats["eval_reference_pieces_outside_output_vocab"] == outside


def test_a_decoder_only_model_cannot_restrict_its_output(tmp_path):
    cfg = compose_config(
        "task=summarize_radiology",
        f"paths.cache_dir={tmp_path}",
        "model=tiny_llama",
        "model.output_vocab=targets",
        *SMALL,
    )
    with pytest.raises(MedtuneError, match="model.output_vocab=targets restricts a seq2seq"):
        SummarizationTask(cfg).load_data()


def test_an_output_layer_trained_in_full_cannot_be_restricted(tmp_path):
    # tiny_t5 trains its random lm_head in full: peft's copy would score every piece while the
    # loss read the kept rows (an infinite loss, silently).
    overrides = ("task=summarize_radiology", f"paths.cache_dir={tmp_path}", "model=tiny_t5", *SMALL)
    task = SummarizationTask(compose_config(*overrides, "model.output_vocab=targets"))
    data = task.load_data()
    with pytest.raises(MedtuneError, match=r"restricts a frozen output layer.*\['lm_head'\]"):
        task.build_model(data)
    # Frozen, it trains: a finite loss over the kept rows.
    task = SummarizationTask(
        compose_config(*overrides, "model.output_vocab=targets", "model.lora_modules_to_save=[]")
    )
    data = task.load_data()
    model = task.build_model(data)
    loss, _ = task.step(model, task.collate([data.train[i] for i in range(4)]))
    assert torch.isfinite(loss)
