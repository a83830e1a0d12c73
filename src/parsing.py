"""Generated text back into a task's structure: a code set, or an eligibility decision.

None means the output cannot be parsed; the tasks score it as wrong and count it apart
(unparseable_rate), so a model that stops answering in the trained form shows up as such.
"""

from __future__ import annotations

import re

from src.data.codes import normalize_code

# The completion of a note without codes: an empty completion would be indistinguishable from a
# model that says nothing.
NO_CODES = "none"


def codes_completion(codes: list[str]) -> str:
    return "; ".join(sorted(codes)) or NO_CODES


def parse_codes(text: str) -> list[str] | None:
    """Sorted canonical codes in an output; None when it holds no valid code (nor NO_CODES alone).

    Separators are anything but letters, digits and dots (; , newlines, spaces). Word-piece
    tokenizers decode "E11.9" as "e11. 9", so a dot joins the words around it when that makes a
    valid code; words that are no valid code ("Codes:", prose) are skipped.
    """
    words = re.findall(r"[A-Za-z0-9]+|\.", text)
    if [w.lower() for w in words if w != "."] == [NO_CODES]:
        return []
    codes, i = set(), 0
    while i < len(words):
        if i + 2 < len(words) and words[i + 1] == ".":
            dotted = normalize_code(f"{words[i]}.{words[i + 2]}")
            if dotted:
                codes.add(dotted)
                i += 3
                continue
        code = normalize_code(words[i]) if words[i] != "." else None
        if code:
            codes.add(code)
        i += 1
    return sorted(codes) or None


def parse_decision(text: str, positive: str, negative: str) -> bool | None:
    """True / False when the output starts with the positive / negative label (any case, any
    punctuation after it); None otherwise."""
    words = re.findall(r"\w+", text.lower())
    matches = {
        decision: len(label_words)
        for decision, label in ((True, positive), (False, negative))
        if (label_words := re.findall(r"\w+", label.lower())) and words[: len(label_words)] == label_words
    }
    if not matches:
        return None
    return max(matches, key=matches.get)  # both fit (one label starts the other): the longer one
