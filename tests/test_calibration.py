"""Calibrated confidence and the review queue of the coding task (no training: score matrices)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import compose_config

from src.errors import MedtuneError
from src.tasks.coding import calibration, review
from src.tasks.coding.calibration import Calibrator
from src.tasks.coding.confidence import fit_review, split_arrays
from src.tasks.coding.metrics import coding_metrics
from src.tasks.coding.predictor import Predictor
from src.tasks.coding.task import CodingTask


def toy(
    n_notes: int, n_codes: int = 40, seed: int = 0, shape: tuple[float, float] = (0.4, 3.0)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(true p, gold, scores) of an overconfident model: scores = sigmoid(3 * logit(true p)),
    true p drawn from a beta distribution of `shape`."""
    rng = np.random.default_rng(seed)
    p = np.clip(rng.beta(*shape, size=(n_notes, n_codes)), 1e-4, 1 - 1e-4)
    gold = rng.random(p.shape) < p
    scores = 1 / (1 + np.exp(-3 * np.log(p / (1 - p))))
    return p, gold, scores


BANDS = calibration.code_bands(np.arange(40))  # codes with 0 to 39 training examples: every band


def test_ece_by_hand():
    probs = np.array([[0.05, 0.05], [0.95, 1.0]])
    truth = np.array([[False, True], [True, True]])
    # bin [0, 1/15): mean p 0.05, frequency 0.5, half the pairs; last bin: mean 0.975, frequency 1
    expected = 0.5 * 0.45 + 0.5 * 0.025
    assert calibration.expected_calibration_error(probs, truth) == pytest.approx(expected)
    assert calibration.expected_calibration_error(truth.astype(float), truth) == 0.0


@pytest.mark.parametrize("method", ["temperature", "temperature_band", "isotonic", "auto"])
def test_ece_falls_after_calibration_on_an_overconfident_model(method):
    _, val_gold, val_scores = toy(100, seed=1)  # the validation slice's size in the default
    _, eval_gold, eval_scores = toy(300, seed=2)
    calibrator = calibration.select(val_scores, val_gold, BANDS, method).calibrator
    before = calibration.expected_calibration_error(eval_scores, eval_gold)
    after = calibration.expected_calibration_error(calibrator.apply(eval_scores), eval_gold)
    assert after < before / 3, (before, after)
    assert calibration.log_loss(calibrator.apply(eval_scores), eval_gold) < calibration.log_loss(
        eval_scores, eval_gold
    )
    if method == "temperature":
        assert calibrator.temperatures[0] == pytest.approx(3.0, rel=0.2)


def test_auto_picks_temperature_when_the_miscalibration_is_a_temperature():
    _, gold, scores = toy(100, seed=1)
    selection = calibration.select(scores, gold, BANDS, "auto")
    assert set(selection.crossfit) == set(calibration.METHODS)
    assert selection.calibrator.method == "temperature", selection.crossfit
    true_p, gold, _ = toy(100, seed=1)
    calibrated = calibration.select(true_p, gold, BANDS, "auto")
    assert calibrated.calibrator.method == "none", calibrated.crossfit  # already calibrated: kept


@pytest.mark.parametrize("method", ["none", "temperature", "temperature_band", "isotonic"])
def test_a_calibrator_survives_json(method):
    _, gold, scores = toy(60)
    fitted = calibration.fit(method, scores, gold, BANDS)
    again = Calibrator(**fitted.to_dict())
    np.testing.assert_array_equal(again.apply(scores), fitted.apply(scores))
    assert ((fitted.apply(scores) > 0) & (fitted.apply(scores) < 1)).all()  # confidences stay below 1


def test_note_confidence_is_the_probability_of_the_exact_set():
    probs = np.array([[0.9, 0.2, 0.5], [0.6, 0.7, 0.1]])
    decided = np.array([[True, False, True], [False, True, False]])
    expected = [0.9 * 0.8 * 0.5, 0.4 * 0.7 * 0.9]
    np.testing.assert_allclose(review.note_confidence(probs, decided), expected)


def test_code_confidence_is_one_minus_the_expected_code_error_rate():
    probs = np.array([[0.9, 0.2, 0.5], [0.6, 0.7, 0.1]])
    decided = np.array([[True, False, True], [False, True, False]])
    # expected changes: 1 - p of decided codes, p of the others; reviewed: decided + p of the others
    expected = [1 - (0.1 + 0.2 + 0.5) / (2 + 0.2), 1 - (0.6 + 0.3 + 0.1) / (1 + 0.6 + 0.1)]
    np.testing.assert_allclose(review.note_confidence(probs, decided, "code"), expected)


CONFIDENCE = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
FAILED = np.array([0, 0, 1, 0, 1, 1, 0, 1, 1, 1], dtype=bool)


def note_curve(confidence: np.ndarray, failed: np.ndarray) -> list[dict]:
    """The coverage-risk curve with the note audit for both risks."""
    return review.coverage_risk(confidence, review.note_audit(failed), review.note_audit(failed))


def test_coverage_risk_by_hand():
    curve = note_curve(CONFIDENCE, FAILED)
    assert [point["coverage"] for point in curve] == pytest.approx(np.arange(1, 11) / 10)
    expected_risk = [0, 0, 1 / 3, 1 / 4, 2 / 5, 3 / 6, 3 / 7, 4 / 8, 5 / 9, 6 / 10]
    assert [point["risk"] for point in curve] == pytest.approx(expected_risk)
    assert [point["threshold"] for point in curve] == pytest.approx(CONFIDENCE)
    # notes tied at a point's threshold are accepted together
    tied = note_curve(np.array([0.9, 0.9, 0.5]), np.array([False, True, False]))
    assert tied[0]["coverage"] == pytest.approx(2 / 3) and tied[0]["risk"] == pytest.approx(1 / 2)


def test_code_risk_counts_codes_changed_over_codes_reviewed():
    labels = ["A", "B", "C"]
    gold = [["A"], ["A", "B"], ["C", "Z99"], []]  # Z99: a gold code outside the label space
    decided = [["A"], ["A"], ["B"], []]
    split = split_arrays(np.full((4, 3), 0.5), labels, gold, decided)
    # changed: none; B added back; C and Z99 added, B deleted; none. Reviewed: gold or decided.
    assert split.codes.errors.tolist() == [0, 1, 3, 0]
    assert split.codes.checked.tolist() == [1, 2, 3, 0]
    confidence = np.array([0.9, 0.8, 0.1, 0.95])
    points = np.array([0.25, 0.5, 0.75, 1.0])
    curve = review.coverage_risk(confidence, split.audit("note"), split.codes, points=points)
    # the most confident note has no code to review (0 of 0: risk 0), then 0/1, 1/3, 4/6
    assert [point["code_risk"] for point in curve] == pytest.approx([0.0, 0.0, 1 / 3, 4 / 6])
    assert [point["risk"] for point in curve] == pytest.approx([0.0, 0.0, 1 / 3, 1 / 2])
    # every note accepted: the run's code-level audit measure of the same code sets
    assert curve[-1]["code_risk"] == pytest.approx(coding_metrics(gold, decided)["code_error_rate"])


def test_coverage_never_falls_along_the_curve():
    rng = np.random.default_rng(3)
    confidence = rng.choice([0.1, 0.3, 0.5, 0.7], size=57)  # many ties
    curve = note_curve(confidence, rng.random(57) < 0.4)
    coverage = [point["coverage"] for point in curve]
    assert coverage == sorted(coverage) and coverage[-1] == 1.0
    assert all(point["coverage"] >= point["target_coverage"] - 1e-9 for point in curve)


def test_routing_threshold_meets_its_target_with_the_most_coverage():
    # accepting the top 2 notes: 0 fail; top 3: 1/3; top 4: 1/4; top 5: 2/5
    audit = review.note_audit(FAILED)
    assert review.routing_threshold(CONFIDENCE, audit, target=0.2) == 0.8
    assert review.routing_threshold(CONFIDENCE, audit, target=0.25) == 0.6
    assert review.routing_threshold(CONFIDENCE, audit, target=0.0) == 0.8
    every_note_fails = review.note_audit(np.ones(10, dtype=bool))
    threshold = review.routing_threshold(CONFIDENCE, every_note_fails, target=0.05)
    assert threshold > CONFIDENCE.max()
    point = review.operating_point(CONFIDENCE, every_note_fails, every_note_fails, threshold)
    assert point["accepted"] == 0 and point["coverage"] == 0.0


@pytest.mark.parametrize(("risk", "target"), [("note", 0.05), ("note", 0.2), ("code", 0.02), ("code", 0.05)])
def test_the_routing_target_holds_on_the_validation_slice_it_was_set_on(risk, target):
    labels = [f"C{j}" for j in range(6)]

    def split(seed: int):  # few codes, most of them clear-cut: many notes coded exactly right
        _, gold_matrix, scores = toy(100 if seed == 1 else 300, len(labels), seed, shape=(0.1, 0.2))
        gold = [[labels[j] for j in np.flatnonzero(row)] for row in gold_matrix]
        decided = [[labels[j] for j in np.flatnonzero(row >= 0.5)] for row in scores]
        return split_arrays(scores, labels, gold, decided), scores, decided

    (val, val_scores, val_decided), (evaluation, _, _) = split(1), split(2)
    setup = fit_review(val, evaluation, np.array([0, 3, 8, 15, 25, 40]), "auto", target, 0, risk)
    confidence = review.note_confidence(setup.calibrator.apply(val_scores), val.decided, risk)
    accepted, audit = confidence >= setup.threshold, val.audit(risk)
    everyone = np.ones(len(confidence), dtype=bool)
    assert accepted.sum() >= 10 and audit.risk(everyone) > target  # a real queue that routes some notes away
    assert audit.risk(accepted) <= target
    assert setup.metrics["review"]["validation"]["coverage"] == pytest.approx(accepted.mean())
    # the most coverage: the next lower confidence would break the target
    lower = confidence[confidence < setup.threshold]
    if len(lower):
        assert audit.risk(confidence >= lower.max()) > target
    curve = setup.metrics["review"]["coverage_risk"]
    assert curve[-1]["risk"] == pytest.approx(evaluation.failed.mean())  # all notes: the audit failure rate
    all_codes = evaluation.codes.errors.sum() / evaluation.codes.checked.sum()
    assert curve[-1]["code_risk"] == pytest.approx(all_codes)
    ece = setup.metrics["calibration"]["eval_ece"]
    assert ece["after"] < ece["before"]
    # decisions are not the calibration's business: failures are those of the raw-score decision
    assert val.failed.tolist() == [
        set(d) != set(g) for d, g in zip(val_decided, _gold(val, labels), strict=True)
    ]


def _gold(split, labels):
    return [[labels[j] for j in np.flatnonzero(row)] for row in split.truth]


def test_a_review_target_outside_0_1_is_refused(tmp_path):
    cfg = compose_config("task=coding", f"paths.cache_dir={tmp_path}", "task.review.target=1.5")
    with pytest.raises(MedtuneError, match=r"task\.review\.target=1\.5"):
        CodingTask(cfg).check_data()


def test_predictions_carry_confidence_and_route_only_when_the_run_stored_them(monkeypatch):
    scores = np.array([[0.99, 0.01, 0.02], [0.6, 0.55, 0.3]])
    meta = {"labels": ["A", "B", "C"], "decision": {"kind": "threshold", "threshold": 0.5}}
    old = Predictor(model=None, tokenizer=None, meta=meta, device=None)
    monkeypatch.setattr(Predictor, "predict", lambda self, texts, batch_size, progress: scores)
    before = old.predictions([{"text": "x"}, {"text": "y"}])
    assert [set(row) for row in before] == [{"codes", "scores"}] * 2  # a run made before calibration
    calibrated = {"method": "temperature", "temperatures": [2.0, 2.0, 2.0]}
    new = Predictor(None, None, {**meta, "calibration": calibrated, "review": {"threshold": 0.5}}, None)
    after = new.predictions([{"text": "x"}, {"text": "y"}])
    assert [row["codes"] for row in after] == [row["codes"] for row in before] == [["A"], ["A", "B"]]
    assert [row["scores"] for row in after] == [row["scores"] for row in before]  # raw, as before
    probs = Calibrator(**calibrated).apply(scores)
    expected = [
        probs[0, 0] * (1 - probs[0, 1]) * (1 - probs[0, 2]),
        probs[1, 0] * probs[1, 1] * (1 - probs[1, 2]),
    ]
    assert [row["confidence"] for row in after] == pytest.approx(expected, abs=1e-6)
    assert [row["route"] for row in after] == ["auto", "review"]
    # a run routed by code errors: its confidence is 1 - the expected code error rate
    by_code = Predictor(
        None, None, {**meta, "calibration": calibrated, "review": {"threshold": 0.6, "risk": "code"}}, None
    )
    decided = np.array([[True, False, False], [True, True, False]])
    coded = by_code.predictions([{"text": "x"}, {"text": "y"}])
    expected = review.note_confidence(probs, decided, "code")
    assert [row["confidence"] for row in coded] == pytest.approx(expected, abs=1e-6)
    assert [row["route"] for row in coded] == ["auto", "review"]  # 0.75 and 0.45
