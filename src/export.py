"""python -m src.export run=<run dir> out=<new dir>: a standalone model without peft.

Merges the LoRA adapter into the base model and writes, into out/:
  config.json, model.safetensors, tokenizer files: the merged model, loadable with
      transformers.AutoModel (a classifier's encoder; a T5 encoder: AutoModelForTextEncoding),
      AutoModelForCausalLM or AutoModelForSeq2SeqLM
  classifier.safetensors (classifier family): the trained head (ChunkedNoteClassifier.classifier)
  adapter/ (causal_lm): the peft adapter as vLLM and TGI load it over the base model
  medtune.json: what prediction needs (label space, decision rule, prompt, the run's config),
      plus "exported_from"
python -m src.predict run=<out> predicts with it as with the run dir.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import transformers
from omegaconf import MISSING

from src.console import console
from src.errors import MedtuneError, exit_on_user_error
from src.inference import load_predictor, parse_args
from src.paths import keep_private, private_from_env

USAGE = "python -m src.export run=<run dir> out=<new dir>"


@dataclass
class ExportArgs:
    run: str = MISSING
    out: str = MISSING


def export(run: Path, out: Path) -> None:
    """Writes the merged model of `run` into `out`, which must be new or empty."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise MedtuneError(f"out={out} exists and is not an empty dir; give a new or empty dir")
    predictor = load_predictor(run, device="cpu")
    # Written aside and renamed at the end, so a failed export never leaves a half model in out.
    staging = out.with_name(f".{out.name}.partial-{os.getpid()}")
    staging.mkdir(parents=True)
    try:
        predictor.save(staging, exported_from=run)
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    console.print(f"exported {run} -> {out}")


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    keep_private(private_from_env())
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    args = parse_args(ExportArgs, sys.argv[1:] if argv is None else argv, USAGE)
    export(Path(args.run), Path(args.out))


if __name__ == "__main__":
    main()
