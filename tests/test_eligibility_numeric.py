"""The numeric rule (src/tasks/eligibility/numeric.py) and how its decisions join the model's."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import compose_config

from src.tasks.eligibility.numeric import confidence, decide, parse
from src.tasks.eligibility.rule import log_eligible
from src.tasks.eligibility.scoring import collate_inputs, criteria_scores

RECORD = [
    "Screening date: 2026-03-01",
    "54-year-old woman",
    "Laboratory results: - Hemoglobin: 9.0 g/dL (2026-01-26)",
    "Laboratory results: - Potassium 5.1 mmol/L (2026-02-06)",
    "Laboratory results: - Platelets: 99 × 10⁹/L (2026-02-17)",
    "Laboratory results: - UACR 154 mg/g (2026-02-25)",
    "ECOG performance status: 1 (assessed 2026-02-16)",
]


@pytest.mark.parametrize(
    ("criterion", "met"),
    [
        ("Hemoglobin ≥ 9.0 g/dL", True),  # at the bound, included
        ("Hemoglobin > 9.0 g/dL", False),  # strict
        ("Hemoglobin < 9.1 g/dL", True),
        ("Serum potassium ≤ 5.0 mmol/L", False),  # leading words dropped, one step outside
        ("Platelets ≥ 100 × 10⁹/L", False),  # a unit with digits
        ("Urine albumin-to-creatinine ratio (UACR) 30–300 mg/g", True),  # the bracketed abbreviation
        ("ECOG performance status 0–1", True),  # a range without a unit
        ("Age ≥ 18 years", True),  # "54-year-old"
        ("Age 18–50 years", False),
    ],
)
def test_a_threshold_criterion_is_decided_by_the_records_value(criterion, met):
    assert decide(criterion, RECORD) is met


@pytest.mark.parametrize(
    "criterion",
    [
        "ALT ≤ 3 × ULN (≤ 120 U/L)",  # two comparisons
        "Stage IIIB–IV non-small cell lung cancer",  # no number to compare
        "Systemic anticancer therapy within 28 days before screening",
        "eGFR ≥ 45 mL/min/1.73m²",  # the record has no eGFR
        "Hemoglobin ≥ 90 g/L",  # another unit than the record's
    ],
)
def test_the_model_decides_what_the_rule_cannot_tell(criterion):
    assert decide(criterion, RECORD) is None


def test_two_different_values_leave_the_criterion_to_the_model():
    record = [*RECORD, "Laboratory results: - Hemoglobin 10.2 g/dL (2026-02-20)"]
    assert decide("Hemoglobin ≥ 9.5 g/dL", record) is None
    assert decide("Hemoglobin ≥ 9.5 g/dL", [*RECORD, "Laboratory results: - Hemoglobin 9.0 g/dL"]) is False


def test_parse_reads_bounds_and_their_inclusion():
    assert parse("HbA1c 7.0–10.5%") == parse("HbA1c 7.0-10.5 %")
    threshold = parse("Seated systolic blood pressure < 160 mmHg")
    assert (threshold.name, threshold.low, threshold.high, threshold.unit) == (
        "Seated systolic blood pressure",
        None,
        (160.0, False),
        "mmHg",
    )


def test_confidence_is_measured_on_labelled_decisions_unless_configured():
    decided = [(1, 1)] * 8 + [(0, 1)] * 2 + [(1, -1)] * 5  # 8 of 10 labelled agree
    assert confidence(decided, None) == ((8 + 1) / (10 + 2), {"labelled": 10, "share": 0.8})
    assert confidence(decided, 0.9)[0] == 0.9
    assert confidence([(1, -1)], None) == (0.99, None)  # nothing labelled to measure on


def test_ruled_criteria_multiply_into_the_pairs_probability(tiny_bert):
    from src.models import build

    cfg = compose_config("task=eligibility", f"model.name_or_path={tiny_bert}")
    model = build.classifier_base(build.load_encoder(cfg.model), 1, cfg.model).eval()
    rows = [  # pair 0: an inclusion criterion ruled met and an exclusion one ruled met (blocks)
        {
            "chunks": [[101, 2000, 102], [101, 2001, 2002, 102]],
            "exclusion": [False, False, False, True],
            "ruled": [-1, 1, -1, 1],
        },
        {"chunks": [[101, 2003, 102]], "exclusion": [False, False], "ruled": [0, -1]},  # ruled not met
    ]
    c = 0.95
    batch = collate_inputs(rows, 0, c)
    assert batch["exclusion"].tolist() == [False, False, False]  # only the criteria the model reads
    with torch.no_grad():
        met, log_p = criteria_scores(model, batch, 2)
    model_part = log_eligible(met, batch["exclusion"], batch["note_index"], 2)
    expected = model_part + torch.tensor([math.log(c) + math.log(1 - c), math.log(1 - c)])
    assert torch.allclose(log_p, expected, atol=1e-6)


def test_a_batch_the_rule_decides_whole_needs_no_model():
    class NoModel(torch.nn.Module):
        def forward(self, **_):
            raise AssertionError("the model was called")

    rows = [{"chunks": [], "exclusion": [False, True], "ruled": [1, 0]}]
    batch = collate_inputs(rows, 0, 0.9)
    met, log_p = criteria_scores(NoModel(), batch, 1)
    assert met.numel() == 0 and log_p.tolist() == pytest.approx([2 * math.log(0.9)])


def test_cached_features_stay_with_their_pair_when_a_pair_has_no_sequence():
    from src.models.prefix_cache import per_note

    hidden = torch.arange(3 * 4 * 2, dtype=torch.float).view(3, 4, 2)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0], [1, 0, 0, 0]])
    notes = per_note(hidden, mask, torch.tensor([0, 0, 2]), 3)  # note 1 has no chunk
    assert [len(n) for n in notes] == [2, 0, 1]
    assert torch.equal(notes[2][0], hidden[2, :1])
