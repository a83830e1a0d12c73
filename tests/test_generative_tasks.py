"""Coding and eligibility on the generative families: parsing outputs, metrics, label scores, runs."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import assert_reference, compose_config, train_here

SCREENING_KEYS = [
    "accuracy",
    "precision",
    "recall",
    "f1",
    "auroc",
    "recall_at_threshold",
    "wss_at_target",
    "wss95",
]
CODING_KEYS = [
    "micro_f1",
    "macro_f1",
    "micro_precision",
    "micro_recall",
    "exact_match",
    "audit_failure_rate",
    "code_error_rate",
]
SMALL_SYNTHETIC = ("data.synthetic.n_train=60", "data.synthetic.n_eval=20", "data.synthetic.eval_size=8")


# -- parsing -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("output", "codes"),
    [
        ("E11.9; I10", ["E11.9", "I10"]),
        (
            "z82. 3 ; i10 ; e11. 65 ; 93000 ; 0001f",
            ["0001F", "93000", "E11.65", "I10", "Z82.3"],
        ),  # word pieces
        ("Codes: I10, E119\nJ18.9.", ["E11.9", "I10", "J18.9"]),  # a label, commas, newline, undotted
        ("I10. E11. 9 and I10 again", ["E11.9", "I10"]),  # a sentence's dot joins nothing invalid
        ("E11.9 X99.99 hypertension", ["E11.9"]),  # invalid codes and words are skipped
        ("none", []),  # the completion of a note without codes
        ("None.", []),
        ("the patient has hypertension", None),
        ("X99.99; 123", None),
        ("", None),
    ],
)
def test_parse_codes(output, codes):
    from src.tasks.coding.parsing import parse_codes

    assert parse_codes(output) == codes


def test_codes_completion_parses_back():
    from src.tasks.coding.parsing import codes_completion, parse_codes

    assert codes_completion(["I10", "E11.9"]) == "E11.9; I10"
    assert parse_codes(codes_completion(["I10", "E11.9"])) == ["E11.9", "I10"]
    assert codes_completion([]) == "none" and parse_codes("none") == []


@pytest.mark.parametrize(
    ("output", "decision"),
    [
        ("eligible", True),
        ("Excluded.", False),
        ("ELIGIBLE: meets every criterion", True),
        ("excluded eligible", False),  # the first word decides
        ("maybe eligible", None),
        ("eligibility unclear", None),
        ("", None),
    ],
)
def test_parse_decision(output, decision):
    from src.tasks.eligibility.parsing import parse_decision

    assert parse_decision(output, "eligible", "excluded") is decision


def test_parse_decision_multiword_labels():
    from src.tasks.eligibility.parsing import parse_decision

    assert parse_decision("Not eligible, ALT too high", "eligible", "not eligible") is False
    assert parse_decision("eligible", "eligible", "not eligible") is True


# -- metrics on hand-made outputs ----------------------------------------------------------------
def test_coding_metrics_count_unparseable_as_wrong_and_apart():
    from src.tasks.coding.generative import GenerativeCodingTask

    task = GenerativeCodingTask(compose_config("task=coding", "model=tiny_llama"))
    rows = [{"codes": ["E11.9", "I10"]}, {"codes": ["J18.9"]}, {"codes": ["I10"]}]
    outputs = ["e11. 9 ; i10", "pneumonia, right lower lobe", "I10, Z80.3"]
    metrics = task.score(rows, outputs)
    # parsed: {E11.9, I10} exact; unparseable -> {} (J18.9 missed); {I10, Z80.3}: one false positive
    assert list(metrics) == [*CODING_KEYS, "unparseable_rate"]
    assert metrics["micro_precision"] == pytest.approx(3 / 4)
    assert metrics["micro_recall"] == pytest.approx(3 / 4)
    assert metrics["micro_f1"] == pytest.approx(3 / 4)
    assert metrics["exact_match"] == pytest.approx(1 / 3)
    assert metrics["unparseable_rate"] == pytest.approx(1 / 3)
    intervals = task.score_intervals(rows, outputs, ["E11.9; I10", "J18.9", "I10"])
    assert intervals["tuned"]["exact_match"] == [1.0, 1.0] and set(intervals["delta"]) == set(CODING_KEYS)


def eligibility_task():
    from src.tasks.eligibility.generative import GenerativeEligibilityTask

    task = GenerativeEligibilityTask(compose_config("task=eligibility", "model=tiny_t5"))
    scores = np.array([2.0, 1.0, -1.0, 0.5])  # label scores: both eligible pairs rank first
    task.scores = {name: {"val": scores, "eval": scores} for name in ("base", "tuned")}
    task.thresholds = {"base": 1.0, "tuned": 1.0}
    return task


ROWS = [{"label": True}, {"label": True}, {"label": False}, {"label": False}]


def test_eligibility_metrics_count_unparseable_as_the_wrong_decision():
    task = eligibility_task()
    outputs = ["eligible", "who knows", "Excluded.", "eligible"]
    # decisions: right, unparseable (so "excluded": wrong), right, wrong -> TP 1, FN 1, TN 1, FP 1
    metrics = task._with_ranking(task.score(ROWS, outputs), "tuned", ROWS, "eval")
    assert list(metrics) == [*SCREENING_KEYS, "unparseable_rate"]
    decided = {k: metrics[k] for k in ("accuracy", "precision", "recall", "f1", "unparseable_rate")}
    assert decided == pytest.approx(
        {"accuracy": 0.5, "precision": 0.5, "recall": 0.5, "f1": 0.5, "unparseable_rate": 0.25}
    )
    # the score at threshold 1.0 flags both eligible pairs and nothing else
    assert metrics["recall_at_threshold"] == 1.0 and metrics["auroc"] == 1.0
    assert metrics["wss_at_target"] == pytest.approx(0.5) and metrics["wss95"] == pytest.approx(0.5)
    # an unparseable output on an excluded pair is wrong the other way: flagged
    assert task.score(ROWS[2:], ["?", "excluded"])["precision"] == 0.0


def test_eligibility_intervals_and_base_state_round_trip():
    task = eligibility_task()
    task.outputs = {"base": ["eligible", "?", "excluded", "eligible"]}
    intervals = task.score_intervals(
        ROWS, task.outputs["base"], ["eligible", "eligible", "excluded", "excluded"]
    )
    assert set(intervals["delta"]) == {*SCREENING_KEYS, "unparseable_rate"}
    assert intervals["tuned"]["unparseable_rate"] == [0.0, 0.0] and intervals["tuned"]["accuracy"] == [
        1.0,
        1.0,
    ]
    restored = eligibility_task()
    restored.restore_base(json.loads(json.dumps(task.base_state())))
    assert restored.outputs["base"] == task.outputs["base"] and restored.thresholds["base"] == 1.0
    assert np.array_equal(restored.scores["base"]["eval"], task.scores["base"]["eval"])


# -- label scores --------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["tiny_llama", "tiny_t5"])
def test_label_log_likelihoods_match_the_models_own_loss(model):
    from src.data.prompts import training_batch
    from src.generation import completion_log_likelihoods
    from src.models import build, generative

    cfg = compose_config(f"model={model}")
    model_ = generative.load_generative(cfg.model, build.load_tokenizer(cfg.model), seed=0).eval()
    rows = [
        {"prompt_ids": [101, 2023, 2003, 1037, 3231], "target_ids": [7792, 102]},
        {"prompt_ids": [101, 2023], "target_ids": [9530, 2094, 102]},
        {"prompt_ids": [101, 1996, 5776, 2003, 7792, 2000, 1996, 3979], "target_ids": [7792, 102]},
    ]
    batched = completion_log_likelihoods(model_, rows, cfg.model.family, 2, torch.device("cpu"), "test")
    pad = model_.generation_config.pad_token_id
    with torch.inference_mode():  # one row at a time, no padding: the mean loss over its completion
        alone = [
            -float(model_(**training_batch([r], cfg.model.family, pad)).loss) * len(r["target_ids"])
            for r in rows
        ]
    assert batched == pytest.approx(alone, abs=1e-4)


class EchoFirstToken(torch.nn.Module):
    """A causal LM stand-in that predicts, everywhere, the prompt's second token (after bos)."""

    generation_config = SimpleNamespace(pad_token_id=0, eos_token_id=1)

    def forward(self, input_ids, attention_mask):
        logits = torch.zeros(*input_ids.shape, 8)
        logits.scatter_(-1, input_ids[:, 1:2, None].expand(-1, input_ids.shape[1], 1), 5.0)
        return SimpleNamespace(logits=logits)


def test_label_scores_rank_pairs_toy_case():
    from src.generation import completion_log_likelihoods
    from src.tasks.eligibility.screening import screening_metrics, threshold_for_recall

    positive, negative = [3, 1], [4, 1]  # label token + eos
    # prompts of different lengths whose first token hints at the label (3: eligible, 4: excluded)
    prompts = [[2, 3, 5], [2, 4, 5, 6, 7], [2, 3, 6, 6, 6, 6], [2, 4], [2, 3]]
    rows = [{"prompt_ids": p, "target_ids": t} for p in prompts for t in (positive, negative)]
    log_p = completion_log_likelihoods(EchoFirstToken(), rows, "causal_lm", 3, torch.device("cpu"), "toy")
    scores = log_p.reshape(-1, 2) @ np.array([1.0, -1.0])
    labels = [p[1] == 3 for p in prompts]
    assert np.all((scores > 0) == np.array(labels))
    threshold = threshold_for_recall(scores, labels, 0.95)
    metrics = screening_metrics(scores, labels, threshold)
    assert metrics["auroc"] == 1.0 and metrics["recall"] == 1.0 and metrics["precision"] == 1.0


# -- end to end ----------------------------------------------------------------------------------
def train(tmp_path, *overrides: str) -> dict:
    return train_here(tmp_path, tmp_path / "run", "logger=none", "trainer.max_epochs=1", *overrides)


def test_generative_coding_trains_end_to_end(tmp_path):
    from src.inference import read_meta

    metrics = train(
        tmp_path,
        *("task=coding", "model=tiny_llama", "model.max_length=192", "task.max_new_tokens=8"),
        *(*SMALL_SYNTHETIC, "data.synthetic.val_size=8", "data.train_size=16"),
    )
    keys = [*CODING_KEYS, "unparseable_rate"]
    assert list(metrics["base"]) == list(metrics["tuned"]) == list(metrics["validation"]) == keys
    assert "audit_failure_relative_change" in metrics["delta"] and metrics["main_metric"] == "micro_f1"
    assert set(metrics["intervals"]["delta"]) == set(CODING_KEYS)
    assert (metrics["data"]["n_train"], metrics["data"]["n_val"], metrics["data"]["n_eval"]) == (16, 8, 8)
    assert_reference(metrics)
    run_dir = tmp_path / "run"
    errors = json.loads((run_dir / "errors.json").read_text())  # the per-code error report
    assert metrics["errors"]["bands"] == errors["bands"] and (run_dir / "errors.md").is_file()
    meta = json.loads((run_dir / "adapter" / "medtune.json").read_text())
    assert meta["task"] == "coding" and meta["family"] == "causal_lm" and "completion" in meta
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["labels"] and manifest["data"]["label_counts"]["train"]
    # src.predict reads the note from the run's text column (tests/test_generative_predict.py)
    assert read_meta(run_dir)["data"] == {"columns": {"text": "text"}, "id_column": "id"}


def test_generative_eligibility_trains_end_to_end(tmp_path):
    metrics = train(
        tmp_path,
        *("task=eligibility", "model=tiny_t5", "task.max_new_tokens=4"),
        *(*SMALL_SYNTHETIC, "data.synthetic.val_size=8", "data.train_size=16"),
    )
    keys = [*SCREENING_KEYS, "unparseable_rate"]
    assert list(metrics["base"]) == list(metrics["tuned"]) == list(metrics["validation"]) == keys
    assert metrics["main_metric"] == "wss_at_target" and set(metrics["intervals"]["delta"]) == set(keys)
    assert_reference(metrics)
    assert "unparseable_rate" not in metrics["reference"]["metrics"]  # no outputs of its own
    meta = json.loads((tmp_path / "run" / "adapter" / "medtune.json").read_text())
    assert meta["family"] == "seq2seq" and meta["labels"] == ["excluded", "eligible"] and "threshold" in meta
    (cached,) = (tmp_path / "cache" / "base").glob("*.json")  # base results kept for the next run
    state = json.loads(cached.read_text())["state"]
    assert len(state["outputs"]) == len(state["scores"]["eval"]) == 8 and len(state["scores"]["val"]) == 8
