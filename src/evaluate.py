"""python -m src.evaluate --predictions <file.jsonl> --run <run dir> [--name <name>]

Scores predictions made elsewhere (a hosted fine-tune, a vendor, a rule system) on a run's
evaluation split, beside the run's tuned model: the same metrics (the task's own `score`) and
paired bootstrap intervals of predictions - tuned (`score_intervals`, the run's seed). The file
has src.predict's form, one JSON line per row: the run's id column and the task's prediction
fields (see each task's prediction_output). The split is the run's own: its data files re-read
by the task and checked against the manifest's sha256 of those files and of the split's ids.
The tuned model's predictions of the split are recomputed with src.inference.load_predictor
(a run stores its metrics, not its per-row outputs) and checked against its metrics.json.

A row of the split without a line in the file is scored as no answer (no codes, an empty
summary; for eligibility the wrong decision, ranked last: Task.no_answer) and named; lines whose
id is not in the split are named and not scored. Writes evaluation.json and evaluation.md to
<run dir>/evaluations/<name>/ (name: the file's stem).
key=value arguments work too (run=... predictions=...), as for src.predict.
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import transformers
from omegaconf import MISSING, DictConfig, OmegaConf

from src.console import console
from src.data.caches import sha256_file
from src.errors import MedtuneError, exit_on_user_error
from src.inference import load_predictor, parse_args, read_json, trained_by
from src.manifest import ids_digest, now
from src.paths import keep_private, private_from_env
from src.run_dir import write_json
from src.tasks.base import Task

USAGE = "python -m src.evaluate --predictions <file.jsonl> --run <run dir> [--name <name>]"
LISTED = 20  # ids named in evaluation.md (evaluation.json names them all)


@dataclass
class EvaluateArgs:
    run: str = MISSING
    predictions: str = MISSING
    name: str | None = None  # evaluations/<name>/; None: the predictions file's stem
    id_column: str | None = None  # None: the run's data.id_column
    device: str = "auto"  # for recomputing the tuned model's predictions
    batch_size: int = 32
    overwrite: bool = False


def as_key_values(argv: list[str]) -> list[str]:
    """--key value and --key=value as key=value (a bare --overwrite: overwrite=true); key=value kept."""
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--"):
            key, eq, value = arg[2:].partition("=")
            if not eq:
                has_value = i + 1 < len(argv) and not argv[i + 1].startswith("--")
                value = argv[i + 1] if has_value else "true"
                i += has_value
            arg = f"{key.replace('-', '_')}={value}"
        out.append(arg)
        i += 1
    return out


def load_run(run_dir: Path) -> tuple[Task, dict, dict]:
    """(the task with the run's rows read, manifest, metrics); refuses a split that changed."""
    task_cls = trained_by(run_dir)  # a finished run (or an export: refused below)
    resolved = run_dir / ".hydra" / "resolved.yaml"
    if not resolved.is_file():
        raise MedtuneError(
            f"{resolved} not found: src.evaluate needs the training run dir (its config, manifest and "
            "metrics), not an export; give the run dir python -m src.train printed"
        )
    cfg: DictConfig = OmegaConf.load(resolved)
    manifest, metrics = read_json(run_dir / "manifest.json"), read_json(run_dir / "metrics.json")
    task = task_cls(cfg)
    task.prediction_output(None, "")  # a task that scores no outputs refuses before any work
    root = Path(manifest["data"]["root"])  # relative data paths start from the launch dir
    with contextlib.chdir(root) if root.is_dir() else contextlib.nullcontext():
        task.check_data()
        changed = [
            str(Path(path).resolve())
            for role, path in task.rows.files.items()
            if sha256_file(path) != manifest["data"]["files"][role]["sha256"]
        ]
    if changed:
        raise MedtuneError(
            f"{changed[0]} changed since the run (sha256 differs from {run_dir / 'manifest.json'}): the "
            "evaluation split cannot be rebuilt; restore the file the run trained on"
        )
    if ids_digest(task.rows.eval) != manifest["data"]["splits"]["eval"]["ids_sha256"]:
        raise MedtuneError(
            f"{run_dir}: the evaluation split read now differs from the manifest's (ids_sha256); "
            "run src.evaluate with the medtune version that trained the run"
        )
    return task, manifest, metrics


def read_predictions(
    path: Path, id_column: str, task: Task, rows: list[dict]
) -> tuple[list, list[str], list[str]]:
    """(one output per row, missing ids, unknown ids): missing rows get prediction_output(None)."""
    if not path.is_file():
        raise MedtuneError(f"--predictions {path}: file not found; give the JSONL file of predictions")
    wanted = {str(row["id"]) for row in rows}
    found: dict[str, object] = {}
    first_line: dict[str, int] = {}
    unknown: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise MedtuneError(f"{where}: not JSON ({err.msg}); one JSON object per line") from None
            if not isinstance(record, dict) or record.get(id_column) is None:
                raise MedtuneError(
                    f"{where}: no '{id_column}' field; each line needs the row's id (the run's id column), "
                    "or give the file's id field with --id-column"
                )
            row_id = str(record[id_column])
            if row_id in first_line:
                raise MedtuneError(f"{where}: id {row_id!r} again (first on line {first_line[row_id]})")
            first_line[row_id] = line_no
            if row_id in wanted:
                found[row_id] = task.prediction_output(record, where)
            else:
                unknown.append(row_id)
    if not first_line:
        raise MedtuneError(f"--predictions {path}: no predictions in the file")
    if not found:
        raise MedtuneError(
            f"--predictions {path}: none of its {len(first_line)} ids is in the run's evaluation split "
            f"(file: {', '.join(list(first_line)[:3])}...; split: {', '.join(list(wanted)[:3])}...); "
            "predict the run's evaluation file, or give the file's id field with --id-column"
        )
    missing = [str(row["id"]) for row in rows if str(row["id"]) not in found]
    no_answer = task.prediction_output(None, "")
    outputs = [found[str(row["id"])] if str(row["id"]) in found else no_answer for row in rows]
    return outputs, missing, unknown


def tuned_outputs(task: Task, run_dir: Path, rows: list[dict], device: str, batch_size: int) -> list:
    """The run's tuned model's outputs on rows, as src.predict computes them."""
    predictor = load_predictor(run_dir, device)
    fields = predictor.meta["data"]["columns"]
    inputs = [{name: row[name] for name in fields} for row in rows]
    predictions = predictor.predictions(inputs, batch_size, progress=True)
    return [
        task.prediction_output(p, f"tuned model, row {row['id']}")
        for p, row in zip(predictions, rows, strict=True)
    ]


def evaluate(args: DictConfig) -> dict:
    """Scores args.predictions beside args.run's tuned model; writes and returns evaluation.json."""
    run_dir, path = Path(args.run), Path(args.predictions)
    out = run_dir / "evaluations" / (args.name or path.stem)
    if out.exists() and not args.overwrite:
        raise MedtuneError(f"{out} exists; choose another --name or add --overwrite")
    task, manifest, metrics = load_run(run_dir)
    rows = task.rows.eval
    id_column = args.id_column or task.cfg.data.id_column
    outputs, missing, unknown = read_predictions(path, id_column, task, rows)
    tuned = tuned_outputs(task, run_dir, rows, args.device, args.batch_size)
    scores = {"tuned": task.score(rows, tuned), "predictions": task.score(rows, outputs)}
    paired = task.score_intervals(rows, tuned, outputs)  # base side: the tuned model
    stored = metrics["tuned"]
    report = {
        "run": str(run_dir.resolve()),
        "task": task.cfg.task.name,
        "main_metric": metrics["main_metric"],
        "predictions": {"path": str(path.resolve()), "sha256": sha256_file(path)},
        "eval_split": {"n": len(rows), "ids_sha256": manifest["data"]["splits"]["eval"]["ids_sha256"]},
        "answered": len(rows) - len(missing),
        "missing": {"n": len(missing), "ids": missing, "scored_as": task.no_answer},
        "unknown": {"n": len(unknown), "ids": unknown, "scored_as": "not scored"},
        "metrics": scores,
        "delta": task.delta(scores["tuned"], scores["predictions"]),  # predictions - tuned, points
        "intervals": {"tuned": paired["base"], "predictions": paired["tuned"], "delta": paired["delta"]},
        # the tuned model's scores recomputed here, as the run's metrics.json has them
        "tuned_reproduced": all(
            abs(scores["tuned"][k] - stored[k]) < 1e-9 for k in scores["tuned"] if k in stored
        ),
        "seed": task.cfg.seed,
        "created_at": now(),
    }
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "evaluation.json", report)
    (out / "evaluation.md").write_text(markdown(report))
    console.print(markdown(report), markup=False)
    console.print(f"written: {out / 'evaluation.md'}, {out / 'evaluation.json'}")
    return report


def markdown(report: dict) -> str:
    """The side-by-side table, main metric first, and the missing and unknown ids."""
    main, scores, intervals = report["main_metric"], report["metrics"], report["intervals"]
    names = [main, *(k for k in scores["predictions"] if k != main)]

    def span(part: str, key: str, scale: float = 100.0) -> str:
        if key not in intervals[part]:  # a metric without a bootstrap (generative unparseable_rate)
            return "-"
        low, high = intervals[part][key]
        return f"{scale * low:.1f} to {scale * high:.1f}"

    lines = [
        f"# {Path(report['predictions']['path']).name} vs the tuned model of {Path(report['run']).name}",
        "",
        f"task={report['task']}, evaluation split: {report['eval_split']['n']} rows, "
        f"{report['answered']} answered in the file. Scores in %, delta in points (predictions - tuned), "
        f"95% paired bootstrap intervals (seed {report['seed']}).",
        "",
        "| metric | tuned | predictions | delta | delta 95% |",
        "|---|---:|---:|---:|---:|",
    ]
    for key in names:
        tuned, theirs = 100 * scores["tuned"][key], 100 * scores["predictions"][key]
        lines.append(
            f"| {key} | {tuned:.1f} ({span('tuned', key)}) | {theirs:.1f} ({span('predictions', key)}) "
            f"| {report['delta'][key]:+.1f} | {span('delta', key, 1.0)} |"
        )
    if not report["tuned_reproduced"]:
        lines += ["", "Note: the tuned model scored here differs from the run's metrics.json."]
    meanings = {
        "missing": f"no line in the file, scored as {report['missing']['scored_as']}",
        "unknown": "not in the split, not scored",
    }
    for part, meaning in meanings.items():
        ids = report[part]["ids"]
        if ids:
            more = f" and {len(ids) - LISTED} more (evaluation.json)" if len(ids) > LISTED else ""
            lines += ["", f"{len(ids)} {part} ids ({meaning}): {', '.join(ids[:LISTED])}{more}"]
    return "\n".join(lines) + "\n"


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    keep_private(private_from_env())
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    argv = as_key_values(sys.argv[1:] if argv is None else argv)
    evaluate(parse_args(EvaluateArgs, argv, USAGE))


if __name__ == "__main__":
    main()
