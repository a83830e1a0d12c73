"""Codes outside the training labels (data.label_space, src/tasks/coding/unseen.py): the merge of
the head's decisions with description-scored unseen codes, its tuning on the validation slice, the
label-space file, the seen/unseen metric split and a tiny run with a label-space file."""

import numpy as np
import pytest
from conftest import coding_rows, compose_config, train_run, write_jsonl

from src.errors import MedtuneError
from src.tasks import make_task
from src.tasks.coding import unseen

CANDIDATES = ["J18.0", "Z80.3", "I10"]  # I10: a head code too, as a guard against duplicates
SCORES = np.array([[0.9, 0.2, 0.95], [0.4, 0.8, 0.1]], dtype=np.float32)
HEAD = [["I10"], ["E11.9"]]
EVERYWHERE = np.ones_like(SCORES, dtype=bool)


def test_merge_keeps_the_head_codes_and_adds_unseen_ones_only_above_the_threshold():
    merged = unseen.merge(HEAD, SCORES, CANDIDATES, EVERYWHERE, top_m=2, threshold=0.5)
    assert merged == [["I10", "J18.0"], ["E11.9", "Z80.3"]]  # I10 once, though it scored 0.95
    # Above the threshold only: 0.8 < 0.85, so the second note keeps the head's codes alone.
    assert unseen.merge(HEAD, SCORES, CANDIDATES, EVERYWHERE, top_m=2, threshold=0.85) == [
        ["I10", "J18.0"],
        ["E11.9"],
    ]
    # top_m caps the additions per note, best first; a mask removes a code whatever its score.
    assert unseen.merge(HEAD, SCORES, CANDIDATES, EVERYWHERE, top_m=1, threshold=0.0)[0] == ["I10"]
    masked = EVERYWHERE.copy()
    masked[0, 0] = False
    assert unseen.merge(HEAD, SCORES, CANDIDATES, masked, top_m=2, threshold=0.5)[0] == ["I10"]
    assert unseen.merge(HEAD, SCORES, CANDIDATES, EVERYWHERE, top_m=3, threshold=None) == HEAD


def test_tuning_adds_unseen_codes_only_when_validation_micro_f1_rises():
    gold = [["I10", "J18.0"], ["E11.9"]]
    decision, figures = unseen.tune(HEAD, {"base": SCORES}, CANDIDATES, ["I10", "E11.9"], gold)
    assert decision.threshold is not None and 0.8 < decision.threshold <= 0.9  # J18.0 in, Z80.3 out
    assert figures["chosen"]["micro_f1"] == 1.0 > figures["head_only"]["micro_f1"]
    assert figures["chosen"]["unseen"]["correct"] == 1
    # When every addition is wrong, the head alone stays: validation micro-F1 never falls.
    wrong = [["I10"], ["E11.9"]]
    decision, figures = unseen.tune(HEAD, {"base": SCORES}, CANDIDATES, ["I10", "E11.9"], wrong)
    assert decision.threshold is None and figures["chosen"] == figures["head_only"]


def test_hierarchy_rules_let_through_the_categories_seen_or_predicted():
    candidates = ["E11.65", "J18.0", "Z80.3"]
    seen_pred = [["E11.9"], ["I10"]]
    assert unseen.allowed("none", candidates, ["E11.9", "I10", "J45.909"], seen_pred).all()
    by_training = unseen.allowed("category_seen", candidates, ["E11.9", "I10", "J18.9"], seen_pred)
    assert by_training.tolist() == [[True, True, False]] * 2
    by_note = unseen.allowed("category_predicted", candidates, ["E11.9", "I10", "J18.9"], seen_pred)
    assert by_note.tolist() == [[True, False, False], [False, False, False]]


def test_seen_and_unseen_metrics_count_their_own_codes():
    gold = [["I10", "Z80.3"], ["E11.9", "J18.0"]]
    pred = [["I10", "J18.0"], ["E11.9", "I10", "J18.0"]]
    out = unseen.split_metrics(gold, pred, seen={"I10", "E11.9"})
    assert out["seen"] | {} == {
        **out["seen"],
        "gold": 2,
        "predicted": 3,
        "correct": 2,
        "micro_recall": 1.0,
    }
    assert out["seen"]["micro_precision"] == pytest.approx(2 / 3)
    assert (out["unseen"]["gold"], out["unseen"]["predicted"], out["unseen"]["correct"]) == (2, 2, 1)
    assert out["unseen"]["micro_f1"] == pytest.approx(0.5)


def test_label_space_file_is_read_and_its_errors_name_file_and_line(tmp_path):
    good = tmp_path / "codes.txt"
    good.write_text("# extra codes\nz80.3\n\nJ18.0  # lobar\nI10\n")
    assert unseen.candidate_codes(str(good), ["I10"]) == ["J18.0", "Z80.3"]
    assert unseen.candidate_codes("train", ["I10"]) == []
    bad = tmp_path / "bad.txt"
    bad.write_text("I10\nE11.9\nNOTACODE\n")
    with pytest.raises(MedtuneError, match=r"bad\.txt:3: 'NOTACODE' is not a valid .*fix or delete"):
        unseen.read_code_file(str(bad))
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(MedtuneError, match=r"empty\.txt: no codes"):
        unseen.read_code_file(str(empty))
    with pytest.raises(MedtuneError, match=r"data.label_space=.*missing\.txt: cannot read"):
        unseen.read_code_file(str(tmp_path / "missing.txt"))


def test_icd10cm_candidates_are_the_billable_codes_outside_the_training_labels():
    codes = unseen.candidate_codes("icd10cm", ["I10", "E11.9"])
    assert len(codes) > 70_000 and "I10" not in codes and "E11.65" in codes
    assert "E11" not in codes  # a category, not billable


def test_a_tiny_run_with_a_label_space_file_reports_seen_and_unseen(tmp_path, tiny_bert):
    # Z80.3 is only in the evaluation notes: an unseen code the head cannot have. A file of 300
    # codes stands for data.label_space=icd10cm (the same path, 74k descriptions embedded twice:
    # minutes on 2 cores; test_icd10cm_candidates_... checks that list).
    train = [row for row in coding_rows(40, "t") if "Z80.3" not in row["codes"]]
    write_jsonl(tmp_path / "train.jsonl", train)
    write_jsonl(tmp_path / "eval.jsonl", coding_rows(16, "e"))
    extra = [code for code in unseen.billable_codes() if code.startswith("I")][:300]
    space = sorted({*extra, *(code for row in coding_rows(16, "e") for code in row["codes"])})
    (tmp_path / "codes.txt").write_text("\n".join(space) + "\n")
    trained = {code for row in train for code in row["codes"]}
    metrics = train_run(
        tmp_path,
        tmp_path / "run",
        "logger=none",
        *(f"data.path={tmp_path / 'train.jsonl'}", f"data.eval_path={tmp_path / 'eval.jsonl'}"),
        *("data.train_size=null", "data.val_size=8", f"data.label_space={tmp_path / 'codes.txt'}"),
        *(f"model.name_or_path={tiny_bert}", "model.lora_top_layers=null", "model.max_length=64"),
        "trainer.max_epochs=1",
    )
    candidates = len([code for code in space if code not in trained])
    assert metrics["data"]["label_space"] == str(tmp_path / "codes.txt")
    assert metrics["data"]["n_unseen_candidates"] == candidates
    assert metrics["unseen"]["tuned"]["gold"] == metrics["data"]["eval_codes_outside_label_space"] == 2
    assert metrics["seen"]["tuned"]["gold"] + metrics["unseen"]["tuned"]["gold"] == 18
    scorer = metrics["unseen_scorer"]
    assert scorer["label_space"] == str(tmp_path / "codes.txt") and scorer["encoder"] in ("base", "tuned")
    assert scorer["rule"] in unseen.RULES and scorer["n_candidates"] == candidates
    validation = scorer["validation"]
    assert validation["chosen"]["micro_f1"] >= validation["head_only"]["micro_f1"]
    assert metrics["validation"]["micro_f1"] == pytest.approx(validation["chosen"]["micro_f1"])
    # The tuned metrics count every code, seen and unseen, in one set per note.
    seen, miss = metrics["seen"]["tuned"], metrics["unseen"]["tuned"]
    correct, predicted = seen["correct"] + miss["correct"], seen["predicted"] + miss["predicted"]
    assert metrics["tuned"]["micro_precision"] == pytest.approx(correct / predicted)
    card = (tmp_path / "run" / "MODEL_CARD.md").read_text()
    assert "codes from their descriptions" in card and "predicts the trained codes only" in card


def test_a_generative_coder_refuses_a_label_space_beyond_train():
    with pytest.raises(MedtuneError, match=r"data.label_space=icd10cm .* set data.label_space=train"):
        make_task(compose_config("model=tiny_llama", "data.label_space=icd10cm"))
