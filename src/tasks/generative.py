"""What every task shares on the generative families (causal_lm, seq2seq).

An example is a prompt (task.prompt filled with the example's fields) and a completion (the
reference output); training is teacher-forced cross-entropy on the completion's tokens
(src/data/prompts.py). Base and tuned models generate greedily for the same prompts and are
scored the same way (src/generation.py). The base model is the tuned model with its adapter
disabled: the very weights training starts from, new layers of a warm start included.
A task whose max_chunks() is above 1 (the summaries: data.max_chunks) has a seq2seq model read a
long note whole, in chunks fused in the decoder (src/data/prompts.py, src/models/fusion.py), in
training, validation, evaluation and src.predict alike; a causal model's prompt is still cut.

A task subclass says how its rows are read, what goes into the prompt and the completion, and
how outputs are scored.
"""

from __future__ import annotations

import json
import logging
import math
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from omegaconf import OmegaConf

from src.data.prompts import IGNORE, PromptEncoder, training_batch
from src.errors import MedtuneError
from src.generation import generate_texts
from src.models import build, generative, output_vocab
from src.models.fusion import model_inputs
from src.tasks import generative_predictor
from src.tasks.base import Task

log = logging.getLogger(__name__)
# Part of the base-result cache key: a change to prompting or decoding must not reuse old results.
# 2: evaluation prompts cut by the input alone (reserve in PromptEncoder.encode); 3: seq2seq
# summaries read long notes whole, in data.max_chunks chunks (fusion-in-decoder)
GENERATION_VERSION = "3"


@dataclass
class GenerativeData:
    rows: Any  # the task's rows: .train, .val, .eval (lists of dicts), .files, .stats
    train: Dataset  # id, prompt_ids, target_ids, length (conversations: input_ids, labels, no target_ids)
    val: Dataset
    eval: Dataset
    tokenizer: Any
    tokenization: dict


class GenerativeTask(Task):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.outputs: dict[str, list[str]] = {}  # evaluation-split outputs: base, tuned
        self._model = None  # the peft model; evaluate_base scores it with the adapter disabled
        self._val: tuple[list[dict], Dataset] = ([], Dataset.from_list([]))  # rows, prompts (training_sets)
        self.output_ids: list[int] | None = None  # model.output_vocab=targets: the pieces it may write

    # -- what a task supplies ------------------------------------------------------------------
    @abstractmethod
    def read_rows(self) -> Any:
        """The task's rows (.train, .val, .eval, .files, .stats), validated; MedtuneError on bad input."""

    @abstractmethod
    def note_text(self, row: dict) -> str:
        """The long field of the prompt: cut to fit model.max_length when it must be."""

    @abstractmethod
    def completion(self, row: dict) -> str:
        """The reference output the model learns to write."""

    def prompt_fields(self, row: dict) -> dict[str, str]:
        """task.prompt's fields other than {text}."""
        return {}

    def max_chunks(self) -> int:
        """Chunks (windows of the note, each in the whole prompt) a seq2seq model reads per
        example (fusion-in-decoder, src/models/fusion.py); 1: the prompt is cut to model.max_length."""
        return 1

    @abstractmethod
    def score(self, rows: list[dict], outputs: list[str]) -> dict[str, float]:
        """Metrics of outputs against the rows' references."""

    @abstractmethod
    def score_intervals(self, rows: list[dict], base: list[str], tuned: list[str]) -> dict:
        """95% bootstrap intervals for base, tuned and delta (paired over examples)."""

    def adapter_meta(self) -> dict:
        """What adapter/medtune.json holds besides the prompting and decoding: how to read outputs."""
        return {}

    # -- what prediction on new inputs needs (src/tasks/generative_predictor.py) -----------------
    output_key = "generated"  # the prediction's key for the generated text

    def input_columns(self) -> dict[str, str]:
        """The fields a new input gives (as read_rows names them), each with its column in the
        run's data files."""
        return {"text": self.cfg.data.text_column}

    def input_row(self, inputs: dict[str, str]) -> dict:
        """A row as read_rows gives it, from a new input's fields: what note_text and prompt_fields read."""
        return dict(inputs)

    def prediction(self, generated: str) -> dict:
        """The JSON-ready prediction of one generated output."""
        return {self.output_key: generated}

    def predictions(
        self,
        model: torch.nn.Module,
        prompts: list[list[int]],
        generated: list[str],
        batch_size: int,
        device: torch.device,
        progress: bool,
    ) -> list[dict]:
        """The predictions of new inputs from their prompts and greedy outputs; a task that scores
        more runs `model` (merged) on `device` in batches of batch_size rows."""
        return [self.prediction(text) for text in generated]

    def restore_tuned(self, meta: dict) -> None:
        """Takes back from adapter/medtune.json (or an export's) what adapter_meta saved of the
        tuned model; meta["loaded_from"] is the run dir or export read."""

    def export_files(self, out: Path) -> dict:
        """Writes into an export (src.export, folder `out`) what prediction needs besides the
        model; returns medtune.json's changes, paths in it relative to the export."""
        return {}

    @classmethod
    def read_meta(cls, path: Path) -> dict:
        return generative_predictor.read_meta(cls, path)

    @classmethod
    def load_predictor(cls, path: Path, device: torch.device) -> generative_predictor.GenerativePredictor:
        return generative_predictor.load_predictor(cls, path, device)

    # -- data ------------------------------------------------------------------------------------
    def check_data(self) -> None:
        self.rows = self.read_rows()
        self._check_prompt(self.rows.train[0])

    def _check_prompt(self, row: dict) -> None:
        fields = {**self.prompt_fields(row), "text": ""}
        try:
            self.cfg.task.prompt.format(**fields)
        except (KeyError, IndexError) as err:
            raise MedtuneError(
                f"task.prompt names the field {err}, which this task does not fill; it may use "
                + ", ".join("{" + name + "}" for name in fields)
                + " (write literal braces as {{ and }})"
            ) from None

    def load_data(self) -> GenerativeData:
        cfg = self.cfg
        rows = self.rows or self.read_rows()
        tokenizer = build.load_tokenizer(cfg.model)
        self.use_tokenizer(tokenizer)
        splits, cut = {}, {"text": 0, "target": 0}
        for split in ("train", "val", "eval"):
            encoded = []
            for row in getattr(rows, split):
                example = self._encode(row, generation=split != "train")
                cut["text"] += example.pop("text_cut")
                cut["target"] += example.pop("target_cut")
                encoded.append({"id": row["id"], **example})
            splits[split] = Dataset.from_list(encoded)
        total = sum(len(d) for d in splits.values())
        if cut["text"]:
            log.warning("%d of %d notes %s", cut["text"], total, self.cut_message())
        if cut["target"]:
            log.warning(
                "%d of %d reference outputs are longer than task.max_target_length=%d tokens: the model "
                "learns only their start (raise task.max_target_length)",
                cut["target"], total, cfg.task.max_target_length,
            )  # fmt: skip
        rows.stats["notes_cut_to_max_length"] = cut["text"]
        rows.stats["references_cut_to_max_target_length"] = cut["target"]
        if OmegaConf.select(cfg, "model.output_vocab", default="full") == "targets":
            special = [i for i in self.encoder.ids.values() if i is not None]
            self.output_ids = output_vocab.for_run(cfg.model, splits, special, rows.stats)
        return GenerativeData(
            rows, splits["train"], splits["val"], splits["eval"], tokenizer, {"reused_cache": False}
        )

    def cut_message(self) -> str:
        """What a cut note lost and how to read it whole, after "N of M notes"."""
        cfg = self.cfg
        if self.encoder.chunked:
            return (
                f"are longer than data.max_chunks={self.encoder.max_chunks} chunks of model.max_length="
                f"{cfg.model.max_length} tokens (each the prompt with one window of the note): their tails "
                "were cut; raise data.max_chunks to read them (cost grows with the chunks read)"
            )
        message = (
            f"are longer than model.max_length={cfg.model.max_length} tokens allows: their tails were "
            "cut (in a conversation, its longest user turn's); raise model.max_length, up to the "
            "model's context, to read them"
        )
        if self.max_chunks() > 1:  # set, but a decoder-only model reads one sequence
            message += (
                f" (data.max_chunks={self.max_chunks()}, reading a note in chunks, applies to seq2seq "
                "models only: a causal_lm reads its prompt up to model.max_length, its context)"
            )
        return message

    def use_tokenizer(self, tokenizer) -> None:
        """Prompts are encoded with `tokenizer` from here on."""
        cfg = self.cfg
        self.tokenizer = tokenizer
        self.encoder = PromptEncoder(
            tokenizer,
            cfg.model.family,
            cfg.model.max_length,
            cfg.task.max_target_length,
            cfg.model.chat_template,
            self.max_chunks(),
        )

    def _encode(self, row: dict, generation: bool) -> dict:
        if "messages" in row:  # data.format=openai_chat: the conversation is the prompt
            try:
                return self.encoder.encode_chat(row["messages"])
            except MedtuneError as err:
                raise MedtuneError(f"example {row['id']!r}: {err}") from None
        # A prompt generated from leaves task.max_new_tokens, as a new input's does (generation_prompt).
        reserve = self.cfg.task.max_new_tokens if generation else None
        return self.encoder.encode(
            partial(self.fill_prompt, row), self.note_text(row), self.completion(row), reserve
        )

    def fill_prompt(self, row: dict, text: str) -> str:
        """task.prompt filled with the row's fields and `text`, its note text (cut or whole):
        what the model reads, in training and in an OpenAI chat file's user turn (src.to_openai)."""
        return self.cfg.task.prompt.format(**self.prompt_fields(row), text=text)

    def generation_prompt(self, row: dict) -> tuple[dict, bool]:
        """({prompt_ids} and, for a chunked note, {more_chunks}; whether the note was cut) of a
        row, as the evaluation split was prompted."""
        reserve = self.cfg.task.max_new_tokens
        return self.encoder.generation_prompt(partial(self.fill_prompt, row), self.note_text(row), reserve)

    # -- models ------------------------------------------------------------------------------------
    def _peft_model(self) -> torch.nn.Module:
        if self._model is None:
            cfg = self.cfg
            base = generative.load_generative(cfg.model, self.tokenizer, cfg.seed)
            if self.output_ids is not None:
                output_vocab.restrict(base, self.output_ids)
            self._model = generative.wrap_with_lora(base, cfg.model, cfg.lora)
            if self.output_ids is not None:
                output_vocab.check_frozen(self._model, list(cfg.lora.modules_to_save))
        return self._model

    def build_model(self, data: GenerativeData) -> torch.nn.Module:
        return self._peft_model().train()

    def _generate(self, model: torch.nn.Module, split: Dataset, desc: str) -> list[str]:
        return generate_texts(
            model,
            self.tokenizer,
            list(split),
            self.cfg.model.family,
            self.cfg.task.max_new_tokens,
            self.cfg.loop.eval_batch_size,
            self.device,
            desc,
        )

    # -- base model ------------------------------------------------------------------------------
    def evaluate_base(self, data: GenerativeData) -> dict[str, float]:
        model = self._peft_model()
        # The checkpoint as published: every word piece (output_vocab restricts the tuned model).
        with model.disable_adapter(), output_vocab.whole_layer(model):
            self.outputs["base"] = self._generate(model, data.eval, "Base model: evaluation split")
        return self.score(data.rows.eval, self.outputs["base"])

    def base_state(self) -> dict:
        return {"outputs": self.outputs["base"]}

    def restore_base(self, state: dict) -> None:
        self.outputs["base"] = state["outputs"]

    def base_cache_dir(self) -> Path | None:
        return Path(self.cfg.paths.cache_dir) / "base"

    def base_dependencies(self) -> dict:
        # New weights (random_init, warm-start layers) are drawn from the seed.
        return {"seed": self.cfg.seed, "generation": GENERATION_VERSION}

    # -- training --------------------------------------------------------------------------------
    def training_sets(self, model: torch.nn.Module, data: GenerativeData) -> tuple[Dataset, Dataset]:
        self._val = (data.rows.val, data.val)  # epoch_metrics generates for its first examples
        return data.train, data.val

    def collate(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        return training_batch(rows, self.cfg.model.family, self.encoder.ids["pad"])

    def step(self, model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
        inputs = model_inputs(model, batch)
        if self.output_ids is not None:
            loss = output_vocab.subset_loss(model, inputs)
        else:
            loss = model(**inputs).loss  # mean over the completion tokens of the batch
        tokens = int((batch["labels"] != IGNORE).sum())
        return loss, {"loss_sum": float(loss.detach()) * tokens, "tokens": tokens}

    def epoch_metrics(self, model: torch.nn.Module, outputs: list[dict]) -> dict[str, float]:
        """The task's scores of greedy outputs for the first loop.val_generations validation
        examples (the same ones every epoch, scored as evaluate_tuned scores), and the perplexity
        of all the validation references (teacher-forced)."""
        tokens = sum(o["tokens"] for o in outputs)
        perplexity = math.exp(min(sum(o["loss_sum"] for o in outputs) / max(tokens, 1), 50.0))
        rows, prompts = self._val
        n = min(self.cfg.loop.val_generations, len(rows))
        if n == 0:
            return {"perplexity": perplexity}
        scores = self.score(rows[:n], self._generate(model, prompts.select(range(n)), "Validation outputs"))
        return {**scores, "perplexity": perplexity}

    # -- tuned model -----------------------------------------------------------------------------
    @contextmanager
    def merged(self, model: torch.nn.Module) -> Iterator[None]:
        """The adapter merged into the base weights: the model runs at the base model's speed and
        computes what src.predict's merged model (and an export) computes. Unmerged again after,
        so the saved adapter is the trained one. Quantized weights cannot take a merge."""
        merge = not self.cfg.model.quantization
        if merge:
            model.merge_adapter()
        try:
            yield
        finally:
            if merge:
                model.unmerge_adapter()

    def evaluate_tuned(self, model: torch.nn.Module, data: GenerativeData) -> dict[str, float]:
        with self.merged(model):
            val = self._generate(model, data.val, "Tuned model: validation slice")
            self.outputs["tuned"] = self._generate(model, data.eval, "Tuned model: evaluation split")
        self.validation = self.score(data.rows.val, val)
        return self.score(data.rows.eval, self.outputs["tuned"])

    def intervals(self, data: GenerativeData) -> dict:
        return self.score_intervals(data.rows.eval, self.outputs["base"], self.outputs["tuned"])

    def examples(self, data: GenerativeData, n: int) -> list[dict]:
        return [
            {
                "id": row["id"],
                "text": self.note_text(row),
                "gold": self.completion(row),
                "base": b,
                "tuned": t,
            }
            for row, b, t in zip(
                data.rows.eval[:n], self.outputs["base"], self.outputs["tuned"], strict=False
            )
        ]

    # -- artefact --------------------------------------------------------------------------------
    def save_adapter(self, model: torch.nn.Module, data: GenerativeData, out_dir: Path) -> None:
        model.save_pretrained(out_dir)  # LoRA weights and the modules trained in full
        model_cfg = self.cfg.model
        data_format = self.cfg.data.get("format", "table")  # only the summarisation data has one
        meta = {
            "task": self.cfg.task.name,
            "task_class": self.class_path(),  # src.inference finds the predictor by it
            "family": model_cfg.family,
            "base_model": model_cfg.name_or_path,
            "tokenizer": model_cfg.tokenizer or model_cfg.name_or_path,
            "random_init": None if model_cfg.random_init is None else dict(model_cfg.random_init),
            "warm_started": isinstance(model.get_base_model(), generative.EncoderDecoderModel),
            "seed": self.cfg.seed,  # the warm start's new layers are drawn from it
            "data_format": data_format,
            "prompt": None if data_format == "openai_chat" else self.cfg.task.prompt,  # conversations: unused
            "chat_template": self.encoder.chat,
            "max_length": model_cfg.max_length,
            "max_chunks": self.encoder.max_chunks if self.encoder.chunked else 1,
            "max_new_tokens": self.cfg.task.max_new_tokens,
            "decoding": "greedy",
            "output_vocab": self.output_ids,  # null: every word piece
            **self.adapter_meta(),
        }
        (out_dir / "medtune.json").write_text(json.dumps(meta, indent=2) + "\n")
