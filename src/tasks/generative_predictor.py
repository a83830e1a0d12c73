"""A trained generative model (causal_lm, seq2seq) ready for new inputs, from a run dir or an export.

A run dir (python -m src.train) holds adapter/ (the peft adapter and medtune.json) and
.hydra/resolved.yaml: the base model is rebuilt from the resolved config (random weights and a
warm start's new layers from the run's seed) and the adapter merged into it once. An export
(python -m src.export) holds the merged model that plain transformers loads, its tokenizer,
medtune.json (with the run's resolved config) and, for a causal LM, adapter/: the peft adapter
as vLLM and TGI load it.

Both prompt through the run's own task class, as its evaluation split was prompted (the same
template, chat template and cut of long notes), decode greedily as the evaluation did
(src/generation.py) and read the outputs as the task scores them. Predicting the evaluation split
in batches of loop.eval_batch_size reproduces the run's tuned outputs exactly; another batch size
pads differently, which can change a float's last bits and so, rarely, a token.
Weights are read from safetensors only: a pickle from a user's path could run any code.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from omegaconf import OmegaConf
from peft import PeftModel
from transformers import PreTrainedModel

from src.errors import MedtuneError
from src.generation import generate_texts
from src.inference import ADAPTER_WEIGHTS, META_FILE, read_json, read_run
from src.models import build, output_vocab
from src.models.generative import LOADERS, load_generative

if TYPE_CHECKING:
    from src.tasks.generative import GenerativeTask

log = logging.getLogger(__name__)

ADAPTER_DIR = "adapter"
ADAPTER_FILES = ("adapter_config.json", ADAPTER_WEIGHTS)  # peft's layout, as vLLM/TGI read it


@dataclass
class GenerativePredictor:
    task: GenerativeTask  # the run's task class on its resolved config: prompts and outputs
    model: PreTrainedModel  # adapter merged, eval mode, on `device`
    meta: dict  # adapter/medtune.json + data columns + the run's resolved config ("config")
    device: torch.device
    adapter: Path | None  # the peft adapter folder an export copies (causal LMs)

    def predictions(
        self, inputs: list[dict[str, str]], batch_size: int = 32, progress: bool = False
    ) -> list[dict]:
        """The task's prediction per input (src.inference.Predictor): generative coding
        {"codes", "generated"}; summaries {"summary"}; eligibility {"decision", "score", "generated"}."""
        task, examples, cut = self.task, [], 0
        for number, fields in enumerate(inputs, 1):
            try:
                example, was_cut = task.generation_prompt(task.input_row(fields))
            except MedtuneError as err:
                raise MedtuneError(f"input row {number}: {err}") from None
            examples.append(example)
            cut += was_cut
        if cut:
            cfg = task.cfg
            reads = (
                f"data.max_chunks={task.encoder.max_chunks} chunks of model.max_length="
                f"{cfg.model.max_length} tokens"
                if task.encoder.chunked
                else f"model.max_length={cfg.model.max_length} tokens with room for task.max_target_length="
                f"{cfg.task.max_target_length}"
            )
            log.warning(
                "%d of %d inputs are longer than the model reads (%s, fixed at training); their tails "
                "were not read",
                cut, len(inputs), reads,
            )  # fmt: skip
        generated = generate_texts(
            self.model,
            task.tokenizer,
            examples,
            task.cfg.model.family,
            task.cfg.task.max_new_tokens,
            batch_size,
            self.device,
            "Generating",
            progress,
        )
        prompts = [example["prompt_ids"] for example in examples]  # only summaries chunk; they score no more
        return task.predictions(self.model, prompts, generated, batch_size, self.device, progress)

    def save(self, out: Path, exported_from: Path) -> None:
        """A standalone model without peft (python -m src.export): the merged model (loadable with
        AutoModelForCausalLM / AutoModelForSeq2SeqLM), its tokenizer, medtune.json and, for a
        causal LM, adapter/ for vLLM or TGI over the base model."""
        kept = self.meta.get("output_vocab")
        if kept and not output_vocab.bake(self.model, kept):
            log.warning(
                "%s: the output layer has no bias to hold model.output_vocab=targets, so plain transformers "
                "may write word pieces the run never could (medtune's predictor restricts it again)",
                out,
            )  # fmt: skip
        self.model.save_pretrained(out)  # safetensors in transformers 5
        self.task.tokenizer.save_pretrained(out)
        if self.adapter is not None and self.meta["family"] == "causal_lm":
            (out / ADAPTER_DIR).mkdir()
            for name in ADAPTER_FILES:
                shutil.copyfile(self.adapter / name, out / ADAPTER_DIR / name)
            full = read_json(self.adapter / "adapter_config.json").get("modules_to_save")
            if full:
                log.warning(
                    "%s trains %s in full beside LoRA: vLLM and TGI refuse such an adapter (vLLM: 'only "
                    "supports modules_to_save being None'); serve the merged model in %s instead",
                    out / ADAPTER_DIR, ", ".join(full), out,
                )  # fmt: skip
        meta = {**self.meta, **self.task.export_files(out), "exported_from": str(exported_from.resolve())}
        (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def is_export(path: Path) -> bool:
    return (path / META_FILE).is_file()


def read_meta(task_class: type[GenerativeTask], path: Path) -> dict:
    """The settings of a run dir or an export (see GenerativePredictor.meta); loads no weights."""
    if is_export(path):
        meta = read_json(path / META_FILE)
        if "config" not in meta:
            raise MedtuneError(f"{path / META_FILE} holds no run config: export the run again")
        return meta
    return _run_meta(task_class, path)


def load_predictor(task_class: type[GenerativeTask], path: Path, target: torch.device) -> GenerativePredictor:
    """The model of a run dir or an export, on `target`, with the adapter merged."""
    meta = read_meta(task_class, path)
    cfg = OmegaConf.create(meta["config"])
    task = task_class(cfg)
    if is_export(path):
        local = OmegaConf.merge(cfg.model, {"name_or_path": str(path), "tokenizer": None})
        tokenizer = build.load_tokenizer(local)
        model = build._load(LOADERS[cfg.model.family], local, dtype=build.DTYPES[cfg.model.dtype])
        adapter = path / ADAPTER_DIR if (path / ADAPTER_DIR / ADAPTER_FILES[1]).is_file() else None
        if meta.get("output_vocab"):  # baked into the bias too; restricted again for the speed
            output_vocab.restrict(model, meta["output_vocab"])
    else:
        tokenizer = build.load_tokenizer(cfg.model)
        # The very base the run trained from; checkpointing and dropout are training's only.
        model_cfg = OmegaConf.merge(cfg.model, {"gradient_checkpointing": False, "encoder_dropout": None})
        base = load_generative(model_cfg, tokenizer, cfg.seed)
        adapter = path / ADAPTER_DIR
        # Merged once, as the run's evaluation merged it: generation at the base model's speed.
        if meta.get("output_vocab"):  # before the adapter: the run trained and evaluated it so
            output_vocab.restrict(base, meta["output_vocab"])
        model = PeftModel.from_pretrained(base, adapter).merge_and_unload()
    task.use_tokenizer(tokenizer)
    task.restore_tuned({**meta, "loaded_from": str(path)})
    return GenerativePredictor(task, model.eval().to(target), meta, target, adapter)


def _run_meta(task_class: type[GenerativeTask], run_dir: Path) -> dict:
    """adapter/medtune.json, the input columns and the run's resolved config."""
    cfg, meta = read_run(run_dir)
    if cfg.model.quantization:
        raise MedtuneError(
            f"run={run_dir} trained its adapter over a model.quantization={cfg.model.quantization} base "
            "(QLoRA): its weights cannot be merged exactly, so src.predict and src.export do not serve it; "
            "load it with peft over the quantized base on a CUDA GPU, or train with model.quantization=null"
        )
    if OmegaConf.select(cfg, "data.format", default="table") == "openai_chat":
        raise MedtuneError(
            f"run={run_dir} was trained on data.format=openai_chat conversations; src.predict reads one "
            "note per table row, which the run never saw as a prompt: train on a table "
            "(data.format=table) to predict with src.predict"
        )
    meta["data"] = {"columns": task_class(cfg).input_columns(), "id_column": cfg.data.id_column}
    meta["config"] = OmegaConf.to_container(cfg, resolve=True)
    return meta
