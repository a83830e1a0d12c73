"""Keyword-matching baseline coder: the naive reference a fine-tuned model must beat (every coding
run scores it beside base and tuned: keyword_reference).

A code is predicted whenever any of its surface terms occurs in the note (case-insensitive,
whole words). It ignores context entirely, so negations ("denies chest pain"), family history
("mother with breast cancer"), resolved conditions and rule-outs all produce false positives,
and shared terms ("DVT", "CKD") cannot tell laterality or stage apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from src.metrics import reference_block
from src.tasks.coding.data import CodingRows
from src.tasks.coding.metrics import bootstrap_intervals, coding_metrics
from src.tasks.coding.synthetic import CODE_TERMS

REFERENCE_NAME = "keyword matcher"
REFERENCE_DESCRIPTION = (
    "a code is predicted when one of its terms or its description occurs in the note "
    "(whole words, any case), for the codes of the training label space"
)


def _compile(terms: Sequence[str]) -> re.Pattern[str] | None:
    words = sorted({t.strip() for t in terms if t.strip()}, key=len, reverse=True)
    if not words:
        return None
    # Lookarounds instead of \b so that terms starting or ending with punctuation
    # ("s/p CABG", "A-fib") still only match as whole words.
    alternation = "|".join(re.escape(w) for w in words)
    return re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE)


def keyword_predict(texts: list[str], code_terms: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """For each text, the sorted codes with at least one term present in it."""
    # A plain substring test on the lower-cased text rules most codes out cheaply; the
    # whole-word regex only runs for codes that have a candidate term in the note.
    patterns = [
        (code, [t.strip().lower() for t in terms if t.strip()], pat)
        for code, terms in sorted(code_terms.items())
        if (pat := _compile(terms))
    ]
    preds = []
    for text in texts:
        lowered = text.lower()
        preds.append(
            [
                code
                for code, needles, pat in patterns
                if any(n in lowered for n in needles) and pat.search(text)
            ]
        )
    return preds


def micro_prf(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, float]:
    """Micro precision / recall / F1 over code sets (set arithmetic, no label space needed)."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold rows but {len(pred)} predictions")
    tp = fp = fn = 0
    for g, p in zip(gold, pred, strict=True):
        g_set, p_set = set(g), set(p)
        tp += len(g_set & p_set)
        fp += len(p_set - g_set)
        fn += len(g_set - p_set)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def keyword_reference(rows: CodingRows, tuned: list[list[str]], seed: int) -> dict:
    """The keyword matcher scored on the evaluation notes with the coding metrics, beside the tuned
    model's code sets, with the paired bootstrap interval of tuned - matcher (resampled as base
    vs tuned is)."""
    terms = {code: [*CODE_TERMS.get(code, []), rows.descriptions.get(code, "")] for code in rows.labels}
    predicted = keyword_predict([row["text"] for row in rows.eval], terms)
    gold = [row["codes"] for row in rows.eval]
    return reference_block(
        REFERENCE_NAME,
        REFERENCE_DESCRIPTION,
        coding_metrics(gold, predicted),
        coding_metrics(gold, tuned),
        bootstrap_intervals(gold, predicted, tuned, seed=seed),
    )
