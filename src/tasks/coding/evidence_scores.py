"""How well a coding model's evidence (evidence.py) points at the right text, on notes of the
embedded synthetic data, whose generator knows where each note states each code and where it
plants negated and family-history mentions (synthetic/provenance.py). Never note text:
  * evidence_hit_rate: of the true-positive codes, the share whose top span overlaps the text
    that states the code (its A/P item, history line, medication, ...); mention_hit_rate: overlaps
    any positive mention of it (also the PMH and opener terms);
  * top_span_negated_rate / top_span_family_rate: of the predicted codes with evidence, the share
    whose top span overlaps a negated (or ruled-out) mention / a relative's condition (family-
    history codes Z80-Z84 excepted), after the context rule and, as `raw_*`, before it;
  * no_evidence_rate: predicted codes left without any span.
A coding run on the embedded data reports them in metrics.json ("evidence"); evidence_eval.py
measures an existing run.
"""

from __future__ import annotations

from src.tasks.coding.evidence import FAMILY_CODES
from src.tasks.coding.synthetic import rows_provenance


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
