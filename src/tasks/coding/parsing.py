"""Generated text back into a code set: what GenerativeCodingTask scores.

None means the output cannot be parsed; the tasks score it as wrong and count it apart
(unparseable_rate), so a model that stops answering in the trained form shows up as such.
"""

from __future__ import annotations

import re

from src.errors import MedtuneError
from src.tasks.coding.codes import normalize_code

# The completion of a note without codes: an empty completion would be indistinguishable from a
# model that says nothing.
NO_CODES = "none"


def codes_completion(codes: list[str]) -> str:
    return "; ".join(sorted(codes)) or NO_CODES


def parse_codes(text: str) -> list[str] | None:
    """Sorted canonical codes in an output; None when it holds no valid code (nor NO_CODES alone).

    Separators are anything but letters, digits and dots (; , newlines, spaces); words that are
    no valid code ("Codes:", prose, "X99.99") are skipped. Word-piece tokenizers decode "E11.9" as
    "e11. 9", so a word ending in a dot is joined to the next one when that makes a valid code.
    """
    words = [word for word in re.split(r"[^A-Za-z0-9.]+", text) if word.strip(".")]
    if [word.strip(".").lower() for word in words] == [NO_CODES]:
        return []
    codes, i = set(), 0
    while i < len(words):
        joined = (
            normalize_code(words[i] + words[i + 1]) if words[i].endswith(".") and i + 1 < len(words) else None
        )
        if joined:
            codes.add(joined)
            i += 2
            continue
        code = normalize_code(words[i].strip("."))
        if code:
            codes.add(code)
        i += 1
    return sorted(codes) or None


def predicted_codes(record: dict | None, where: str) -> list[str]:
    """The code set in one line of predictions (src.predict's {"codes": [...]}, or a hosted
    model's in that form), for src.evaluate: canonical when valid (a vendor's "e119" is E11.9),
    as written otherwise (scored as a wrong code). None, a row without a line: no codes."""
    if record is None:
        return []
    codes = record.get("codes")
    if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
        got = "no 'codes' key" if "codes" not in record else f"'codes' = {str(codes)[:60]}"
        raise MedtuneError(
            f'{where}: {got}; each line needs "codes", a list of code strings such as ["E11.9", "I10"] '
            "([] for none)"
        )
    return sorted({normalize_code(code) or code.strip() for code in codes if code.strip()})
