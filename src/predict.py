"""python -m src.predict run=<run dir or export> input=<notes.jsonl|.csv|.parquet> output=<codes.jsonl>

Codes every note of the input with a trained model: one JSON line per note, in input order,
{<id column>: id, "codes": [...], "scores": {code: probability}} for the predicted codes,
chosen by the decision rule tuned at training. Note text is never written to the output.
Optional: text_column= and id_column= (default: the run's data config), device=auto|cpu|cuda,
batch_size=32 (notes per forward pass), overwrite=true (replace an existing output file).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import transformers
from omegaconf import MISSING, DictConfig

from src.console import console
from src.data.records import is_missing, read_table
from src.errors import MedtuneError, exit_on_user_error
from src.inference import load_predictor, parse_args, read_meta
from src.paths import keep_private, private_from_env

USAGE = "python -m src.predict run=<run dir or export> input=<notes file> output=<codes.jsonl>"


@dataclass
class PredictArgs:
    run: str = MISSING
    input: str = MISSING
    output: str = MISSING
    text_column: str | None = None  # None: the run's data.text_column
    id_column: str | None = None  # None: the run's data.id_column
    device: str = "auto"  # auto: the GPU when there is one
    batch_size: int = 32
    overwrite: bool = False


def read_notes(path: Path, text_column: str, id_column: str) -> tuple[list[str], list[str]]:
    """(ids, texts) of every row. A row without an id gets '<file stem>:<line>', as in training."""
    if not path.is_file():
        raise MedtuneError(f"input={path}: file not found; give a .jsonl, .csv or .parquet file of notes")
    ids, texts = [], []
    for line, raw in read_table(path):
        where = f"{path}:{line}"
        if text_column not in raw:
            raise MedtuneError(
                f"{where}: no '{text_column}' column (found: {', '.join(map(str, raw))}); "
                "set text_column=<name of the note text column>"
            )
        text = raw[text_column]
        if is_missing(text) or not str(text).strip():
            raise MedtuneError(f"{where}: empty text in column '{text_column}'")
        row_id = raw.get(id_column)
        ids.append(f"{path.stem}:{line}" if is_missing(row_id) else str(row_id))
        texts.append(str(text))
    if not texts:
        raise MedtuneError(f"input={path}: no rows")
    return ids, texts


def predict_file(args: DictConfig) -> None:
    """Codes the notes of args.input (see PredictArgs) into args.output."""
    start = time.perf_counter()
    output = Path(args.output)
    if output.is_dir():
        raise MedtuneError(f"output={output} is a directory; give the path of a .jsonl file to write")
    if output.exists() and not args.overwrite:
        raise MedtuneError(f"output={output} already exists; choose another file or add overwrite=true")
    if args.batch_size < 1:
        raise MedtuneError(f"batch_size must be a positive integer, got {args.batch_size}")
    meta = read_meta(Path(args.run))  # a bad run dir fails before the input is read
    id_column = args.id_column or meta["data"]["id_column"]
    ids, texts = read_notes(Path(args.input), args.text_column or meta["data"]["text_column"], id_column)
    predictor = load_predictor(args.run, args.device)
    scores = predictor.predict(texts, args.batch_size, progress=True)
    index = {code: j for j, code in enumerate(predictor.labels)}
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")  # renamed when complete: never half a file
    with partial.open("w", encoding="utf-8") as handle:
        for row_id, codes, row in zip(ids, predictor.decide(scores), scores, strict=True):
            probabilities = {code: round(float(row[index[code]]), 6) for code in codes}
            line = {id_column: row_id, "codes": codes, "scores": probabilities}
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    partial.replace(output)
    console.print(
        f"coded {len(ids)} notes -> {output} (on {predictor.device}, {time.perf_counter() - start:.1f} s)"
    )


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    keep_private(private_from_env())
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    predict_file(parse_args(PredictArgs, sys.argv[1:] if argv is None else argv, USAGE))


if __name__ == "__main__":
    main()
