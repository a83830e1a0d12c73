"""Every user mistake gives one clear message naming the place and the fix."""

import json

import pytest
from conftest import compose_config, write_jsonl

from src.errors import MedtuneError
from src.tasks.coding.data import load_coding_rows


def load(tmp_path, train, evaluation=None, *overrides):
    args = [f"data.path={train}", f"paths.cache_dir={tmp_path / 'cache'}", "data.train_size=null", *overrides]
    if evaluation is not None:
        args.append(f"data.eval_path={evaluation}")
    cfg = compose_config(*args)
    return load_coding_rows(cfg.data, cfg.paths.cache_dir)


def test_valid_files_load(tmp_path, coding_files):
    rows = load(tmp_path, *coding_files)
    assert rows.stats["n_train"] + rows.stats["n_val"] == 40 and rows.stats["n_eval"] == 16
    assert rows.labels == ["E11.9", "I10", "J18.9", "R05.9", "Z80.3"]


def test_missing_file(tmp_path):
    with pytest.raises(MedtuneError, match="data file not found: .*nope.jsonl"):
        load(tmp_path, tmp_path / "nope.jsonl")


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(MedtuneError, match="is a directory"):
        load(tmp_path, tmp_path)


def test_malformed_json_line_names_file_and_line(tmp_path, coding_files):
    train, evaluation = coding_files
    lines = train.read_text().splitlines()
    lines[2] = lines[2][:-5]
    train.write_text("\n".join(lines) + "\n")
    with pytest.raises(MedtuneError, match=r"train.jsonl:3: malformed JSON"):
        load(tmp_path, train, evaluation)


@pytest.mark.parametrize("column", ["text", "codes"])
def test_missing_column(tmp_path, column):
    rows = [{"id": "a", "text": "HTN", "codes": ["I10"]}]
    del rows[0][column]
    train = write_jsonl(tmp_path / "t.jsonl", rows)
    with pytest.raises(MedtuneError, match=rf"t.jsonl:1: no '{column}' column"):
        load(tmp_path, train)


def test_empty_text(tmp_path):
    train = write_jsonl(tmp_path / "t.jsonl", [{"id": "a", "text": "  ", "codes": ["I10"]}])
    with pytest.raises(MedtuneError, match="t.jsonl:1: empty text"):
        load(tmp_path, train)


def test_invalid_code_is_an_error_or_a_counted_warning(tmp_path, coding_files):
    train, evaluation = coding_files
    rows = [json.loads(line) for line in train.read_text().splitlines()]
    rows[4]["codes"] = ["I10", "NOTACODE"]
    write_jsonl(train, rows)
    with pytest.raises(
        MedtuneError, match=r"train.jsonl:5: 'NOTACODE' is not a valid .*on_invalid_code=warn"
    ):
        load(tmp_path, train, evaluation)
    assert load(tmp_path, train, evaluation, "data.on_invalid_code=warn").stats["invalid_codes_dropped"] == 1


def test_duplicate_ids_and_leakage(tmp_path, coding_files):
    train, evaluation = coding_files
    rows = [json.loads(line) for line in train.read_text().splitlines()]
    write_jsonl(train, rows + rows[:1])
    with pytest.raises(MedtuneError, match="duplicate id 't0' .*line 1"):
        load(tmp_path, train, evaluation)
    write_jsonl(train, rows)
    write_jsonl(evaluation, rows[:2])
    with pytest.raises(MedtuneError, match="2 ids occur in both"):
        load(tmp_path, train, evaluation)


def test_train_size_larger_than_data(tmp_path, coding_files):
    with pytest.raises(MedtuneError, match="data.train_size=500 but the training data holds only 40"):
        load(tmp_path, *coding_files, "data.train_size=500")


def test_empty_label_space(tmp_path, coding_files):
    with pytest.raises(MedtuneError, match="label space is empty.*min_code_count"):
        load(tmp_path, *coding_files, "data.min_code_count=1000")


def test_csv_with_separated_codes_and_parquet(tmp_path):
    import pandas as pd

    frame = pd.DataFrame(
        {
            "note_id": ["a", "b", "c", "d"],
            "note": ["HTN", "T2DM", "HTN and T2DM", "CAP"],
            "icd": ["I10", "E119", "I10;E11.9", "J18.9"],
        }
    )
    frame.to_csv(tmp_path / "t.csv", index=False)
    columns = [
        "data.id_column=note_id",
        "data.text_column=note",
        "data.codes_column=icd",
        "data.eval_fraction=0.25",
    ]
    rows = load(tmp_path, tmp_path / "t.csv", None, *columns)
    assert sorted(r["id"] for r in rows.train + rows.val + rows.eval) == ["a", "b", "c", "d"]
    assert {tuple(r["codes"]) for r in rows.train + rows.val + rows.eval} >= {("E11.9", "I10")}
    frame.assign(icd=frame.icd.str.split(";")).to_parquet(tmp_path / "t.parquet")
    assert load(tmp_path, tmp_path / "t.parquet", None, *columns).labels


def test_unknown_config_key_and_wrong_type():
    with pytest.raises(MedtuneError, match=r"invalid config key 'trainer.max_epoch'"):
        compose_config("+trainer.max_epoch=3")
    with pytest.raises(MedtuneError, match=r"invalid config key 'trainer.max_epochs'"):
        compose_config("trainer.max_epochs=three")
    with pytest.raises(MedtuneError, match=r"logger.mode='onlin' is not one of"):
        compose_config("logger.mode=onlin")


def test_generate_with_unknown_task_group_is_a_clear_error(capsys):
    from src.generate import main

    with pytest.raises(SystemExit) as exit_info:
        main(["task=nope"])
    assert exit_info.value.code == 2
    assert "Could not find 'task/nope'" in capsys.readouterr().err


@pytest.mark.parametrize("task", ["summarize_radiology", "summarize_discharge", "summarize_operative"])
def test_a_task_without_a_classifier_version_says_what_can_run_it(task):
    """A classifier summarises extractively (task._target_); a task file naming no classifier
    class refuses one and names the generative models."""
    from src.tasks import make_task
    from src.tasks.summarization.extractive import ExtractiveSummaryTask

    assert isinstance(make_task(compose_config(f"task={task}", "model=minilm")), ExtractiveSummaryTask)
    with pytest.raises(
        MedtuneError, match=f"task={task} cannot run on model.family=classifier.*minilm_seq2seq"
    ):
        make_task(compose_config(f"task={task}", "model=minilm", "task._target_=null"))
