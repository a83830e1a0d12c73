"""An output layer restricted to the word pieces a run has read (model.output_vocab=targets).

A warm-started MiniLM decoder scores all 30,522 word pieces at every position: its output layer
(384 x 30,522) is the largest matmul of a summary's training step and of every generated token,
though the embedded radiology reports and impressions use 656 word pieces. With
output_vocab=targets the layer multiplies only the rows of the word pieces in the training and
validation examples, references and notes (a summary copies words from its note), and the
tokenizer's special tokens; its weights are untouched, only its forward changes:
- training's loss (subset_loss) is the cross-entropy over those rows alone, each label mapped
  to its row: the same value as the full layer's with every other word piece at -inf;
- everything else (generation, src.predict) gets full-size logits with -inf outside the set, so
  model.generate and the tokenizer work in the tokenizer's ids and no other piece is written;
- the base model is evaluated with the whole layer (whole_layer): the checkpoint as published,
  the same for every job of a sweep whatever its training subset.
The ids are saved in adapter/medtune.json ("output_vocab"); a predictor restricts the rebuilt base
the same way, and an export writes -inf into the output bias outside the set (bake, where the
layer has a bias, as BERT decoders do), so plain transformers generates the same outputs from it.
"""

from __future__ import annotations

import logging
import types
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from datasets import Dataset

from src.data.prompts import IGNORE
from src.errors import MedtuneError

log = logging.getLogger(__name__)


def learnt_ids(splits: Iterable[Dataset], special_ids: Iterable[int]) -> list[int]:
    """The sorted word-piece ids of the splits' examples (prompts, their further chunks and
    references) and the special tokens."""
    ids = set(special_ids)
    for split in splits:
        for column in ("prompt_ids", "target_ids"):
            for pieces in split[column]:
                ids.update(pieces)
        if "more_chunks" in split.column_names:
            for chunks in split["more_chunks"]:
                for chunk in chunks:
                    ids.update(chunk)
    return sorted(ids)


def for_run(model_cfg, splits: dict[str, Dataset], special_ids: list[int], stats: dict) -> list[int]:
    """A run's kept ids: the pieces of its training and validation examples; stats records them
    and how many evaluation reference pieces fall outside (which the model cannot write)."""
    if model_cfg.family != "seq2seq":
        raise MedtuneError(
            f"model.output_vocab=targets restricts a seq2seq model's output layer; model.family="
            f"{model_cfg.family} (model={model_cfg.short_name}): set model.output_vocab=full"
        )
    ids = learnt_ids((splits["train"], splits["val"]), special_ids)
    kept = set(ids)
    outside = sum(piece not in kept for target in splits["eval"]["target_ids"] for piece in target)
    stats["output_vocab"] = len(ids)
    stats["eval_reference_pieces_outside_output_vocab"] = outside
    if outside:
        log.warning(
            "%d word pieces of the evaluation references are in no training or validation example, "
            "so model.output_vocab=targets cannot write them (model.output_vocab=full can)",
            outside,
        )
    return ids


def restrict(model: torch.nn.Module, ids: list[int]) -> None:
    """Makes a seq2seq `model`'s output layer score only `ids` (a plain model, before peft wraps
    it; for_run refused the other families)."""
    layer = model.get_output_embeddings()
    if not isinstance(layer, torch.nn.Linear) or max(ids) >= layer.out_features:
        raise MedtuneError(
            f"model.output_vocab=targets: the output layer ({type(layer).__name__}) cannot be restricted "
            f"to ids up to {max(ids)}: set model.output_vocab=full"
        )
    rows = torch.tensor(ids, dtype=torch.long, device=layer.weight.device)
    position = torch.full((layer.out_features,), -1, dtype=torch.long, device=rows.device)
    position[rows] = torch.arange(len(ids), device=rows.device)
    # Buffers, not persistent: they follow .to(device) and stay out of every saved state dict.
    layer.register_buffer("output_rows", rows, persistent=False)
    layer.register_buffer("output_position", position, persistent=False)
    layer.subset_logits = False
    layer.whole = False
    layer.forward = types.MethodType(_forward, layer)


def _forward(layer: torch.nn.Linear, hidden: torch.Tensor) -> torch.Tensor:
    if layer.whole:
        return F.linear(hidden, layer.weight, layer.bias)
    rows = layer.output_rows
    bias = None if layer.bias is None else layer.bias[rows]
    logits = F.linear(hidden, layer.weight[rows], bias)
    if layer.subset_logits:
        return logits
    full = logits.new_full((*logits.shape[:-1], layer.out_features), float("-inf"))
    return full.index_copy(-1, rows, logits)


@contextmanager
def whole_layer(model: torch.nn.Module) -> Iterator[None]:
    """Every word piece scored again inside the block (a restricted model's base evaluation)."""
    layer = model.get_output_embeddings()
    restricted = is_restricted(model)
    if restricted:
        layer.whole = True
    try:
        yield
    finally:
        if restricted:
            layer.whole = False


def is_restricted(model: torch.nn.Module) -> bool:
    return hasattr(model.get_output_embeddings(), "output_rows")


def check_frozen(peft_model: torch.nn.Module, trained: list[str]) -> None:
    """MedtuneError when peft replaced the restricted layer (trained in full or given LoRA): its
    copy would score every word piece while the loss reads the kept rows."""
    layer = peft_model.get_output_embeddings()  # peft's wrappers pass attribute reads through
    if not isinstance(layer, torch.nn.Linear) or not is_restricted(peft_model):
        raise MedtuneError(
            "model.output_vocab=targets restricts a frozen output layer, but this model trains it "
            f"(lora.modules_to_save {trained} or a LoRA target): set model.output_vocab=full, or stop "
            "training the output layer"
        )


def subset_loss(model: torch.nn.Module, inputs: dict) -> torch.Tensor:
    """Mean cross-entropy of inputs["labels"] (teacher-forced) over the restricted rows: what
    model(**inputs).loss computes, without the full layer's matmul and softmax."""
    layer = model.get_output_embeddings()
    inputs = dict(inputs)
    labels = inputs.pop("labels")
    inputs["decoder_input_ids"] = model.prepare_decoder_input_ids_from_labels(labels=labels)
    layer.subset_logits = True
    try:
        logits = model(**inputs).logits
    finally:
        layer.subset_logits = False
    learnt = labels != IGNORE
    mapped = torch.where(learnt, layer.output_position[labels.clamp(min=0)], IGNORE)
    if (mapped[learnt] < 0).any():
        raise MedtuneError(
            "a reference holds a word piece outside model.output_vocab (built from the training and "
            "validation examples): set model.output_vocab=full"
        )
    return F.cross_entropy(logits.flatten(0, 1), mapped.flatten(), ignore_index=IGNORE)


def bake(model: torch.nn.Module, ids: list[int]) -> bool:
    """Writes the restriction to `ids` into the output bias (-inf outside them), so a saved model
    generates the same outputs without medtune (a restricted forward reads only the kept rows);
    False when the layer has no bias to write it in (T5 shapes)."""
    layer = model.get_output_embeddings()
    if layer.bias is None:
        return False
    outside = torch.ones(layer.out_features, dtype=torch.bool)
    outside[ids] = False
    with torch.no_grad():
        layer.bias[outside.to(layer.bias.device)] = float("-inf")
    return True
