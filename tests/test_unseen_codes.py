"""Codes outside the training labels (data.label_space, src/tasks/coding/unseen.py): the merge of
the head's decisions with description-scored unseen codes, its tuning on the validation slice, the
label-space file, the seen/unseen metric split, batched note scoring, and tiny runs with a
label-space file: one whose validation slice chooses no scorer (nothing saved, predictions as
before) and one that chooses a scorer, which src.predict, exports and src.serve then apply as the
run's evaluation did (unseen_scorer.py)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import NOTES, coding_rows, compose_config, train_here, write_jsonl
from fastapi.testclient import TestClient

from src import export, predict
from src.errors import MedtuneError
from src.inference import load_predictor, load_predictors
from src.models import build
from src.models.classifier import embed_texts
from src.serving import create_app
from src.tasks import make_task
from src.tasks.coding import unseen, unseen_scorer
from src.tasks.coding.codes import code_description
from src.tasks.coding.metrics import coding_metrics

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
    metrics = train_here(
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
    # No setting chosen (the validation slice holds no unseen code): nothing saved, and predictions
    # are the head's alone, as for a run with data.label_space=train.
    assert scorer["threshold"] is None
    meta = json.loads((tmp_path / "run" / "adapter" / "medtune.json").read_text())
    assert "unseen" not in meta and not (tmp_path / "run" / "adapter" / unseen_scorer.CODES_FILE).exists()
    predictor = load_predictor(tmp_path / "run", "cpu")
    rows = predictor.predictions([{"text": text} for text, _ in NOTES])
    assert predictor.unseen is None and all(
        set(row) == {"codes", "scores", "confidence", "route"} for row in rows
    )
    assert [row["codes"] for row in rows] == predictor.decide(predictor.predict([text for text, _ in NOTES]))


def test_a_generative_coder_refuses_a_label_space_beyond_train():
    with pytest.raises(MedtuneError, match=r"data.label_space=icd10cm .* set data.label_space=train"):
        make_task(compose_config("model=tiny_llama", "data.label_space=icd10cm"))


def per_note_scores(encoder, tokenizer, texts, codes, max_length) -> np.ndarray:
    """The scores one note per call gave (before notes were batched together)."""
    out = [
        (embed_texts(encoder, tokenizer, unseen.sentences(text), max_length, 512) @ codes.T).max(0).values
        for text in texts
    ]
    return torch.stack(out).numpy()


def test_notes_scored_together_score_as_one_by_one(tiny_bert, monkeypatch):
    cfg = compose_config(f"model.name_or_path={tiny_bert}", "model.max_length=32")
    encoder, tokenizer = build.load_encoder(cfg.model).eval(), build.load_tokenizer(cfg.model)
    codes = ["I10", "E11.9", "J18.0", "Z80.3", "K21.9"]
    vectors = unseen.description_vectors(encoder, tokenizer, codes, None, None)
    texts = [text for text, _ in NOTES] + [" ".join(text for text, _ in NOTES) * 3, "Short."]
    expected = per_note_scores(encoder, tokenizer, texts, vectors, 32)
    monkeypatch.setattr(unseen, "NOTES_PER_PASS", 3)  # several passes, the last one partial
    scores = unseen.note_scores(encoder, tokenizer, texts, vectors, 32)
    assert scores.shape == (len(texts), len(codes))
    np.testing.assert_allclose(scores, expected, atol=1e-5)


# Codes no training label carries, each found in a note as a line holding its description: the
# validation slice sees the description scorer find them, so it chooses a setting.
DESCRIBED = ["K21.9", "N39.0", "E11.65"]


def described_rows(n: int, prefix: str) -> list[dict]:
    rows = []
    for i, row in enumerate(coding_rows(n, prefix)):
        text, codes = f"{row['text']} Seen on day {i}.", row["codes"]  # no two notes alike
        if i % 2 == 0:
            code = DESCRIBED[(i // 2) % len(DESCRIBED)]
            text, codes = f"{text}\n{code_description(code)}", sorted([*codes, code])
        rows.append({"id": row["id"], "text": text, "codes": codes})
    return rows


@pytest.fixture(scope="module")
def scorer_run(tmp_path_factory, tiny_bert) -> tuple[Path, Path, dict]:
    """(run dir, evaluation file, metrics.json) of a tiny run whose validation slice chose a scorer.
    data.min_code_count=8 keeps the described codes (~7 notes each) out of the head."""
    tmp = tmp_path_factory.mktemp("unseen-scorer")
    write_jsonl(tmp / "train.jsonl", described_rows(40, "t"))
    evaluation = write_jsonl(tmp / "eval.jsonl", described_rows(16, "e"))
    extra = [code for code in unseen.billable_codes() if code.startswith("I")][:300]
    codes = {
        code
        for rows in (described_rows(40, "t"), described_rows(16, "e"))
        for r in rows
        for code in r["codes"]
    }
    (tmp / "codes.txt").write_text("\n".join(sorted({*extra, *codes})) + "\n")
    metrics = train_here(
        tmp,
        tmp / "run",
        "logger=none",
        *(f"data.path={tmp / 'train.jsonl'}", f"data.eval_path={evaluation}", "data.min_code_count=8"),
        *("data.train_size=null", "data.val_size=8", f"data.label_space={tmp / 'codes.txt'}"),
        *(f"model.name_or_path={tiny_bert}", "model.lora_top_layers=null", "model.max_length=64"),
        "trainer.max_epochs=1",
    )
    return tmp / "run", evaluation, metrics


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_chosen_scorer_is_saved_with_the_adapter(scorer_run):
    run, _, metrics = scorer_run
    scorer = metrics["unseen_scorer"]
    assert scorer["threshold"] is not None and metrics["unseen"]["tuned"]["correct"] > 0
    meta = json.loads((run / "adapter" / "medtune.json").read_text())
    saved = meta["unseen"]
    assert {k: saved[k] for k in ("encoder", "rule", "top_m", "threshold")} == {
        k: scorer[k] for k in ("encoder", "rule", "top_m", "threshold")
    }
    codes = (run / "adapter" / unseen_scorer.CODES_FILE).read_text().split()
    assert len(codes) == saved["n_codes"] == scorer["n_candidates"] and not set(codes) & set(meta["labels"])
    assert set(DESCRIBED) <= set(codes) and not set(DESCRIBED) & set(meta["labels"])
    card = (run / "MODEL_CARD.md").read_text()
    assert "is saved with the adapter" in card and "predicts the trained codes only" not in card


def test_predict_reproduces_the_tuned_metrics_and_the_unseen_block(scorer_run, tmp_path):
    run, evaluation, metrics = scorer_run
    predict.main([f"run={run}", f"input={evaluation}", f"output={tmp_path / 'codes.jsonl'}"])
    rows, gold = lines(tmp_path / "codes.jsonl"), [row["codes"] for row in lines(evaluation)]
    predicted = [row["codes"] for row in rows]
    assert coding_metrics(gold, predicted) == pytest.approx(metrics["tuned"], abs=1e-12)
    labels = set(json.loads((run / "adapter" / "medtune.json").read_text())["labels"])
    split = unseen.split_metrics(gold, predicted, labels)
    for name in ("seen", "unseen"):
        expected = {k: v for k, v in metrics[name]["tuned"].items() if k != "intervals"}
        assert split[name] == pytest.approx(expected, abs=1e-12)
    threshold = metrics["unseen_scorer"]["threshold"]
    for row in rows:  # each added code says where it came from; the head's keep their probability
        assert (
            set(row["unseen"]) == set(row["codes"]) - labels
            and set(row["scores"]) == set(row["codes"]) & labels
        )
        for found in row["unseen"].values():
            assert found["source"] == "description" and found["similarity"] >= threshold - 1e-6
    assert sum(len(row["unseen"]) for row in rows) == split["unseen"]["predicted"] > 0


@pytest.mark.parametrize("encoder", ["chosen", "base"])
def test_an_export_predicts_as_the_run_without_it(scorer_run, encoder, tmp_path):
    """The export carries the scorer (and the base encoder when that one scores): it predicts what
    the run predicts once the run dir is gone. "base": the run's setting switched to the base
    encoder, which prediction then loads from the run's base model."""
    run, evaluation, _ = scorer_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    if encoder == "base":
        meta_file = copy / "adapter" / "medtune.json"
        meta = json.loads(meta_file.read_text())
        meta["unseen"]["encoder"] = "base"
        meta_file.write_text(json.dumps(meta))
    texts = [{"text": row["text"]} for row in lines(evaluation)]
    from_run = load_predictor(copy, "cpu")
    assert (from_run.unseen.encoder is None) == (from_run.meta["unseen"]["encoder"] == "tuned")
    expected = from_run.predictions(texts)
    export.main([f"run={copy}", f"out={tmp_path / 'export'}"])
    shutil.rmtree(copy)
    assert (tmp_path / "export" / unseen_scorer.BASE_ENCODER_DIR / "config.json").is_file() == (
        from_run.meta["unseen"]["encoder"] == "base"
    )
    from_export = load_predictor(tmp_path / "export", "cpu").predictions(texts)
    assert [row["codes"] for row in from_export] == [row["codes"] for row in expected]
    for ours, theirs in zip(from_export, expected, strict=True):
        for code, found in theirs["unseen"].items():
            assert ours["unseen"][code]["similarity"] == pytest.approx(found["similarity"], abs=1e-5)


def test_serve_adds_the_same_codes_with_adapters_shared(scorer_run, tmp_path):
    """Two runs on one base model share it (SharedPredictor): each still adds its unseen codes."""
    run, evaluation, _ = scorer_run
    shutil.copytree(run, tmp_path / "b")
    texts = [{"text": row["text"]} for row in lines(evaluation)]
    expected = load_predictor(run, "cpu").predictions(texts)
    predictors = load_predictors({"a": run, "b": tmp_path / "b"}, "cpu")
    client = TestClient(create_app(predictors, {"a": run, "b": tmp_path / "b"}))
    for name in ("a", "b"):
        answer = client.post(f"/v1/{name}/predict_batch", json={"inputs": texts})
        assert answer.status_code == 200
        served = [row["prediction"] for row in answer.json()["predictions"]]
        assert [row["codes"] for row in served] == [row["codes"] for row in expected]
        assert [set(row["unseen"]) for row in served] == [set(row["unseen"]) for row in expected]


def test_a_saved_scorer_with_a_missing_or_damaged_file_is_refused(tmp_path):
    codes = ["J18.0", "Z80.3"]
    unseen_scorer.write_files(tmp_path, codes, torch.nn.functional.normalize(torch.randn(2, 8), dim=-1))
    decision = {"encoder": "tuned", "rule": "none", "top_m": 1, "threshold": 0.5}
    meta = {
        "unseen": unseen_scorer.saved_block(decision, codes, "codes.txt"),
        "labels": ["I10"],
        "model": {"max_length": 32},
    }
    loaded = unseen_scorer.load_scorer(tmp_path, meta, base_encoder=lambda: pytest.fail("tuned: no base"))
    assert loaded.codes == codes and loaded.vectors.shape == (2, 8) and loaded.encoder is None
    assert unseen_scorer.load_scorer(tmp_path, {**meta, "unseen": None}, lambda: None) is None
    (tmp_path / unseen_scorer.CODES_FILE).write_text("J18.0\n")
    with pytest.raises(MedtuneError, match=r"holds 1 codes, unseen_codes.safetensors 2 rows .* damaged"):
        unseen_scorer.load_scorer(tmp_path, meta, lambda: None)
    (tmp_path / unseen_scorer.VECTORS_FILE).unlink()
    with pytest.raises(MedtuneError, match=r"unseen_codes.safetensors not found: .* copy the whole run dir"):
        unseen_scorer.load_scorer(tmp_path, meta, lambda: None)
