import pytest

from src.tasks.coding.metrics import coding_delta, coding_metrics


def test_metrics_against_hand_computed_values():
    gold = [["A01", "B02"], ["C03"], ["A01"]]
    pred = [["A01"], ["C03"], ["B02"]]
    # TP: A01 (note 1), C03 (note 2) -> 2; FP: B02 (note 3) -> 1; FN: B02 (note 1), A01 (note 3) -> 2
    m = coding_metrics(gold, pred)
    assert m["micro_precision"] == pytest.approx(2 / 3)
    assert m["micro_recall"] == pytest.approx(2 / 4)
    assert m["micro_f1"] == pytest.approx(2 * (2 / 3) * (1 / 2) / (2 / 3 + 1 / 2))
    # per code F1: A01 p=1 r=1/2 -> 2/3; B02 p=0 r=0 -> 0; C03 -> 1
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert m["exact_match"] == pytest.approx(1 / 3)
    assert m["audit_failure_rate"] == pytest.approx(2 / 3)
    # Code level: 5 codes reviewed (2 TP, 1 FP, 2 FN), 3 to delete or add.
    assert m["code_error_rate"] == pytest.approx(3 / 5)


def test_codes_outside_the_label_space_count_as_misses():
    m = coding_metrics([["A01", "Z99"]], [["A01"]])
    assert m["micro_recall"] == pytest.approx(0.5)
    assert m["exact_match"] == 0.0


def test_delta_in_percentage_points_and_relative_audit_change():
    base = {"micro_f1": 0.30, "audit_failure_rate": 0.90, "code_error_rate": 0.80}
    tuned = {"micro_f1": 0.75, "audit_failure_rate": 0.45, "code_error_rate": 0.40}
    delta = coding_delta(base, tuned)
    assert delta["micro_f1"] == pytest.approx(45.0)
    assert delta["audit_failure_rate"] == pytest.approx(-45.0)
    assert delta["audit_failure_relative_change"] == pytest.approx(-0.5)
    assert delta["code_error_relative_change"] == pytest.approx(-0.5)


def test_metrics_reject_mismatched_lengths():
    with pytest.raises(ValueError):
        coding_metrics([["A01"]], [])


def test_bootstrap_resample_metrics_match_coding_metrics():
    """The vectorised per-resample counts give what coding_metrics gives on the same notes."""
    import numpy as np
    from sklearn.preprocessing import MultiLabelBinarizer

    from src.tasks.coding.metrics import _resampled_metrics

    rng = np.random.default_rng(3)
    codes = [f"C{i}" for i in range(12)]
    gold = [sorted(rng.choice(codes, rng.integers(1, 4), replace=False)) for _ in range(40)]
    pred = [
        sorted(rng.choice(codes, rng.integers(1, 4), replace=False)) if i % 3 else g
        for i, g in enumerate(gold)
    ]
    draw = rng.integers(0, 40, 40)  # one bootstrap resample, written out as rows
    expected = coding_metrics([gold[i] for i in draw], [pred[i] for i in draw])
    binarizer = MultiLabelBinarizer().fit(gold + pred)
    weights = np.bincount(draw, minlength=40)[None, :].astype(float)
    got = _resampled_metrics(
        binarizer.transform(gold).astype(bool), binarizer.transform(pred).astype(bool), weights
    )
    for key, value in expected.items():
        assert got[key][0] == pytest.approx(value), key


def test_bootstrap_intervals_bracket_the_estimate_and_pair_the_delta():
    from src.tasks.coding.metrics import bootstrap_intervals

    gold = [["A"], ["A", "B"], ["C"], ["B"], ["A", "C"]] * 8
    base = [["A"], ["A"], ["B"], ["B"], ["A"]] * 8
    tuned = [["A"], ["A", "B"], ["C"], ["B"], ["A"]] * 8
    ci = bootstrap_intervals(gold, base, tuned, n_resamples=500, seed=1)
    for part, pred in (("base", base), ("tuned", tuned)):
        point = coding_metrics(gold, pred)
        for key, (low, high) in ci[part].items():
            assert low <= point[key] + 1e-9 and point[key] - 1e-9 <= high, (part, key)
    assert ci["delta"]["exact_match"][0] > 0  # tuned fixes 2 of every 5 notes on every resample
    same = bootstrap_intervals(gold, base, base, n_resamples=200)
    assert all(interval == [0.0, 0.0] for interval in same["delta"].values())
