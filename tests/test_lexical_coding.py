"""bench.lexical_coding, the TF-IDF + logistic regression peer, on hand-made notes whose codes
each have one telltale word: it must find them all, with its setting chosen on the validation
slice, and scored on the evaluation split alone."""

from __future__ import annotations

import pytest

from bench.lexical_coding import lexical_reference
from src.tasks.coding.data import CodingRows

WORDS = {"I10": "hypertension", "E11.9": "diabetes", "J45.909": "asthma"}


def notes(n: int, offset: int) -> list[dict]:
    rows = []
    for i in range(n):
        codes = [code for k, code in enumerate(WORDS) if (i + offset) >> k & 1] or ["I10"]
        filler = " ".join(["patient seen in clinic today"] * (1 + i % 3))
        text = f"{filler}. History of {' and '.join(WORDS[code] for code in codes)}."
        rows.append({"id": f"n{offset}-{i}", "text": text, "codes": codes})
    return rows


def test_finds_telltale_words_and_scores_the_evaluation_split():
    splits = {"train": notes(24, 0), "val": notes(8, 3), "eval": notes(10, 5)}
    rows = CodingRows(**splits, labels=sorted(WORDS), descriptions={}, files={})
    result = lexical_reference(rows)
    assert result["val_micro_f1"] == pytest.approx(1.0)
    assert result["eval"]["micro_f1"] == pytest.approx(1.0)
    # scored on the evaluation notes: a gold code no note states, there, is a miss
    rows.eval[0]["codes"] = [*rows.eval[0]["codes"], "Z99.89"]
    assert lexical_reference(rows)["eval"]["micro_f1"] < 1.0
