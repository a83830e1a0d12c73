"""Per-code error report of a coding run: which codes the tuned model gets wrong, and how.

Pure functions over the evaluation split's gold and predicted code sets and the codes'
training counts (training notes carrying each code). Every code of the gold or the predictions
counts, as in src/tasks/coding/metrics.py: a code the model can never predict still has its
misses. A measure with a zero denominator (precision of a band with no predictions) is None.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from src.tasks.coding.codes import code_description, icd_category
from src.tasks.coding.data import CodingRows

# (name, fewest, most training examples), most frequent first.
BANDS = (("20+", 20, None), ("5-19", 5, 19), ("1-4", 1, 4), ("0", 0, 0))
TOP = 20  # codes / pairs listed in each "most frequent" list
MARKDOWN_CODES = 100  # per-code rows in errors.md (errors.json holds them all)


def band_of(train_count: int) -> str:
    for name, low, high in BANDS:
        if train_count >= low and (high is None or train_count <= high):
            return name
    raise ValueError(f"negative training count {train_count}")


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _prf(tp: int, fp: int, fn: int) -> dict[str, float | None]:
    return {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def code_counts(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, Counter]:
    """{"tp"|"fp"|"fn": Counter by code} over the notes."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold rows but {len(pred)} predictions")
    counts = {"tp": Counter(), "fp": Counter(), "fn": Counter()}
    for gold_codes, pred_codes in zip(gold, pred, strict=True):
        g, p = set(gold_codes), set(pred_codes)
        counts["tp"].update(g & p)
        counts["fp"].update(p - g)
        counts["fn"].update(g - p)
    return counts


def sibling_confusions(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> tuple[Counter, int]:
    """({(missed gold code, predicted sibling): notes}, missed gold codes with a sibling predicted):
    on the same note a gold code was missed and a wrongly predicted code of its ICD-10-CM
    category (first three characters) was there. A missed code counts once in the second figure
    however many siblings stood in for it."""
    pairs: Counter = Counter()
    missed_with_sibling = 0
    for gold_codes, pred_codes in zip(gold, pred, strict=True):
        g, p = set(gold_codes), set(pred_codes)
        for missed in g - p:
            category = icd_category(missed)
            siblings = [extra for extra in p - g if category and icd_category(extra) == category]
            pairs.update((missed, extra) for extra in siblings)
            missed_with_sibling += bool(siblings)
    return pairs, missed_with_sibling


def error_report(
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
    train_counts: Mapping[str, int],
    describe: Callable[[str], str | None] = lambda code: None,
    top: int = TOP,
) -> dict:
    """The report as JSON-ready data: per-code rows, frequency bands, top false positives and
    false negatives, sibling confusions. describe: a code's description (None: unknown)."""
    counts = code_counts(gold, pred)
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    codes = sorted(set(tp) | set(fp) | set(fn), key=lambda c: (-(tp[c] + fn[c]), c))
    per_code = [
        {
            "code": code,
            "support": tp[code] + fn[code],
            "predicted": tp[code] + fp[code],
            "tp": tp[code],
            "fp": fp[code],
            "fn": fn[code],
            **_prf(tp[code], fp[code], fn[code]),
            "train_count": train_counts.get(code, 0),
            "band": band_of(train_counts.get(code, 0)),
        }
        for code in codes
    ]
    bands = {}
    for name, _, _ in BANDS:
        rows = [row for row in per_code if row["band"] == name]
        b_tp, b_fp, b_fn = (sum(row[k] for row in rows) for k in ("tp", "fp", "fn"))
        bands[name] = {
            "n_codes": len(rows),
            "support": b_tp + b_fn,
            "predicted": b_tp + b_fp,
            **_prf(b_tp, b_fp, b_fn),
        }

    def ranked(counter: Counter) -> list[dict]:
        return [
            {
                "code": code,
                "count": n,
                "train_count": train_counts.get(code, 0),
                "description": describe(code),
            }
            for code, n in sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:top]
        ]

    pairs, missed_with_sibling = sibling_confusions(gold, pred)
    return {
        "n_notes": len(gold),
        "bands": bands,
        "top_false_positives": ranked(fp),
        "top_false_negatives": ranked(fn),
        "sibling_confusions": {
            "total": sum(pairs.values()),
            "missed_with_sibling_predicted": missed_with_sibling,
            "missed": sum(fn.values()),
            "top": [
                {
                    "gold": g,
                    "predicted": p,
                    "count": n,
                    "gold_description": describe(g),
                    "predicted_description": describe(p),
                }
                for (g, p), n in sorted(pairs.items(), key=lambda item: (-item[1], item[0]))[:top]
            ],
        },
        "per_code": per_code,
    }


def false_positive_triggers(
    rows: Sequence[dict], pred: Sequence[Sequence[str]], evidence: Sequence[Mapping[str, list[dict]]]
) -> list[dict]:
    """Per false positive, the clause that drew most of the code's attention (offsets into the
    note, never its text): {"id", "code", "start", "end", "score", "context"}; context "negated"
    or "family" when the evidence rule dropped it (a trap the model fell for), None when it is the
    code's top evidence span, and the span is null when no clause held enough attention."""
    out = []
    for row, codes, found in zip(rows, pred, evidence, strict=True):
        for code in sorted(set(codes) - set(row["codes"])):
            top = (found.get(code) or [None])[0]
            span = (
                {key: top[key] for key in ("start", "end", "score")}
                if top
                else dict.fromkeys(("start", "end", "score"))
            )
            out.append(
                {"id": row["id"], "code": code, **span, "context": top.get("context") if top else None}
            )
    return out


def summary(report: dict) -> dict:
    """What metrics.json keeps of the report (its `errors` key): the band table and the sibling counts."""
    siblings = report["sibling_confusions"]
    out = {
        "file": "errors.json",
        "bands": report["bands"],
        "sibling_confusions": siblings["total"],
        "missed_with_sibling_predicted": siblings["missed_with_sibling_predicted"],
    }
    if "false_positive_triggers" in report:
        out["false_positives_triggered_by"] = _trigger_counts(report["false_positive_triggers"])
    return out


def _trigger_counts(triggers: list[dict]) -> dict[str, int]:
    """How many false positives' top clause was negated, family history, other text, or none."""
    counts = Counter(
        row["context"] or ("no_clause" if row["start"] is None else "affirmed") for row in triggers
    )
    return {key: counts[key] for key in ("affirmed", "negated", "family", "no_clause")}


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _text(value: str | None) -> str:
    return (value or "").replace("|", "/")  # one table cell


def markdown(report: dict, title: str) -> str:
    """errors.md: the report as tables."""
    lines = [
        f"# {title}",
        "",
        f"Tuned model on the evaluation split ({report['n_notes']} notes). Training count: training "
        "notes carrying the code. Support: evaluation notes carrying it. – : no denominator.",
        "",
        "## By training frequency",
        "",
        "| training examples | codes | support | predicted | micro precision | micro recall | micro F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, band in report["bands"].items():
        lines.append(
            f"| {name} | {band['n_codes']} | {band['support']} | {band['predicted']} | "
            f"{_num(band['precision'])} | {_num(band['recall'])} | {_num(band['f1'])} |"
        )
    for key, heading in (
        ("top_false_positives", "Most frequent false positives (predicted, not in the gold)"),
        ("top_false_negatives", "Most frequent false negatives (in the gold, not predicted)"),
    ):
        lines += [
            "",
            f"## {heading}",
            "",
            "| code | count | training count | description |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {row['code']} | {row['count']} | {row['train_count']} | {_text(row['description'])} |"
            for row in report[key]
        ]
    siblings = report["sibling_confusions"]
    lines += [
        "",
        "## Sibling confusions (same ICD-10-CM category)",
        "",
        f"{siblings['missed_with_sibling_predicted']} of {siblings['missed']} missed gold codes had a "
        f"sibling code predicted instead on the same note ({siblings['total']} gold/predicted pairs).",
        "",
        "| missed gold code | predicted instead | notes | gold description | predicted description |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {row['gold']} | {row['predicted']} | {row['count']} | {_text(row['gold_description'])} | "
        f"{_text(row['predicted_description'])} |"
        for row in siblings["top"]
    ]
    if "false_positive_triggers" in report:
        triggers = report["false_positive_triggers"]
        counts = _trigger_counts(triggers)
        lines += [
            "",
            "## What triggered the false positives",
            "",
            f"The clause holding most of each false positive's attention (character offsets into the note; "
            f"the text stays out of this file): {counts['affirmed']} affirmed text, {counts['negated']} "
            f"negated or ruled-out, {counts['family']} family history, {counts['no_clause']} no clause "
            "(attention spread thin). Negated and family clauses are dropped from src.predict's evidence; "
            "see errors.json for every false positive.",
            "",
            "| note | code | start | end | attention share | context |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {row['id']} | {row['code']} | {row['start']} | {row['end']} | {_num(row['score'])} | "
            f"{row['context'] or ''} |"
            for row in triggers[:TOP]
        ]
    per_code = report["per_code"]
    shown = per_code[:MARKDOWN_CODES]
    lines += [
        "",
        "## Per code",
        "",
        f"The {len(shown)} of {len(per_code)} codes with the most support"
        + (" (errors.json lists every code)." if len(shown) < len(per_code) else "."),
        "",
        "| code | support | predicted | precision | recall | F1 | training count |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {row['code']} | {row['support']} | {row['predicted']} | {_num(row['precision'])} | "
        f"{_num(row['recall'])} | {_num(row['f1'])} | {row['train_count']} |"
        for row in shown
    ]
    return "\n".join(lines) + "\n"


def write_run_report(
    run_dir: Path,
    rows: CodingRows,
    pred: Sequence[Sequence[str]],
    evidence: Sequence[Mapping[str, list[dict]]] | None = None,
) -> dict:
    """errors.json and errors.md of a coding run (rows: its CodingRows, pred: the tuned model's
    code sets on rows.eval, evidence: their evidence spans, with the context rule's drops marked,
    when the head gives them) into run_dir; returns the metrics.json summary."""
    train_counts = Counter(code for row in rows.train for code in row["codes"])

    def describe(code: str) -> str | None:
        # the ICD-10-CM table, else the run's descriptions file (CPT); never the bare-code stand-in
        given = rows.descriptions.get(code)
        return code_description(code) or (given if given != code else None)

    report = error_report([row["codes"] for row in rows.eval], pred, train_counts, describe)
    if evidence is not None:
        report["false_positive_triggers"] = false_positive_triggers(rows.eval, pred, evidence)
    (run_dir / "errors.json").write_text(json.dumps(report, indent=2) + "\n")
    (run_dir / "errors.md").write_text(markdown(report, "Per-code errors"))
    return summary(report)
