"""Greedy decoding of a trained generative run, two ways, for bench.compare's summaries section.

    python -m bench.decoding medtune|generate RUN_DIR RESULT.json

Both decode the run's evaluation split (its prompts as the run encoded them, chunked notes
included) with its task.max_new_tokens, in batches of loop.eval_batch_size, and write the outputs,
their task metric and the decoding time to RESULT.json; loading is not timed.

- medtune: what the run's evaluation and src.predict do (src/tasks/generative_predictor.py and
  src/generation.py): the adapter merged into the base weights once, prompts batched in order of
  length.
- generate: plain `model.generate(do_sample=False, num_beams=1)` on the peft model as training
  left it (adapter not merged), batch after batch in the split's order, as a user would call it;
  a run with model.output_vocab=targets has its restriction as an export carries it: -inf in the
  output bias, the full output layer computed (src/models/output_vocab.py).

tokens/s counts the tokens `generate` returns on both sides, up to each output's eos (included).
Each runs in its own process (bench.compare starts it).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf
from peft import PeftModel

from src.data.prompts import generation_batch
from src.generation import generate_texts
from src.inference import read_run
from src.models import build, output_vocab
from src.models.fusion import model_inputs
from src.models.generative import load_generative
from src.tasks import make_task
from src.tasks.generative_predictor import load_predictor
from src.train import quiet_libraries


def plain_generate(
    model: torch.nn.Module, tokenizer, rows: list[dict], family: str, max_new_tokens: int, batch_size: int
) -> list[str]:
    """Greedy outputs of rows (prompt_ids, more_chunks) with model.generate, batch after batch in
    the rows' order. A chunked note's encoder states are joined as medtune joins them
    (src/models/fusion.py): the same inputs, or the outputs could not be compared."""
    config = model.generation_config
    texts = []
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            batch = generation_batch(rows[start : start + batch_size], family, config.pad_token_id)
            generated = model.generate(
                **model_inputs(model, batch),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                num_beams=1,
                pad_token_id=config.pad_token_id,
                eos_token_id=config.eos_token_id,
            )
            if family == "causal_lm":  # the prompt comes back in front of the new tokens
                generated = generated[:, batch["input_ids"].shape[1] :]
            texts += [text.strip() for text in tokenizer.batch_decode(generated, skip_special_tokens=True)]
    return texts


class CountingGenerate:
    """Wraps a model's generate: counts the new tokens of each output, up to its first eos."""

    def __init__(self, model: torch.nn.Module, family: str):
        self.generate, self.family, self.tokens = model.generate, family, 0
        self.eos = model.generation_config.eos_token_id
        model.generate = self

    def __call__(self, **kwargs) -> torch.Tensor:
        generated = self.generate(**kwargs)
        if self.family == "causal_lm":  # the prompt comes back in front of the new tokens
            new = generated[:, kwargs["input_ids"].shape[1] :]
        else:  # the decoder's start token first
            new = generated[:, 1:]
        eos = new == self.eos
        self.tokens += int((eos.cumsum(1) == 0).sum() + eos.any(1).sum())
        return generated


def load(kind: str, run_dir: Path):
    """(task with the run's data loaded, data, model ready to decode) for `kind`."""
    cfg, meta = read_run(run_dir)
    if kind == "medtune":
        predictor = load_predictor(type(make_task(cfg)), run_dir, torch.device("cpu"))
        task, model = predictor.task, predictor.model
    else:
        task = make_task(cfg)
        tokenizer = build.load_tokenizer(cfg.model)
        task.use_tokenizer(tokenizer)
        # The base the run trained from (checkpointing and dropout are training's only), then the adapter.
        model_cfg = OmegaConf.merge(cfg.model, {"gradient_checkpointing": False, "encoder_dropout": None})
        base = load_generative(model_cfg, tokenizer, cfg.seed)
        if meta.get("output_vocab"):
            output_vocab.bake(base, meta["output_vocab"])
        model = PeftModel.from_pretrained(base, run_dir / "adapter")
    return task, task.load_data(), model


def main(kind: str, run_dir: Path, result_file: Path) -> None:
    quiet_libraries()
    task, data, model = load(kind, run_dir)
    cfg, rows = task.cfg, list(data.eval)
    settings = (cfg.model.family, cfg.task.max_new_tokens, cfg.loop.eval_batch_size)
    counter = CountingGenerate(model, cfg.model.family)
    start = time.perf_counter()
    if kind == "medtune":
        cpu = torch.device("cpu")
        outputs = generate_texts(model, task.tokenizer, rows, *settings, cpu, "", progress=False)
    else:
        outputs = plain_generate(model, task.tokenizer, rows, *settings)
    decode_s = time.perf_counter() - start
    result = {
        "decode_s": decode_s,
        "outputs_per_s": len(outputs) / decode_s,
        "tokens_per_s": counter.tokens / decode_s,
        "metric": task.score(data.rows.eval, outputs)[cfg.task.main_metric],
        "outputs": outputs,
    }
    result_file.write_text(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("medtune", "generate"):
        sys.exit("usage: python -m bench.decoding medtune|generate RUN_DIR RESULT.json")
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
