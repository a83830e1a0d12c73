"""Generated text back into a decision: what GenerativeEligibilityTask scores.

None means the output cannot be parsed; the task scores it as wrong and counts it apart
(unparseable_rate), so a model that stops answering in the trained form shows up as such.
"""

from __future__ import annotations

import re


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
