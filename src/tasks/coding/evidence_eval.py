"""python -m src.tasks.coding.evidence_eval run=<coding run dir> [n=150] [batch_size=16] [output=<file.json>]

How well a coding run's evidence (src/tasks/coding/evidence.py) points at the right text, on the
first n notes of its evaluation split of the embedded synthetic data, whose generator knows where
each note states each code and where it plants negated and family-history mentions
(synthetic/provenance.py). Prints, and writes to `output` when given (never note text):
  * evidence_hit_rate: of the true-positive codes, the share whose top span overlaps the text
    that states the code (its A/P item, history line, medication, ...); mention_hit_rate: overlaps
    any positive mention of it (also the PMH and opener terms);
  * top_span_negated_rate / top_span_family_rate: of the predicted codes with evidence, the share
    whose top span overlaps a negated (or ruled-out) mention / a relative's condition (family-
    history codes Z80-Z84 excepted), after the context rule and, as `raw_*`, before it;
  * no_evidence_rate: predicted codes left without any span.
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
from src.tasks.coding.evidence import FAMILY_CODES
from src.tasks.coding.synthetic import rows_provenance

USAGE = "python -m src.tasks.coding.evidence_eval run=<coding run dir> [n=150] [output=<file.json>]"


@dataclass
class EvidenceEvalArgs:
    run: str = MISSING
    n: int = 150  # evaluation notes scored (the default run's eval_size)
    batch_size: int = 16
    device: str = "auto"
    output: str | None = None


def _overlaps(span: dict, regions: list[list[int]]) -> bool:
    return any(span["start"] < end and start < span["end"] for start, end in regions)


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def score_evidence(rows: list[dict], decided: list[list[str]], found: list[dict], provenance: dict) -> dict:
    """The figures of the module doc. found: per note {code: spans} from Predictor.explain with
    annotate=True (dropped clauses marked "context"); provenance: {id: rows_provenance entry}."""
    n = {key: 0 for key in ("predicted", "tp", "hit", "mention", "none", "with", "raw_with")}
    n.update(
        {key: 0 for key in ("negated", "family", "raw_negated", "raw_family", "family_den", "raw_family_den")}
    )
    for row, codes, spans in zip(rows, decided, found, strict=True):
        where = provenance[row["id"]]
        for code in codes:
            n["predicted"] += 1
            kept = [span for span in spans[code] if "context" not in span]
            n["none"] += not kept
            for prefix, top in (("", kept[0] if kept else None), ("raw_", (spans[code] or [None])[0])):
                if top is None:
                    continue
                n[f"{prefix}with"] += 1
                n[f"{prefix}negated"] += _overlaps(top, where["negated"])
                if not FAMILY_CODES.match(code):
                    n[f"{prefix}family_den"] += 1
                    n[f"{prefix}family"] += _overlaps(top, where["family"])
            if code in row["codes"] and code in where["stated"]:
                n["tp"] += 1
                n["hit"] += bool(kept) and _overlaps(kept[0], where["stated"][code])
                n["mention"] += bool(kept) and _overlaps(kept[0], where["mentions"][code])
    return {
        "n_notes": len(rows),
        "predicted_codes": n["predicted"],
        "true_positive_codes": n["tp"],
        "evidence_hit_rate": _rate(n["hit"], n["tp"]),
        "mention_hit_rate": _rate(n["mention"], n["tp"]),
        "no_evidence_rate": _rate(n["none"], n["predicted"]),
        "top_span_negated_rate": _rate(n["negated"], n["with"]),
        "top_span_family_rate": _rate(n["family"], n["family_den"]),
        "raw_top_span_negated_rate": _rate(n["raw_negated"], n["raw_with"]),
        "raw_top_span_family_rate": _rate(n["raw_family"], n["raw_family_den"]),
    }


def synthetic_evidence_scores(
    rows: list[dict], decided: list[list[str]], found: list[dict], synthetic
) -> dict:
    """score_evidence on the rows the embedded generator (data.synthetic settings) made; {} when
    none is."""
    provenance = rows_provenance(rows, seed=synthetic.seed, n_train=synthetic.n_train)
    kept = [i for i, row in enumerate(rows) if row["id"] in provenance]
    if not kept:
        return {}
    rows, decided, found = ([items[i] for i in kept] for items in (rows, decided, found))
    return score_evidence(rows, decided, found, provenance)


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
