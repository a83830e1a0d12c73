"""The naive references every summarisation run scores beside base and tuned, with no model.

- lead-k: the note's first k sentences (a line break ends one too), k in LEAD_K chosen on the
  validation slice by the main metric: what a summary that merely copies the note's opening gets.
- most frequent training summary: one fixed text for every note (on ties, the first in the
  training subset): what writing the specialty's usual summary gets.

Both are scored on the evaluation split; the one better on the validation slice is the run's
reference, so nothing is chosen on the evaluation split.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from src.metrics import reference_block

LEAD_K = range(1, 6)
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")

Score = Callable[[list[dict], list[str]], dict[str, float]]


def lead(text: str, k: int) -> str:
    """The first k sentences of text, joined by a space."""
    return " ".join([s for s in _SENTENCE_BREAK.split(text.strip()) if s][:k])


def most_frequent(summaries: list[str]) -> str:
    return Counter(summaries).most_common(1)[0][0]


def choose_lead_k(rows: list[dict], score: Score, main: str) -> tuple[int, float]:
    """(k, its main metric on rows): the best k of LEAD_K, the smallest on ties."""
    values = {k: score(rows, [lead(row["text"], k) for row in rows])[main] for k in LEAD_K}
    best = max(values, key=lambda k: (values[k], -k))
    return best, values[best]


def candidates(train: list[dict], val: list[dict], score: Score, main: str) -> dict[str, dict]:
    """Each reference's name -> how it writes a summary of a row, and its main metric on val."""
    k, lead_value = choose_lead_k(val, score, main)
    fixed = most_frequent([row["summary"] for row in train])
    fixed_value = score(val, [fixed] * len(val))[main]
    return {
        f"lead-{k}": {
            "write": lambda row: lead(row["text"], k),
            "description": f"the note's first {k} sentences, k chosen on the validation slice",
            "validation": lead_value,
        },
        "most frequent training summary": {
            "write": lambda row: fixed,
            "description": "the training subset's most frequent summary, the same for every note",
            "validation": fixed_value,
        },
    }


def summary_reference(rows, score: Score, main: str, tuned: list[str], paired: Callable) -> dict:
    """Both references on the evaluation split (rows: .train, .val, .eval), the one better on the
    validation slice named the reference; paired(reference outputs, tuned outputs): the task's
    bootstrap intervals of base vs tuned, here reference vs tuned."""
    found = candidates(rows.train, rows.val, score, main)
    outputs = {name: [c["write"](row) for row in rows.eval] for name, c in found.items()}
    scored = {name: score(rows.eval, texts) for name, texts in outputs.items()}
    name = max(found, key=lambda n: found[n]["validation"])  # dicts keep order: lead-k on ties
    return reference_block(
        name,
        found[name]["description"],
        scored[name],
        score(rows.eval, tuned),
        paired(outputs[name], tuned),
        chosen_on=f"validation {main}",
        candidates={
            n: {"description": c["description"], "validation": c["validation"], "metrics": scored[n]}
            for n, c in found.items()
        },
    )
