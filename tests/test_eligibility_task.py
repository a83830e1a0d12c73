"""task=eligibility: its data rules, criteria and pair encodings, the eligibility rule, config
schema and one end-to-end run."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch
from conftest import assert_reference, compose_config, train_here, write_jsonl

from src.errors import MedtuneError
from src.tasks.eligibility.criteria import criteria_list, record_lines, split_criteria
from src.tasks.eligibility.data import load_rows
from src.tasks.eligibility.evidence import select_evidence
from src.tasks.eligibility.pairs import tokenize_pairs
from src.tasks.eligibility.rule import eligibility_loss, log_eligible

CRITERIA = "Inclusion Criteria:\n* Age 18-75 years\n\nExclusion Criteria:\n* Active hepatitis B or C"


def row(i: int, **changes) -> dict:
    base = {
        "id": f"p{i}",
        "patient": f"{40 + i} y/o F. eGFR 66 mL/min.",
        "criteria": CRITERIA,
        "label": "eligible",
    }
    return {**base, **changes}


@pytest.mark.parametrize(
    "bad, message",
    [
        (
            {"label": "maybe"},
            r"rows.jsonl:2: unknown label 'maybe' in column 'label'; expected 'eligible' or 'excluded'",
        ),
        ({"patient": "  "}, r"rows.jsonl:2: empty text in column 'patient'"),
        ({"criteria": None}, r"rows.jsonl:2: empty text in column 'criteria'"),
        (
            {"criteria": "Inclusion Criteria:\nExclusion Criteria:"},
            r"rows.jsonl:2: column 'criteria' holds headings but no criterion",
        ),
        (
            {"criteria_labels": ["met"]},
            r"rows.jsonl:2: column 'criteria_labels' holds 1 statuses but column 'criteria' lists 2 "
            r"criteria .* one status per criterion, in order",
        ),
        (
            {"criteria_labels": {"age": "met", "hepatitis": "maybe"}},
            r"rows.jsonl:2: column 'criteria_labels' holds 'maybe'; each status must be one of",
        ),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, bad, message):
    path = write_jsonl(tmp_path / "rows.jsonl", [row(0), row(1, **bad)])
    with pytest.raises(MedtuneError, match=message):
        load_rows(path, compose_config("task=eligibility").data, Counter())


def test_missing_criteria_column_names_the_setting(tmp_path):
    rows = [{k: v for k, v in row(0).items() if k != "criteria"}]
    path = write_jsonl(tmp_path / "rows.jsonl", rows)
    with pytest.raises(MedtuneError, match=r"rows.jsonl:1: no 'criteria' column .* data.criteria_column"):
        load_rows(path, compose_config("task=eligibility").data, Counter())


def test_label_names_and_columns_are_configurable(tmp_path):
    rows = [
        {"id": "a", "record": "x", "trial": "y", "decision": "yes"},
        {"id": "b", "record": "x", "trial": "y", "decision": "no"},
    ]
    path = write_jsonl(tmp_path / "rows.jsonl", rows)
    cfg = compose_config(
        "task=eligibility",
        "data.patient_column=record",
        "data.criteria_column=trial",
        "data.label_column=decision",
        "data.positive_label=yes",
        "data.negative_label=no",
    )
    assert [r["label"] for r in load_rows(path, cfg.data, Counter())] == [True, False]


def test_each_task_has_its_own_data_schema():
    with pytest.raises(MedtuneError, match="invalid config key 'data.codes_column'"):
        compose_config("task=eligibility", "+data.codes_column=codes")
    with pytest.raises(MedtuneError, match="invalid config key 'data.patient_column'"):
        compose_config("+data.patient_column=patient")
    with pytest.raises(MedtuneError, match="task.truncation='sideways' is not one of"):
        compose_config("task=eligibility", "task.truncation=sideways")


def test_criteria_split_at_the_exclusion_heading():
    inclusion, exclusion = split_criteria(CRITERIA)
    assert inclusion == "Inclusion Criteria:\n* Age 18-75 years" and exclusion == "* Active hepatitis B or C"
    assert split_criteria("Adults with CKD") == ("Adults with CKD", "")


def test_criteria_list_reads_registry_style_headed_lists():
    registry = (
        "CKD-7 Finerenone in Diabetic Kidney Disease\n\n"
        "Inclusion Criteria:\n* Age ≥ 18 years\n- eGFR 25–75 mL/min/1.73m²\n\n"
        "EXCLUSION CRITERIA\n1. Kidney transplant\n2) Potassium > 5.0 mmol/L"
    )
    assert criteria_list(registry) == [
        ("Age ≥ 18 years", False),  # the title line above the heading is not a criterion
        ("eGFR 25–75 mL/min/1.73m²", False),
        ("Kidney transplant", True),
        ("Potassium > 5.0 mmol/L", True),
    ]
    assert criteria_list("Adults with CKD\nExclusion Criteria: \n* Dialysis") == [
        ("Adults with CKD", False),
        ("Dialysis", True),
    ]


def test_criteria_labels_follow_the_criteria_order(tmp_path):
    rows = [
        row(0, criteria_labels={"age": "met", "hepatitis": "not met"}),
        row(1, criteria_labels=["unknown", "met"]),
        row(2),
    ]
    loaded = load_rows(
        write_jsonl(tmp_path / "rows.jsonl", rows), compose_config("task=eligibility").data, Counter()
    )
    assert [r["criteria_met"] for r in loaded] == [[True, False], [False, True], None]


def test_record_lines_carry_their_heading():
    record = (
        "Screening date: 2026-03-01\n53 y/o F\nLabs:\n- eGFR 44 mL/min\n\n- ALT 30 U/L\nVitals: BP 120/80"
    )
    assert record_lines(record) == [
        "Screening date: 2026-03-01",
        "53 y/o F",
        "Labs: - eGFR 44 mL/min",
        "Labs: - ALT 30 U/L",
        "Vitals: BP 120/80",  # a line of its own, not under the Labs heading
    ]


def test_evidence_is_the_closest_lines_closest_first():
    lines = ["age", "eGFR", "ALT", "BMI"]
    vectors = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [0.8, 0.6]])
    assert select_evidence(lines, vectors, torch.tensor([0.0, 1.0]), 2) == "ALT\neGFR"
    assert select_evidence(lines, vectors, torch.tensor([1.0, 0.0]), 9) == "age\nBMI\neGFR\nALT"


def test_eligibility_rule_on_hand_computed_values():
    # pair 0: inclusion p=0.9 and 0.8, exclusion p=0.25; pair 1: one exclusion, p=0.5
    met = torch.logit(torch.tensor([0.9, 0.8, 0.25, 0.5]))
    exclusion = torch.tensor([False, False, True, True])
    pair = torch.tensor([0, 0, 0, 1])
    log_p = log_eligible(met, exclusion, pair, 2)
    assert torch.allclose(log_p.exp(), torch.tensor([0.9 * 0.8 * 0.75, 0.5]))
    labels = torch.tensor([1.0, 0.0])
    # every criterion labelled: binary cross-entropy on the criteria alone
    known = torch.tensor([1.0, 1.0, 0.0, 1.0])
    expected = -(torch.log(torch.tensor([0.9, 0.8, 0.75, 0.5]))).mean()
    assert torch.isclose(eligibility_loss(met, known, log_p, labels, pair), expected)
    # pair 1 unlabelled: its pair label trains it through P(eligible) = 0.5 (label 0: -log 0.5)
    partly = torch.tensor([1.0, 1.0, 0.0, -1.0])
    expected = -(torch.log(torch.tensor([0.9, 0.8, 0.75]))).mean() - torch.log(torch.tensor(0.5))
    assert torch.isclose(eligibility_loss(met, partly, log_p, labels, pair), expected)


def test_pairs_keep_the_criteria_whole_and_count_what_is_cut(tmp_path, tiny_bert):
    from datasets import Dataset
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    long_record = "creatinine 1.2 mg/dL " * 40
    rows = Dataset.from_list(
        [
            {"criteria": CRITERIA, "patient": "short record"},
            {"criteria": CRITERIA, "patient": long_record},
            {"criteria": CRITERIA * 8, "patient": "short record"},  # the criteria alone are too long
        ]
    )
    encoded, stats = tokenize_pairs(
        rows, tokenizer, ("criteria", "patient"), 64, "only_second", tmp_path, "fp", {}
    )
    assert stats == {"reused_cache": False, "pairs_truncated": 2, "pairs_cut_both_sides": 1}
    criteria_ids = tokenizer(CRITERIA, add_special_tokens=False)["input_ids"]
    first, second, third = (chunks[0] for chunks in encoded["chunks"])
    assert len(second) == 64 and second[1 : 1 + len(criteria_ids)] == criteria_ids  # record's tail cut
    assert len(third) == 64 and "short record" in tokenizer.decode(third)  # both sides cut
    assert tokenize_pairs(rows, tokenizer, ("criteria", "patient"), 64, "only_second", tmp_path, "fp", {})[1][
        "reused_cache"
    ]


def test_eligibility_trains_end_to_end(tmp_path, tiny_bert):
    run_dir = tmp_path / "run"
    metrics = train_here(
        tmp_path,
        run_dir,
        "task=eligibility",
        *(f"model.name_or_path={tiny_bert}", "task.max_length=128", "logger=none", "trainer.max_epochs=1"),
        *("data.synthetic.n_train=150", "data.synthetic.n_eval=60", "data.synthetic.eval_size=null"),
        *("data.synthetic.val_size=30", "data.train_size=100"),
    )
    keys = {"accuracy", "precision", "recall", "f1", "auroc", "recall_at_threshold", "wss_at_target", "wss95"}
    assert set(metrics["base"]) == set(metrics["tuned"]) == keys and metrics["main_metric"] == "wss_at_target"
    assert (metrics["data"]["n_train"], metrics["data"]["n_val"], metrics["data"]["n_eval"]) == (100, 30, 60)
    # the default reader: a sequence per criterion (every trial lists 8 or more), trained on their labels
    assert metrics["data"]["criteria"] >= 8 * 190 and "pairs_truncated" not in metrics["data"]
    assert set(metrics["intervals"]["delta"]) == keys
    assert_reference(metrics)
    assert set(metrics["reference"]["candidates"]) == {"majority class", "token overlap"}
    meta = json.loads((run_dir / "adapter" / "medtune.json").read_text())
    assert (
        meta["task"] == "eligibility" and meta["labels"] == ["excluded", "eligible"] and "threshold" in meta
    )
    assert meta["reader"]["name"] == "criteria" and meta["reader"]["evidence_lines"] == 3
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert (
        manifest["data"]["label_counts"]["eval"]["eligible"]
        + manifest["data"]["label_counts"]["eval"]["excluded"]
        == 60
    )
    card = (run_dir / "MODEL_CARD.md").read_text()
    assert "trial" in card and "eligib" in card


def test_criteria_scored_in_length_groups_match_one_padded_pass(tiny_bert):
    from src.models import build
    from src.tasks.eligibility.scoring import SEQUENCES_PER_PASS, criteria_scores
    from src.tasks.eligibility.task import EligibilityTask

    cfg = compose_config("task=eligibility", f"model.name_or_path={tiny_bert}")
    task = EligibilityTask(cfg)
    task.pad_token_id = 0
    model = build.classifier_base(build.load_encoder(cfg.model), 1, cfg.model).eval()
    torch.manual_seed(0)
    lengths = torch.randint(5, 60, (2, SEQUENCES_PER_PASS // 2 + 3)).tolist()  # two groups
    rows = [
        {
            "chunks": [list(range(1000, 1000 + n)) for n in pair],
            "exclusion": [i % 3 == 0 for i in range(len(pair))],
            "met": [-1] * len(pair),
            "ruled": [-1] * len(pair),
            "label": 1,
        }
        for pair in lengths
    ]
    batch = task.collate(rows)
    with torch.no_grad():
        met, log_p = criteria_scores(model, batch, 2)
        whole = model(**{**batch, "note_index": torch.arange(len(batch["input_ids"]))})[:, 0]
    assert torch.allclose(met, whole, atol=1e-5)
    assert torch.allclose(log_p, log_eligible(whole, batch["exclusion"], batch["note_index"], 2), atol=1e-5)
