"""Summarisation metrics: ROUGE, structure compliance per specialty, clinical fact recall and
the share of stated facts the note does not support.

All values are fractions in [0, 1], averaged over examples except the two pooled fact rates:

- rouge1, rouge2, rougeL: mean F-measures of the `rouge-score` package (Porter stemming on).
- structure_compliance: share of outputs in their specialty's expected form (STRUCTURE_RULES):
  radiology: a numbered impression list: the text starts with "1. ", and its items are numbered
    1, 2, 3, ... in order (one per line or run together on one line);
  discharge: short prose: no numbered list, no "HEADING:" sections, 1 to 5 sentences and at
    most 120 words;
  operative: names at least one procedure and at least one diagnosis (as the fact extractor
    reads them), no "HEADING:" sections, at most 120 words.
- fact_recall: of all key facts of the reference summaries, the share the outputs state (pooled
  over examples, so a summary with more facts weighs more; examples without facts add nothing).
  Facts and their matching are those of src/tasks/summarization/facts.py: case, whitespace, units
  (mm/millimeters, cm -> mm), sides (L/left) are normalised, and a negation needs its cue.
- unsupported_fact_rate (lower is better): of all key facts the outputs state, the share their
  source note does not (facts.unsupported_facts: a side, negation, measurement, diagnosis or
  procedure the note does not state, or a finding it negates stated as present). Pooled over
  examples like fact_recall: outputs stating no fact add nothing to either side of the ratio,
  and a split whose outputs state no fact at all scores 0 (nothing unsupported is said; read it
  beside fact_recall, which is then 0 too). The reference summaries are not used.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
from rouge_score import rouge_scorer

from src.metrics import metric_delta, percentile_intervals
from src.tasks.summarization.facts import FACT_KINDS, extract_facts, facts_kept, unsupported_facts

METRIC_KEYS = ("rouge1", "rouge2", "rougeL", "structure_compliance", "fact_recall", "unsupported_fact_rate")
MAX_WORDS = 120
MAX_DISCHARGE_SENTENCES = 5

_ITEM_NUMBER = re.compile(r"(?:^|(?<=\s))(\d{1,2})\.\s+(?=\S)")
_HEADING = re.compile(r"(?:^|\n)\s*[A-Z][A-Z /-]{2,}:")
_SENTENCE_END = re.compile(r"[.!?](?:\s+|$)")
_scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


def rouge(reference: str, output: str) -> dict[str, float]:
    scores = _scorer.score(reference, output)
    return {name: score.fmeasure for name, score in scores.items()}


def is_numbered_impression(text: str) -> bool:
    """Radiology form: starts with "1. " and the list numbers run 1, 2, 3, ... in order."""
    text = text.strip()
    numbers = [int(m.group(1)) for m in _ITEM_NUMBER.finditer(text)]
    return text.startswith("1. ") and numbers == list(range(1, len(numbers) + 1))


def is_brief_prose(text: str) -> bool:
    """Discharge form: no list or headings, 1-5 sentences, at most MAX_WORDS words."""
    text = text.strip()
    if not text or _ITEM_NUMBER.match(text) or _HEADING.search(text):
        return False
    sentences = len(_SENTENCE_END.findall(text)) or 1  # a last sentence may lack its full stop
    return sentences <= MAX_DISCHARGE_SENTENCES and len(text.split()) <= MAX_WORDS


def names_procedure_and_diagnosis(text: str) -> bool:
    """Operative form: at least one procedure and one diagnosis, no headings, at most MAX_WORDS words."""
    if _HEADING.search(text) or len(text.split()) > MAX_WORDS:
        return False
    kinds = {fact["kind"] for fact in extract_facts(text)}
    return {"procedure", "diagnosis"} <= kinds


STRUCTURE_RULES = {
    "radiology": is_numbered_impression,
    "discharge": is_brief_prose,
    "operative": names_procedure_and_diagnosis,
}


def per_example(
    references: Sequence[str],
    outputs: Sequence[str],
    specialties: str | Sequence[str],
    facts: Sequence[Sequence[dict[str, str]]] | None = None,
    *,
    sources: Sequence[str],
) -> dict[str, np.ndarray]:
    """Each example's share of the metrics: its ROUGE F-measures, structure (0/1), its reference
    facts stated and kept, and its output's facts and those of them its source does not state
    (summary_metrics for the arguments' meaning)."""
    if not len(references) == len(outputs) == len(sources):
        raise ValueError(f"{len(references)} references, {len(outputs)} outputs, {len(sources)} sources")
    if not references:
        raise ValueError("cannot score an empty evaluation split")
    if isinstance(specialties, str):
        specialties = [specialties] * len(references)
    if facts is None:
        facts = [extract_facts(reference) for reference in references]
    counts = ("facts_kept", "facts_stated", "facts_generated", "facts_unsupported")
    columns: dict[str, list[float]] = {key: [] for key in (*METRIC_KEYS[:4], *counts)}
    for i, (reference, output) in enumerate(zip(references, outputs, strict=True)):
        for name, value in rouge(reference, output).items():
            columns[name].append(value)
        columns["structure_compliance"].append(float(STRUCTURE_RULES[specialties[i]](output)))
        found = facts_kept(facts[i], output)
        columns["facts_kept"].append(sum(found))
        columns["facts_stated"].append(len(found))
        columns["facts_generated"].append(len(extract_facts(output)))
        columns["facts_unsupported"].append(len(unsupported_facts(sources[i], output)))
    return {key: np.asarray(values, dtype=float) for key, values in columns.items()}


def aggregate(parts: dict[str, np.ndarray], weights: np.ndarray) -> dict[str, np.ndarray]:
    """The metrics for each row of weights (how often each example is drawn; ones: the plain metrics)."""
    n = weights.sum(axis=1)
    return {
        **{key: (weights @ parts[key]) / n for key in METRIC_KEYS[:4]},
        "fact_recall": _pooled(weights @ parts["facts_kept"], weights @ parts["facts_stated"]),
        "unsupported_fact_rate": _pooled(
            weights @ parts["facts_unsupported"], weights @ parts["facts_generated"]
        ),
    }


def _pooled(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """part / whole, 0 where whole is 0 (no fact to count: module doc)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(whole > 0, part / whole, 0.0)


def summary_metrics(
    references: Sequence[str],
    outputs: Sequence[str],
    specialties: str | Sequence[str],
    facts: Sequence[Sequence[dict[str, str]]] | None = None,
    *,
    sources: Sequence[str],
) -> dict[str, float]:
    """Scores outputs against reference summaries and their source notes (module doc).

    specialties: one specialty for all rows, or one per row. facts: the references' key facts
    per row (the rows' "facts"); None extracts them from the references. sources: the notes
    summarised, one per row (the rows' "text"), which unsupported_fact_rate checks outputs against.
    """
    parts = per_example(references, outputs, specialties, facts, sources=sources)
    values = aggregate(parts, np.ones((1, len(references))))
    return {key: float(value[0]) for key, value in values.items()}


def summary_intervals(
    references: Sequence[str],
    specialties: str | Sequence[str],
    facts: Sequence[Sequence[dict[str, str]]],
    base: Sequence[str],
    tuned: Sequence[str],
    n_resamples: int = 1000,
    seed: int = 0,
    *,
    sources: Sequence[str],
) -> dict[str, dict[str, list[float]]]:
    """Percentile bootstrap intervals (95%) for base, tuned and tuned - base (percentage points),
    paired: both are scored on the same resamples of the examples (arguments: summary_metrics)."""
    n = len(references)
    rng = np.random.default_rng(seed)
    draws = [np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(n_resamples)]
    weights = np.stack(draws).astype(float)
    samples = {
        name: aggregate(per_example(references, outputs, specialties, facts, sources=sources), weights)
        for name, outputs in (("base", base), ("tuned", tuned))
    }
    samples["delta"] = {k: 100.0 * (samples["tuned"][k] - samples["base"][k]) for k in samples["base"]}
    return percentile_intervals(samples)


def fact_recall_by_kind(
    facts: Sequence[Sequence[dict[str, str]]], outputs: Sequence[str]
) -> dict[str, float | None]:
    """fact_recall per fact kind; None for kinds the references never state."""
    kept: Counter = Counter()
    stated: Counter = Counter()
    for reference_facts, output in zip(facts, outputs, strict=True):
        for fact, found in zip(reference_facts, facts_kept(reference_facts, output), strict=True):
            stated[fact["kind"]] += 1
            kept[fact["kind"]] += found
    return {kind: (kept[kind] / stated[kind] if stated[kind] else None) for kind in FACT_KINDS}


def summary_metric_delta(base: dict[str, float], tuned: dict[str, float]) -> dict[str, float]:
    """tuned - base in percentage points (as src.metrics.metric_delta), plus the relative change in
    missed facts: -0.4 means the tuned model drops 40% fewer of the reference facts."""
    delta = metric_delta(base, tuned)
    missed_before, missed_after = 1.0 - base["fact_recall"], 1.0 - tuned["fact_recall"]
    delta["missed_facts_relative_change"] = (
        (missed_after - missed_before) / missed_before if missed_before else 0.0
    )
    return delta
