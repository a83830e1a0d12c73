"""Prompt -> completion examples as token ids, for the generative families.

A task fills its prompt template (task.prompt) with an example's fields; the reference output is
the completion. How they become ids depends on the family:

- causal_lm: the prompt goes through the tokenizer's chat template as a user turn when the
  tokenizer has one (and model.chat_template is on), else it is used as it stands after the
  tokenizer's bos token. The model reads prompt + completion + eos; the loss is on the
  completion and eos only.
- seq2seq: the encoder reads the prompt (with the tokenizer's special tokens), the decoder
  learns completion + eos.

Too long: the note text inside the prompt is cut at a token boundary so that the whole example
fits model.max_length (the template's instructions are kept), and a completion longer than
task.max_target_length is cut there. Both are counted and warned about, never silent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from src.errors import MedtuneError
from src.models.generative import special_ids

IGNORE = -100  # label of positions without loss (prompt, padding)


@dataclass
class PromptEncoder:
    tokenizer: PreTrainedTokenizerBase
    family: str  # causal_lm | seq2seq
    max_length: int  # causal: prompt + completion; seq2seq: prompt
    max_target_length: int
    use_chat_template: bool = True

    def __post_init__(self):
        self.ids = special_ids(self.tokenizer)
        self.chat = (
            self.family == "causal_lm" and self.use_chat_template and bool(self.tokenizer.chat_template)
        )

    def prompt_ids(self, prompt: str) -> list[int]:
        tok = self.tokenizer
        if self.family == "seq2seq":
            return tok(prompt, add_special_tokens=True)["input_ids"]
        if self.chat:
            text = tok.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
            )
            return tok(text, add_special_tokens=False)["input_ids"]  # the template holds its bos
        bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
        return bos + tok(prompt, add_special_tokens=False)["input_ids"]

    def target_ids(self, completion: str) -> tuple[list[int], bool]:
        """(completion ids + eos, whether the completion was cut at max_target_length)."""
        ids = self.tokenizer(completion, add_special_tokens=False)["input_ids"]
        cut = len(ids) > self.max_target_length
        return ids[: self.max_target_length] + [self.ids["eos"]], cut

    def encode(self, make_prompt: Callable[[str], str], text: str, completion: str) -> dict:
        """{prompt_ids, target_ids, length, text_cut, target_cut} for one example; make_prompt
        fills the template around a (possibly cut) note text."""
        target, target_cut = self.target_ids(completion)
        room = self.max_length - (len(target) if self.family == "causal_lm" else 0)
        overhead = len(self.prompt_ids(make_prompt("")))
        if room - overhead < 1:
            raise MedtuneError(
                f"model.max_length={self.max_length} leaves no room for the note: the prompt template "
                f"takes {overhead} tokens"
                + (f" and the completion {len(target)}" if self.family == "causal_lm" else "")
                + "; raise model.max_length or shorten task.prompt / task.max_target_length"
            )
        prompt = self.prompt_ids(make_prompt(text))
        text_cut = len(prompt) > room
        if text_cut:
            prompt = self._fitted(make_prompt, text, room, overhead)
        return {
            "prompt_ids": prompt,
            "target_ids": target,
            "length": len(prompt) + len(target),
            "text_cut": text_cut,
            "target_cut": target_cut,
        }

    def _fitted(self, make_prompt: Callable[[str], str], text: str, room: int, overhead: int) -> list[int]:
        """The prompt with the note cut to fit `room` tokens (tokens can merge across the cut,
        so the cut is tightened until the rendered prompt fits)."""
        offsets = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)[
            "offset_mapping"
        ]
        keep = room - overhead
        while keep > 0:
            prompt = self.prompt_ids(make_prompt(text[: offsets[keep - 1][1]]))
            if len(prompt) <= room:
                return prompt
            keep -= len(prompt) - room
        return self.prompt_ids(make_prompt(""))


def pad(sequences: list[list[int]], value: int, left: bool = False) -> torch.Tensor:
    width = max(len(s) for s in sequences)
    rows = [([value] * (width - len(s)) + s) if left else (s + [value] * (width - len(s))) for s in sequences]
    return torch.tensor(rows, dtype=torch.long)


def mask(sequences: list[list[int]], left: bool = False) -> torch.Tensor:
    return pad([[1] * len(s) for s in sequences], 0, left)


def training_batch(rows: list[dict], family: str, pad_id: int) -> dict[str, torch.Tensor]:
    """Teacher-forced batch: labels are the completion (IGNORE elsewhere), right-padded."""
    if family == "seq2seq":
        prompts = [row["prompt_ids"] for row in rows]
        return {
            "input_ids": pad(prompts, pad_id),
            "attention_mask": mask(prompts),
            "labels": pad([row["target_ids"] for row in rows], IGNORE),
        }
    full = [row["prompt_ids"] + row["target_ids"] for row in rows]
    labels = [[IGNORE] * len(row["prompt_ids"]) + row["target_ids"] for row in rows]
    return {"input_ids": pad(full, pad_id), "attention_mask": mask(full), "labels": pad(labels, IGNORE)}


def generation_batch(rows: list[dict], family: str, pad_id: int) -> dict[str, torch.Tensor]:
    """Prompts only; a causal model continues them, so they are left-padded to end together."""
    prompts = [row["prompt_ids"] for row in rows]
    left = family == "causal_lm"
    return {"input_ids": pad(prompts, pad_id, left), "attention_mask": mask(prompts, left)}
