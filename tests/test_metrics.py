import pytest

from src.metrics import coding_metrics, metric_delta


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


def test_codes_outside_the_label_space_count_as_misses():
    m = coding_metrics([["A01", "Z99"]], [["A01"]])
    assert m["micro_recall"] == pytest.approx(0.5)
    assert m["exact_match"] == 0.0


def test_delta_in_percentage_points_and_relative_audit_change():
    base = {"micro_f1": 0.30, "audit_failure_rate": 0.90}
    tuned = {"micro_f1": 0.75, "audit_failure_rate": 0.45}
    delta = metric_delta(base, tuned)
    assert delta["micro_f1"] == pytest.approx(45.0)
    assert delta["audit_failure_rate"] == pytest.approx(-45.0)
    assert delta["audit_failure_relative_change"] == pytest.approx(-0.5)


def test_metrics_reject_mismatched_lengths():
    with pytest.raises(ValueError):
        coding_metrics([["A01"]], [])
