"""Training labels of extractive summarisation: the units an oracle would copy.

Greedy ROUGE-L selection (as in SummaRuNNer / BertSum's oracles): start from nothing, add the
unit whose addition (the chosen units in note order) raises ROUGE-L F against the reference
summary most, stop when no unit raises it or MAX_UNITS are chosen. Chosen units are labelled 1,
the others 0. Tokens are the rouge-score package's (Porter stemming, as the metric), computed
once per unit, so the search costs one LCS per candidate.
"""

from __future__ import annotations

from rouge_score import rouge_scorer, tokenizers

MAX_UNITS = 8
_tokenizer = tokenizers.DefaultTokenizer(use_stemmer=True)


def _rouge_l(reference: list[str], chosen: list[list[str]]) -> float:
    prediction = [token for unit in chosen for token in unit]
    return rouge_scorer._score_lcs(reference, prediction).fmeasure


def oracle_labels(units: list[str], summary: str, max_units: int = MAX_UNITS) -> list[int]:
    """1 for each unit (texts in note order) the greedy oracle chooses for `summary`, else 0."""
    reference = _tokenizer.tokenize(summary)
    tokens = [_tokenizer.tokenize(text) for text in units]
    chosen: list[int] = []
    best = 0.0
    while len(chosen) < max_units:
        gains = {
            i: _rouge_l(reference, [tokens[j] for j in sorted([*chosen, i])])
            for i in range(len(units))
            if i not in chosen and tokens[i]
        }
        if not gains:
            break
        pick = max(gains, key=lambda i: (gains[i], -i))  # the earliest unit on ties
        if gains[pick] <= best:
            break
        best = gains[pick]
        chosen.append(pick)
    return [int(i in chosen) for i in range(len(units))]
