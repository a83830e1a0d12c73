"""Batched greedy generation for evaluation: the same decoding for the base and the tuned model."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from src.data.prompts import generation_batch


def generate_texts(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    rows: list[dict],
    family: str,
    max_new_tokens: int,
    batch_size: int,
    device: torch.device,
    desc: str,
) -> list[str]:
    """One output text per row (rows carry prompt_ids), in the rows' order.

    Greedy (deterministic) with the KV cache; rows are batched in order of prompt length so a
    batch pads little, and each output stops at eos or after max_new_tokens.
    """
    ids = _special_ids(model)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["prompt_ids"]))
    outputs: dict[int, str] = {}
    model.eval().to(device)
    with torch.inference_mode():
        for start in tqdm(range(0, len(order), batch_size), desc=desc, leave=False):
            chosen = order[start : start + batch_size]
            batch = generation_batch([rows[i] for i in chosen], family, ids["pad"])
            batch = {k: v.to(device) for k, v in batch.items()}
            generated = model.generate(
                **batch,
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


def _special_ids(model: torch.nn.Module) -> dict[str, int]:
    config = model.generation_config
    return {"pad": config.pad_token_id, "eos": config.eos_token_id}
