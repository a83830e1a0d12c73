"""Evaluation passes of the generative families, the same for the base and the tuned model:
batched greedy generation, and teacher-forced scoring of given completions."""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from src.data.prompts import IGNORE, generation_batch, prompt_length, training_batch
from src.models.fusion import model_inputs


def generate_texts(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    rows: list[dict],
    family: str,
    max_new_tokens: int,
    batch_size: int,
    device: torch.device,
    desc: str,
    progress: bool = True,
) -> list[str]:
    """One output text per row (rows carry prompt_ids, and more_chunks when a seq2seq model reads
    a note in chunks: src/models/fusion.py), in the rows' order.

    Greedy (deterministic) with the KV cache; rows are batched in order of prompt length so a
    batch pads little, and each output stops at eos or after max_new_tokens.
    """
    ids = _special_ids(model)
    order = sorted(range(len(rows)), key=lambda i: prompt_length(rows[i]))
    outputs: dict[int, str] = {}
    model.eval().to(device)
    with torch.inference_mode():
        for start in tqdm(range(0, len(order), batch_size), desc=desc, leave=False, disable=not progress):
            chosen = order[start : start + batch_size]
            batch = generation_batch([rows[i] for i in chosen], family, ids["pad"])
            batch = {k: v.to(device) for k, v in batch.items()}
            generated = model.generate(
                **model_inputs(model, batch),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                num_beams=1,
                use_cache=True,
                pad_token_id=ids["pad"],
                eos_token_id=ids["eos"],
            )
            if family == "causal_lm":  # the prompt comes back in front of the new tokens
                generated = generated[:, batch["input_ids"].shape[1] :]
            texts = tokenizer.batch_decode(generated, skip_special_tokens=True)
            outputs.update({i: text.strip() for i, text in zip(chosen, texts, strict=True)})
    return [outputs[i] for i in range(len(rows))]


def completion_log_likelihoods(
    model: torch.nn.Module,
    rows: list[dict],
    family: str,
    batch_size: int,
    device: torch.device,
    desc: str,
    progress: bool = True,
) -> np.ndarray:
    """log P(completion | prompt) per row (rows carry prompt_ids and target_ids, eos included):
    the sum of the completion tokens' log-probabilities, teacher-forced as in training."""
    pad = _special_ids(model)["pad"]
    order = sorted(range(len(rows)), key=lambda i: prompt_length(rows[i]) + len(rows[i]["target_ids"]))
    out = np.empty(len(rows))
    model.eval().to(device)
    with torch.inference_mode():
        for start in tqdm(range(0, len(order), batch_size), desc=desc, leave=False, disable=not progress):
            chosen = order[start : start + batch_size]
            batch = training_batch([rows[i] for i in chosen], family, pad)
            batch = {k: v.to(device) for k, v in batch.items()}
            labels = batch["labels"]
            if family == "causal_lm":  # position t predicts token t + 1; no labels: no loss needed
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                logits, labels = logits[:, :-1], labels[:, 1:]
            else:  # the decoder reads the labels shifted right; its logits align with them
                logits = model(**model_inputs(model, batch)).logits
            picked = logits.float().log_softmax(-1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
            out[chosen] = (picked * (labels != IGNORE)).sum(-1).double().cpu().numpy()
    return out


def _special_ids(model: torch.nn.Module) -> dict[str, int]:
    config = model.generation_config
    return {"pad": config.pad_token_id, "eos": config.eos_token_id}
