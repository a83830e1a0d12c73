"""A lexical peer for coding quality: TF-IDF character n-grams and one logistic regression per
code, the classic non-neural baseline for ICD coding on a few hundred labelled notes.

    python -m bench.lexical_coding [config overrides...]    # the data options of src.train

It reads the data as a run does (same splits, label space and dropped codes), fits on the
training notes, picks C and one decision threshold on the validation slice by micro-F1, and prints
the evaluation split's coding metrics as the last line (JSON), to read beside a run's
metrics.json "tuned" block. Quality only: nothing here is timed.
"""

from __future__ import annotations

import json
import sys

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import MultiLabelBinarizer

from src.config import compose_config, validate
from src.tasks.coding.data import CodingRows, load_coding_rows
from src.tasks.coding.metrics import coding_metrics

C_GRID = (1.0, 10.0)  # inverse regularisation strengths tried; larger C fits rare codes harder
THRESHOLDS = np.linspace(-4.0, 4.0, 81)  # on the logistic regressions' decision values
CONSTANT = 10.0  # decision value of a code every (or no) training note carries: no model to fit


def code_scores(train_x, gold: np.ndarray, other_x: list, c: float) -> list[np.ndarray]:
    """Decision values (notes x codes) of one balanced logistic regression per code, for each of
    other_x."""
    out = [np.zeros((x.shape[0], gold.shape[1])) for x in other_x]
    for j in range(gold.shape[1]):
        if gold[:, j].all() or not gold[:, j].any():
            for scores in out:
                scores[:, j] = CONSTANT if gold[:, j].all() else -CONSTANT
            continue
        model = LogisticRegression(C=c, class_weight="balanced", solver="liblinear").fit(train_x, gold[:, j])
        for scores, x in zip(out, other_x, strict=True):
            scores[:, j] = model.decision_function(x)
    return out


def decide(scores: np.ndarray, labels: list[str], threshold: float) -> list[list[str]]:
    return [[labels[j] for j in np.flatnonzero(row > threshold)] for row in scores]


def lexical_reference(rows: CodingRows) -> dict:
    """The evaluation split's coding metrics and the setting the validation slice chose."""
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2, sublinear_tf=True)
    train_x = vectorizer.fit_transform([row["text"] for row in rows.train])
    val_x, eval_x = (vectorizer.transform([row["text"] for row in split]) for split in (rows.val, rows.eval))
    gold = (
        MultiLabelBinarizer(classes=rows.labels)
        .fit_transform([row["codes"] for row in rows.train])
        .astype(bool)
    )
    val_gold = [row["codes"] for row in rows.val]
    best = None
    for c in C_GRID:
        val_scores, eval_scores = code_scores(train_x, gold, [val_x, eval_x], c)
        for threshold in THRESHOLDS:
            f1 = coding_metrics(val_gold, decide(val_scores, rows.labels, threshold))["micro_f1"]
            if best is None or f1 > best["val_micro_f1"]:
                best = {"c": c, "threshold": float(threshold), "val_micro_f1": f1, "eval_scores": eval_scores}
    predicted = decide(best.pop("eval_scores"), rows.labels, best["threshold"])
    eval_gold = [row["codes"] for row in rows.eval]
    return {"reference": "tfidf_char_logreg", **best, "eval": coding_metrics(eval_gold, predicted)}


def main(overrides: list[str]) -> None:
    cfg = validate(compose_config(["task=coding", *overrides]))
    rows = load_coding_rows(cfg.data, cfg.paths.cache_dir)
    print(json.dumps(lexical_reference(rows)))


if __name__ == "__main__":
    main(sys.argv[1:])
