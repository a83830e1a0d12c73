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
task.max_target_length is cut there. Both are counted and warned about, never silent. A causal
training prompt keeps the room its own completion leaves; a prompt the model generates from
(validation, evaluation, src.predict) leaves task.max_new_tokens, so its cut depends on the input
alone and a new input is prompted as the evaluation split was.

Whole notes (seq2seq, max_chunks > 1: fusion-in-decoder): a note whose prompt does not fit
model.max_length is split into the fewest windows of equal width (no overlap) whose prompts fit,
up to max_chunks; each window fills the whole template (a chunk), the encoder reads each chunk
alone and the decoder attends over all of them (src/models/fusion.py). The example keeps its
first chunk as prompt_ids and the rest as more_chunks. Only a note longer than max_chunks
windows is cut (counted). A note that fits one chunk is prompted exactly as with max_chunks=1.
A causal model reads one sequence: its prompt is cut to model.max_length (its context) as above.

Conversations (data.format=openai_chat, causal_lm only; encode_chat): the model reads the whole
conversation, with labels on every assistant turn's content and its end of turn (none on a turn
of weight 0), IGNORE elsewhere; the generation prompt is every token before the last assistant
turn. It is rendered with the tokenizer's chat template when it has one (and
model.chat_template is on), else plainly as role-labelled blocks:

    System:\n<content>\n\nUser:\n<content>\n\nAssistant:\n<content><eos>\n\nUser:\n...

after the bos token. The full text is tokenized once; a token is labelled when its characters
overlap an assistant turn's span, found by rendering the conversation's prefixes (so a template
that renders earlier turns differently once more follow is refused, not guessed at). An assistant
turn longer than task.max_target_length tokens is cut there; a conversation longer than
model.max_length loses the tail of its longest user turn (then the next), counted like the note.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from jinja2 import TemplateError
from transformers import PreTrainedTokenizerBase

from src.errors import MedtuneError
from src.models.shapes import special_ids

IGNORE = -100  # label of positions without loss (prompt, padding)
ROLE_LABELS = {"system": "System", "user": "User", "assistant": "Assistant"}  # the plain rendering


@dataclass
class PromptEncoder:
    tokenizer: PreTrainedTokenizerBase
    family: str  # causal_lm | seq2seq
    max_length: int  # causal: prompt + completion; seq2seq: prompt
    max_target_length: int
    use_chat_template: bool = True
    max_chunks: int = 1  # seq2seq: prompts (windows of the note) the encoder reads per example

    @property
    def chunked(self) -> bool:
        """Whether long notes are read in several chunks (fusion-in-decoder, seq2seq only)."""
        return self.family == "seq2seq" and self.max_chunks > 1

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

    def encode(
        self, make_prompt: Callable[[str], str], text: str, completion: str, reserve: int | None = None
    ) -> dict:
        """{prompt_ids, target_ids, length, text_cut, target_cut} (and more_chunks when chunked)
        for one example; make_prompt fills the template around a (possibly cut) note text.

        reserve: the tokens a causal prompt leaves for the completion; None: its own reference's
        (training). A prompt the model generates from (validation, evaluation) reserves
        task.max_new_tokens whatever its reference, as a new input's prompt does (src.predict)."""
        target, target_cut = self.target_ids(completion)
        reserve = len(target) if reserve is None else reserve
        prompt, text_cut = self.generation_prompt(make_prompt, text, reserve)
        return {
            **prompt,
            "target_ids": target,
            "length": prompt_length(prompt) + len(target),
            "text_cut": text_cut,
            "target_cut": target_cut,
        }

    def generation_prompt(
        self, make_prompt: Callable[[str], str], text: str, reserve: int
    ) -> tuple[dict, bool]:
        """({prompt_ids} and, when chunked, {more_chunks}; whether the note was cut)."""
        if not self.chunked:
            prompt, cut = self.fitted_prompt(make_prompt, text, reserve)
            return {"prompt_ids": prompt}, cut
        chunks, cut = self.fitted_chunks(make_prompt, text)
        return {"prompt_ids": chunks[0], "more_chunks": chunks[1:]}, cut

    def fitted_chunks(self, make_prompt: Callable[[str], str], text: str) -> tuple[list[list[int]], bool]:
        """(the chunks' prompt ids, whether the note was cut): one prompt when it fits
        model.max_length (as fitted_prompt gives it), else the note's first max_chunks windows."""
        prompt, cut = self.fitted_prompt(make_prompt, text, 0)
        if not cut:
            return [prompt], False
        offsets = self._content_offsets(text)
        overhead = len(self.prompt_ids(make_prompt("")))
        window = self.max_length - overhead  # note tokens one chunk holds
        count = max(2, math.ceil(len(offsets) / window))  # chunks the whole note takes
        used = min(count, self.max_chunks)
        kept = len(offsets) if count <= self.max_chunks else used * window
        width = math.ceil(kept / used)  # windows of one width: a batch of chunks pads little
        chunks = []
        for start in range(0, kept, width):
            piece = text[offsets[start][0] : offsets[min(start + width, kept) - 1][1]]
            ids = self.prompt_ids(make_prompt(piece))
            if len(ids) > self.max_length:  # re-tokenised alone, a window starting inside a word can grow
                ids = self._fitted(make_prompt, piece, self.max_length, overhead)
            chunks.append(ids)
        return chunks, count > self.max_chunks

    def fitted_prompt(
        self, make_prompt: Callable[[str], str], text: str, reserve: int
    ) -> tuple[list[int], bool]:
        """(prompt ids, whether the note was cut): the note cut so that the prompt leaves a causal
        model `reserve` tokens of model.max_length for its completion (a seq2seq prompt has
        model.max_length to itself)."""
        room = self.max_length - (reserve if self.family == "causal_lm" else 0)
        overhead = len(self.prompt_ids(make_prompt("")))
        if room - overhead < 1:
            raise MedtuneError(
                f"model.max_length={self.max_length} leaves no room for the note: the prompt template "
                f"takes {overhead} tokens"
                + (f" and the completion {reserve}" if self.family == "causal_lm" else "")
                + "; raise model.max_length, or shorten task.prompt / task.max_target_length / "
                "task.max_new_tokens"
            )
        prompt = self.prompt_ids(make_prompt(text))
        if len(prompt) <= room:
            return prompt, False
        return self._fitted(make_prompt, text, room, overhead), True

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

    # -- conversations (data.format=openai_chat) -------------------------------------------------
    def encode_chat(self, messages: list[dict]) -> dict:
        """{prompt_ids, input_ids, labels, length, text_cut, target_cut} for one conversation
        (messages: {role, content, weight}, the last the assistant's; src/data/openai_chat.py)."""
        messages, target_cut = self._cut_replies(messages)
        text_cut = False
        while True:
            ids, labels, reply_start = self._chat_tokens(messages)
            excess = len(ids) - self.max_length
            if excess <= 0:
                break
            messages, text_cut = self._shorten_longest_user_turn(messages, excess), True
        return {
            "prompt_ids": ids[:reply_start],  # exactly what training read before the reference
            "input_ids": ids,
            "labels": labels,
            "length": len(ids),
            "text_cut": text_cut,
            "target_cut": target_cut,
        }

    def _cut_replies(self, messages: list[dict]) -> tuple[list[dict], bool]:
        """Assistant turns cut to task.max_target_length tokens; whether one was."""
        out, cut = [], False
        for message in messages:
            if message["role"] == "assistant":
                content = self._keep_tokens(message["content"], self.max_target_length)
                cut |= content != message["content"]
                message = {**message, "content": content}
            out.append(message)
        return out, cut

    def _shorten_longest_user_turn(self, messages: list[dict], excess: int) -> list[dict]:
        """The longest user turn without its last `excess` tokens (the caller re-measures: tokens
        can merge across the cut)."""
        sizes = {
            i: len(self._content_offsets(m["content"])) for i, m in enumerate(messages) if m["role"] == "user"
        }
        longest = max(sizes, key=sizes.get)
        if sizes[longest] == 0:
            raise MedtuneError(
                f"model.max_length={self.max_length} leaves no room for the user turns: the system and "
                f"assistant turns alone are longer; raise model.max_length or lower task.max_target_length"
            )
        content = self._keep_tokens(messages[longest]["content"], max(sizes[longest] - excess, 0))
        return [{**m, "content": content} if i == longest else m for i, m in enumerate(messages)]

    def _content_offsets(self, content: str) -> list[tuple[int, int]]:
        encoded = self.tokenizer(content, add_special_tokens=False, return_offsets_mapping=True)
        return encoded["offset_mapping"]

    def _keep_tokens(self, content: str, keep: int) -> str:
        """content up to the end of its keep-th token (all of it when it has no more)."""
        offsets = self._content_offsets(content)
        if len(offsets) <= keep:
            return content
        return content[: offsets[keep - 1][1]] if keep > 0 else ""

    def _chat_tokens(self, messages: list[dict]) -> tuple[list[int], list[int], int]:
        """(ids, labels, index of the last assistant turn's first token) of the whole conversation."""
        text, spans = self._render_template(messages) if self.chat else self._render_plain(messages)
        encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        bos = self.tokenizer.bos_token_id
        prefix = [bos] if not self.chat and bos is not None else []  # a template holds its own bos
        ids, labels, reply_start = list(prefix), [IGNORE] * len(prefix), None
        last = len(spans) - 1
        for token, (start, end) in zip(encoded["input_ids"], encoded["offset_mapping"], strict=True):
            # Overlap, not containment: a byte-level BPE token carries the space before a word.
            turn = next((n for n, (s, e, _) in enumerate(spans) if start < e and end > s), None)
            if turn == last and reply_start is None:
                reply_start = len(ids)
            ids.append(token)
            labels.append(token if turn is not None and spans[turn][2] else IGNORE)
        return ids, labels, reply_start

    def _render_plain(self, messages: list[dict]) -> tuple[str, list[tuple[int, int, bool]]]:
        """The role-labelled rendering (module doc) and each assistant turn's (start, end, weighted)
        character span: its content and the eos after it."""
        eos = self.tokenizer.convert_ids_to_tokens(self.ids["eos"])
        text, spans = "", []
        for message in messages:
            text += ("\n\n" if text else "") + ROLE_LABELS[message["role"]] + ":\n"
            if message["role"] == "assistant":
                spans.append(
                    (len(text), len(text) + len(message["content"]) + len(eos), bool(message["weight"]))
                )
                text += message["content"] + eos
            else:
                text += message["content"]
        return text, spans

    def _render_template(self, messages: list[dict]) -> tuple[str, list[tuple[int, int, bool]]]:
        """The chat template's rendering and each assistant turn's (start, end, weighted) span, from
        the content's start (after the generation prompt of the turns before it) to the end of the
        rendering that stops after the turn (its end-of-turn token; trailing whitespace left out)."""
        text = self._apply_template(messages, False)
        spans = []
        for n, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            before = self._apply_template(messages[:n], True)
            through = self._apply_template(messages[: n + 1], False).rstrip()
            reply = through[len(before) :]
            start = len(before) + len(reply) - len(reply.lstrip())
            consistent = text.startswith(before) and text.startswith(through)
            if not (consistent and reply.lstrip().startswith(message["content"])):
                raise MedtuneError(
                    f"the chat template of {self.tokenizer.name_or_path!r} renders an earlier assistant "
                    "turn differently once later turns follow (or rewrites its text), so the assistant "
                    "tokens cannot be found; set model.chat_template=false for the plain rendering"
                )
            spans.append((start, len(through), bool(message["weight"])))
        return text, spans

    def _apply_template(self, messages: list[dict], generation_prompt: bool) -> str:
        turns = [{"role": m["role"], "content": m["content"]} for m in messages]
        try:
            return self.tokenizer.apply_chat_template(
                turns, add_generation_prompt=generation_prompt, tokenize=False
            )
        except (TemplateError, ValueError) as err:  # e.g. a template that requires alternating roles
            raise MedtuneError(
                f"the chat template of {self.tokenizer.name_or_path!r} refuses this conversation "
                f"({err}); reorder its turns, or set model.chat_template=false for the plain rendering"
            ) from None


def prompt_length(example: dict) -> int:
    """Prompt tokens of an example, over all its chunks."""
    return len(example["prompt_ids"]) + sum(len(chunk) for chunk in example.get("more_chunks", ()))


def pad(sequences: list[list[int]], value: int, left: bool = False) -> torch.Tensor:
    width = max(len(s) for s in sequences)
    rows = [([value] * (width - len(s)) + s) if left else (s + [value] * (width - len(s))) for s in sequences]
    return torch.tensor(rows, dtype=torch.long)


def mask(sequences: list[list[int]], left: bool = False) -> torch.Tensor:
    return pad([[1] * len(s) for s in sequences], 0, left)


def training_batch(rows: list[dict], family: str, pad_id: int) -> dict[str, torch.Tensor]:
    """Teacher-forced batch, right-padded: labels are the completion, or a conversation's assistant
    turns (IGNORE elsewhere)."""
    if family == "seq2seq":
        return {**encoder_batch(rows, pad_id), "labels": pad([row["target_ids"] for row in rows], IGNORE)}
    full, labels = zip(*(_causal_sequence(row) for row in rows), strict=True)
    return {"input_ids": pad(full, pad_id), "attention_mask": mask(full), "labels": pad(labels, IGNORE)}


def encoder_batch(rows: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """What a seq2seq encoder reads: one prompt per row, or, when a row has more chunks, every
    chunk of the batch as a row of its own and chunk_counts (chunks per example, in order) for
    src/models/fusion.py to regroup the encoder states by example."""
    chunks = [[row["prompt_ids"], *row.get("more_chunks", ())] for row in rows]
    if all(len(c) == 1 for c in chunks):  # one chunk each: the plain encoder-decoder batch
        prompts = [c[0] for c in chunks]
        return {"input_ids": pad(prompts, pad_id), "attention_mask": mask(prompts)}
    flat = [chunk for c in chunks for chunk in c]
    return {
        "input_ids": pad(flat, pad_id),
        "attention_mask": mask(flat),
        "chunk_counts": torch.tensor([len(c) for c in chunks], dtype=torch.long),
    }


def _causal_sequence(row: dict) -> tuple[list[int], list[int]]:
    """(ids, labels): a conversation brings its own (encode_chat); a prompt -> completion example
    learns its completion."""
    if "labels" in row:
        return row["input_ids"], row["labels"]
    return row["prompt_ids"] + row["target_ids"], [IGNORE] * len(row["prompt_ids"]) + row["target_ids"]


def generation_batch(rows: list[dict], family: str, pad_id: int) -> dict[str, torch.Tensor]:
    """Prompts only; a causal model continues them, so they are left-padded to end together."""
    if family == "seq2seq":
        return encoder_batch(rows, pad_id)
    prompts = [row["prompt_ids"] for row in rows]
    return {"input_ids": pad(prompts, pad_id, True), "attention_mask": mask(prompts, True)}
