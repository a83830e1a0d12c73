"""python -m src.predict run=<run dir or export> input=<rows.jsonl|.csv|.parquet> output=<out.jsonl>

Runs a trained model on every row of the input: one JSON line per row, in input order,
{<id column>: id, ...the task's prediction}, by the decision rule tuned at training (coding:
"codes" and their "scores", with runs that calibrated them also the note's "confidence" and its
"route", "auto" or "review"; a run whose data.label_space chose a description scorer also adds
codes outside its training labels to "codes", each in "unseen": {code: {"source": "description",
"similarity": cosine}}, a similarity and not a probability; a generative run: "codes" and the
"generated" text, a "summary", or the "decision", its "score" and the "generated" text; see each
task's predictor). Input text is never written to the output. A generative run prompts and
decodes as its evaluation did; with batch_size=<the run's loop.eval_batch_size> its evaluation
split gets the very outputs it scored.
The input has the columns the run was trained on (its data config); rename them with
columns.<field>=<column> (text_column=<column> for the "text" field) and id_column=<column>.
Optional: device=auto|cpu|cuda, batch_size=32 (rows per forward pass), overwrite=true.
A coding classifier run with a label-attention head also explains its codes with evidence=true:
"evidence": {code: [{"start", "end", "score"}, ...]}, character offsets of the note's clauses that
hold the most of the code's attention (src/tasks/coding/evidence.py); evidence_text=true adds each
span's "text" (the only way note text reaches the output).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import transformers
from omegaconf import MISSING, DictConfig

from src.console import console
from src.data.records import is_missing, read_table
from src.errors import MedtuneError, exit_on_user_error
from src.inference import load_predictor, parse_args, read_meta
from src.paths import keep_private, private_from_env

USAGE = "python -m src.predict run=<run dir or export> input=<rows file> output=<predictions.jsonl>"


@dataclass
class PredictArgs:
    run: str = MISSING
    input: str = MISSING
    output: str = MISSING
    columns: dict[str, str] = field(default_factory=dict)  # input field -> column; unset: the run's
    text_column: str | None = None  # shorthand for columns.text
    id_column: str | None = None  # None: the run's data.id_column
    device: str = "auto"  # auto: the GPU when there is one
    batch_size: int = 32
    overwrite: bool = False
    evidence: bool = False  # coding classifier runs: offsets of the clauses behind each code
    evidence_text: bool = False  # with each evidence span's text (implies evidence)


def read_inputs(
    path: Path, columns: dict[str, str], id_column: str
) -> tuple[list[str], list[dict[str, str]]]:
    """(ids, inputs): per row, {field: text} for every field in `columns` (field -> column name).
    A row without an id gets '<file stem>:<line>', as in training."""
    if not path.is_file():
        raise MedtuneError(f"input={path}: file not found; give a .jsonl, .csv or .parquet file")
    ids, inputs = [], []
    for line, raw in read_table(path):
        where = f"{path}:{line}"
        row = {}
        for name, column in columns.items():
            if column not in raw:
                raise MedtuneError(
                    f"{where}: no '{column}' column (found: {', '.join(map(str, raw))}); "
                    f"set columns.{name}=<name of the column holding the {name}>"
                )
            value = raw[column]
            if is_missing(value) or not str(value).strip():
                raise MedtuneError(f"{where}: empty {name} in column '{column}'")
            row[name] = str(value)
        row_id = raw.get(id_column)
        ids.append(f"{path.stem}:{line}" if is_missing(row_id) else str(row_id))
        inputs.append(row)
    if not inputs:
        raise MedtuneError(f"input={path}: no rows")
    return ids, inputs


def input_columns(args: DictConfig, meta: dict) -> dict[str, str]:
    """The run's field -> column map with the user's renames applied; an unknown field is an error."""
    columns = dict(meta["data"]["columns"])
    renames = {**args.columns, **({"text": args.text_column} if args.text_column else {})}
    for name, column in renames.items():
        if name not in columns:
            raise MedtuneError(
                f"columns.{name}: this run reads no '{name}' field; its fields: {', '.join(columns)}"
            )
        columns[name] = column
    return columns


def predict_file(args: DictConfig) -> None:
    """Predicts every row of args.input (see PredictArgs) into args.output."""
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
    ids, inputs = read_inputs(Path(args.input), input_columns(args, meta), id_column)
    predictor = load_predictor(args.run, args.device)
    asked = {}
    if args.evidence or args.evidence_text:
        if not hasattr(predictor, "explain"):
            raise MedtuneError(
                f"evidence=true: run={args.run}'s task gives no evidence for its predictions (classifier "
                "runs with a label-attention head do); leave evidence and evidence_text unset"
            )
        asked = {"evidence": True, "evidence_text": args.evidence_text}
    predictions = predictor.predictions(inputs, args.batch_size, progress=True, **asked)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")  # renamed when complete: never half a file
    with partial.open("w", encoding="utf-8") as handle:
        for row_id, prediction in zip(ids, predictions, strict=True):
            handle.write(json.dumps({id_column: row_id, **prediction}, ensure_ascii=False) + "\n")
    partial.replace(output)
    console.print(
        f"predicted {len(ids)} rows -> {output} (on {predictor.device}, {time.perf_counter() - start:.1f} s)"
    )


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    keep_private(private_from_env())
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    predict_file(parse_args(PredictArgs, sys.argv[1:] if argv is None else argv, USAGE))


if __name__ == "__main__":
    main()
