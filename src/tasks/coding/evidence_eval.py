"""python -m src.tasks.coding.evidence_eval run=<coding run dir> [n=150] [batch_size=16] [output=<file.json>]

The evidence figures of src/tasks/coding/evidence_scores.py for an existing coding run, on the
first n notes of its evaluation split of the embedded synthetic data (the run's own metrics.json
has them for all its evaluation notes when it was trained by this version). Prints them, and
writes them to `output` when given (never note text).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import transformers
from omegaconf import MISSING, OmegaConf

from src.console import console
from src.errors import MedtuneError, exit_on_user_error
from src.inference import load_predictor, parse_args
from src.tasks.coding.data import load_coding_rows
from src.tasks.coding.evidence_scores import synthetic_evidence_scores

USAGE = "python -m src.tasks.coding.evidence_eval run=<coding run dir> [n=150] [output=<file.json>]"


@dataclass
class EvidenceEvalArgs:
    run: str = MISSING
    n: int = 150  # first notes of the run's evaluation split (the default run has 150: all of it)
    batch_size: int = 16
    device: str = "auto"
    output: str | None = None


def evaluate_run(run: Path, n: int, batch_size: int = 16, device: str = "auto") -> dict:
    """score_evidence on the first n notes of the run's evaluation split."""
    resolved = run / ".hydra" / "resolved.yaml"
    if not resolved.is_file():
        raise MedtuneError(f"{resolved} not found: give a coding run dir (python -m src.train task=coding)")
    cfg = OmegaConf.load(resolved)
    if OmegaConf.select(cfg, "data.path") is not None:
        raise MedtuneError(
            f"run={run} trained on data.path={cfg.data.path}: only the embedded synthetic notes know "
            "where they state each code; give a run trained on them (data.path empty)"
        )
    rows = load_coding_rows(cfg.data, cfg.paths.cache_dir).eval[:n]
    predictor = load_predictor(run, device)
    scores, found = predictor.explain([row["text"] for row in rows], batch_size, progress=True, annotate=True)
    result = synthetic_evidence_scores(rows, predictor.decide(scores), found, cfg.data.synthetic)
    if not result:
        raise MedtuneError(f"run={run}: none of its evaluation notes comes from the synthetic generator")
    return result


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    transformers.utils.logging.set_verbosity_error()
    args = parse_args(EvidenceEvalArgs, sys.argv[1:] if argv is None else argv, USAGE)
    if args.n < 1:
        raise MedtuneError(f"n must be a positive integer, got {args.n}")
    result = evaluate_run(Path(args.run), args.n, args.batch_size, args.device)
    text = json.dumps(result, indent=2)
    if args.output:
        Path(args.output).write_text(text + "\n")
    console.print(text)


if __name__ == "__main__":
    main()
