"""Screening metrics against values computed by hand, ties and one-class edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from src.tasks.eligibility.screening import screening_metrics, threshold_for_recall

# Ten pairs ranked by score; the eligible ones (1) score 0.9, 0.8, 0.6 and 0.3.
SCORES = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
LABELS = [1, 1, 0, 1, 0, 0, 1, 0, 0, 0]


def test_metrics_by_hand():
    # score >= 0.55 flags 0.9, 0.8, 0.7, 0.6: TP 3, FP 1 (0.7), FN 1 (0.3), TN 5
    m = screening_metrics(SCORES, LABELS, threshold=0.55)
    assert m["accuracy"] == pytest.approx(8 / 10)
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["recall"] == m["recall_at_threshold"] == pytest.approx(3 / 4)
    assert m["f1"] == pytest.approx(3 / 4)
    # positives beat 6, 6, 5 and 3 of the 6 negatives: 20 of 24 pairs
    assert m["auroc"] == pytest.approx(20 / 24)
    # WSS = (TN + FN) / N - (1 - recall) = 6/10 - 1/4
    assert m["wss_at_target"] == pytest.approx(0.35)
    # 95% of 4 positives needs all 4: threshold 0.3 flags 7, leaves TN 3, FN 0: 3/10 - 0
    assert m["wss95"] == pytest.approx(0.3)


def test_threshold_for_recall_by_hand():
    assert threshold_for_recall(SCORES, LABELS) == 0.3  # ceil(0.95 * 4) = 4th positive
    assert threshold_for_recall(SCORES, LABELS, 0.75) == 0.6  # 3 of 4
    assert threshold_for_recall(SCORES, LABELS, 0.5) == 0.8  # 2 of 4
    assert threshold_for_recall(SCORES, LABELS, 0.1) == 0.9  # 1 of 4


def test_threshold_is_the_highest_that_reaches_the_target():
    rng = np.random.default_rng(0)
    for _ in range(200):
        scores = rng.integers(0, 8, size=30) / 8  # many ties
        labels = rng.random(30) < 0.3
        if not labels.any():
            continue
        target = float(rng.choice([0.5, 0.8, 0.9, 0.95, 1.0]))
        t = threshold_for_recall(scores, labels, target)
        positives = scores[labels]
        assert (positives >= t).mean() >= target
        higher = scores[scores > t]  # the next threshold up
        assert higher.size == 0 or (positives >= higher.min()).mean() < target


def test_ties_at_the_threshold_are_all_flagged():
    # three pairs tie at 0.8 (two eligible); 0.6 of 3 positives needs 2: t = 0.8 flags all three
    scores, labels = [0.8, 0.8, 0.8, 0.2], [1, 0, 1, 1]
    t = threshold_for_recall(scores, labels, 0.6)
    assert t == 0.8
    m = screening_metrics(scores, labels, t, target_recall=0.6)
    assert m["recall"] == pytest.approx(2 / 3) and m["precision"] == pytest.approx(2 / 3)
    assert threshold_for_recall(scores, labels, 0.9) == 0.2  # all 3 needed


def test_floating_point_does_not_lower_the_threshold():
    # 0.56 * 25 = 14.000000000000002: 14 of 25 positives is enough, so t is the 14th score (12), not 11
    scores = list(range(25, 0, -1))
    assert threshold_for_recall(scores, [1] * 25, 0.56) == 12


def test_no_eligible_pairs_has_no_threshold():
    with pytest.raises(ValueError, match="no eligible pairs"):
        threshold_for_recall([0.1, 0.9], [0, 0])
    with pytest.raises(ValueError, match="target_recall"):
        threshold_for_recall(SCORES, LABELS, 0.0)


def test_all_negative_labels():
    # nothing is eligible: 0.9 is a false positive, the rest true negatives
    m = screening_metrics([0.9, 0.2, 0.1], [False, False, False], threshold=0.5)
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["precision"] == 0.0
    for key in ("recall", "recall_at_threshold", "f1", "auroc", "wss_at_target", "wss95"):
        assert math.isnan(m[key]), key


def test_all_positive_labels():
    # 0.9 and 0.6 flagged, 0.1 missed: recall 2/3; WSS = 1/3 - (1 - 2/3) = 0: no negatives to skip
    m = screening_metrics([0.9, 0.6, 0.1], [True, True, True], threshold=0.5)
    assert (m["accuracy"], m["precision"]) == (pytest.approx(2 / 3), 1.0)
    assert m["recall"] == pytest.approx(2 / 3) and m["f1"] == pytest.approx(0.8)
    assert math.isnan(m["auroc"])
    assert m["wss_at_target"] == pytest.approx(0.0) and m["wss95"] == pytest.approx(0.0)


def test_nothing_flagged_and_everything_flagged():
    none = screening_metrics(SCORES, LABELS, threshold=2.0)
    assert (none["precision"], none["recall"], none["f1"]) == (0.0, 0.0, 0.0)
    assert none["accuracy"] == pytest.approx(6 / 10)
    assert none["wss_at_target"] == pytest.approx(0.0)  # skips everything, finds nothing: like sampling
    every = screening_metrics(SCORES, LABELS, threshold=0.0)
    assert every["recall"] == 1.0 and every["precision"] == pytest.approx(4 / 10)
    assert every["wss_at_target"] == pytest.approx(0.0)


def test_a_ranking_worse_than_random_has_negative_wss():
    # the only eligible pair scores lowest; t = 0.5 flags both negatives and misses it: 1/3 - 1
    m = screening_metrics([0.9, 0.8, 0.1], [0, 0, 1], threshold=0.5)
    assert m["wss_at_target"] == pytest.approx(1 / 3 - 1)
    assert m["auroc"] == 0.0


def test_oracle_key_follows_the_target_recall():
    m = screening_metrics(SCORES, LABELS, threshold=0.55, target_recall=0.75)
    # 75% of 4 = 3 positives: t = 0.6 flags 4, leaves TN 5, FN 1, recall 3/4: 6/10 - 1/4
    assert "wss95" not in m and m["wss75"] == pytest.approx(0.35)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="equal length"):
        screening_metrics([0.1, 0.2], [1], threshold=0.5)
    with pytest.raises(ValueError, match="empty"):
        screening_metrics([], [], threshold=0.5)
    with pytest.raises(ValueError, match="0/1"):
        screening_metrics([0.1, 0.2], [1, 2], threshold=0.5)
    with pytest.raises(ValueError, match="NaN"):
        screening_metrics([0.1, float("nan")], [1, 0], threshold=0.5)


def test_bootstrap_intervals_bracket_the_point_estimates_and_pair_the_delta():
    from src.tasks.eligibility.screening import screening_intervals

    rng = np.random.default_rng(1)
    labels = rng.random(200) < 0.3
    tuned = labels * 0.5 + rng.random(200) * 0.8  # a ranking better than chance
    base = rng.random(200)
    found = screening_intervals(labels, (base, 0.3), (tuned, 0.4), n_resamples=300, seed=0)
    for part, (scores, threshold) in (("base", (base, 0.3)), ("tuned", (tuned, 0.4))):
        point = screening_metrics(scores, labels, threshold)
        for key in ("f1", "auroc", "wss_at_target"):
            low, high = found[part][key]
            assert low <= point[key] <= high
    low, high = found["delta"]["auroc"]  # in percentage points, and clearly above 0 here
    assert 0 < low < high < 100
