"""python -m src.to_openai: the splits a src.train run uses, as OpenAI chat fine-tuning files
that medtune's own chat reader reads back; refusals that name the place and the fix."""

from __future__ import annotations

import json
import os
import stat
from collections import Counter

import pytest
from conftest import compose_config

from src.errors import MedtuneError
from src.tasks import make_task
from src.tasks.summarization.data import chat_summary_rows
from src.to_openai import FILES, main, run

# Tiny embedded data: a pool of 60 (10 of them the validation slice), 12 of 20 evaluation rows
# scored, a training subset of 25.
SMALL = (
    "data.synthetic.n_train=60",
    "data.synthetic.n_eval=20",
    "data.synthetic.val_size=10",
    "data.synthetic.eval_size=12",
    "data.train_size=25",
)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Embedded data generated under tmp_path; the umask paths.private sets is undone after."""
    monkeypatch.setenv("MEDTUNE_CACHE_DIR", str(tmp_path / "cache"))
    umask = os.umask(0o022)
    os.umask(umask)
    yield
    os.umask(umask)


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_summary_files_read_back_as_the_tasks_rows(tmp_path):
    """medtune's data.format=openai_chat reader gives back each split's rows: ids, the prompt
    filled with the note as the user turn, the summary as the assistant's."""
    out = tmp_path / "out"
    overrides = ("task=summarize_radiology", *SMALL)
    run([*overrides, f"out={out}", "system=You summarise radiology reports."])
    task = make_task(compose_config(*overrides))
    task.check_data()
    chat_cfg = compose_config(*overrides, "data.format=openai_chat").data
    for split, name in FILES.items():
        read, rows = chat_summary_rows(out / name, chat_cfg, Counter()), getattr(task.rows, split)
        assert [r["id"] for r in read] == [r["id"] for r in rows], split
        for back, row in zip(read, rows, strict=True):
            assert back["text"] == task.fill_prompt(row, row["text"]) and row["text"] in back["text"]
            assert back["summary"] == row["summary"]
            assert [m["role"] for m in back["messages"]] == ["system", "user", "assistant"]
    assert (len(task.rows.train), len(task.rows.val), len(task.rows.eval)) == (25, 10, 12)
    for name in FILES.values():  # owner-only, like the cache (paths.private defaults to true)
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600


@pytest.mark.parametrize("task_name", ["coding", "eligibility", "summarize_radiology"])
def test_each_file_holds_exactly_the_split_the_tasks_data_loading_makes(tmp_path, task_name):
    overrides = (f"task={task_name}", *SMALL)
    counts = run([*overrides, f"out={tmp_path / 'out'}"])
    task = make_task(compose_config(*overrides))  # the class src.train runs (coding: the classifier)
    rows = task.load_data().rows
    for split, name in FILES.items():
        written = _lines(tmp_path / "out" / name)
        assert [r["id"] for r in written] == [r["id"] for r in getattr(rows, split)], split
        assert counts[name]["examples"] == len(written)
        assert counts[name]["prompt_tokens"] > counts[name]["completion_tokens"] > 0
    assert len(rows.train) == 25 and len(rows.val) == 10 and len(rows.eval) == 12
    first = _lines(tmp_path / "out" / "train.jsonl")[0]["messages"]
    assert [m["role"] for m in first] == ["user", "assistant"]
    if task_name == "coding":  # the generative coding task's completion: sorted codes joined by "; "
        assert first[1]["content"] == ("; ".join(sorted(rows.train[0]["codes"])) or "none")
    if task_name == "eligibility":
        assert first[1]["content"] == ("eligible" if rows.train[0]["label"] else "excluded")


def test_a_smaller_training_subset_lies_inside_the_larger_one(tmp_path):
    for size in (10, 25):
        run(["task=coding", *SMALL, f"data.train_size={size}", f"out={tmp_path / str(size)}"])
    small, large = ([r["id"] for r in _lines(tmp_path / str(n) / "train.jsonl")] for n in (10, 25))
    assert large[:10] == small
    for name in ("validation.jsonl", "eval.jsonl"):  # fixed across sizes, as in a sweep
        assert _lines(tmp_path / "10" / name) == _lines(tmp_path / "25" / name)


@pytest.mark.parametrize(
    "args, names",
    [
        (["task=no_such_task"], "task/no_such_task"),
        (["task=coding", "task.promt=x"], "promt"),
        (["task=coding"], None),  # out= missing
    ],
)
def test_bad_input_stops_with_a_message_naming_the_place(tmp_path, args, names):
    out = [f"out={tmp_path / 'out'}"] if names else []
    with pytest.raises(MedtuneError, match=names or "out=<folder> is missing"):
        run([*args, *out])
    assert not (tmp_path / "out").exists()


def test_existing_files_are_kept_unless_overwrite_true(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "validation.jsonl").write_text("mine\n")
    with pytest.raises(SystemExit) as stop:
        main(["task=coding", *SMALL, f"out={out}"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"{out / 'validation.jsonl'} exists" in err and "overwrite=true" in err
    assert (out / "validation.jsonl").read_text() == "mine\n" and not (out / "train.jsonl").exists()
    main(["task=coding", *SMALL, f"out={out}", "overwrite=true"])
    assert len(_lines(out / "validation.jsonl")) == 10
    printed = capsys.readouterr().out
    assert "train.jsonl" in printed and "all-MiniLM-L6-v2" in printed
    note = _lines(out / "train.jsonl")[0]["messages"][0]["content"].split("\n\n")[1]
    assert note[:30] not in printed  # counts only, never note text


def test_a_user_file_given_by_data_path(tmp_path, coding_files):
    train, evaluation = coding_files
    overrides = ("task=coding", f"data.path={train}", f"data.eval_path={evaluation}", "data.train_size=null")
    run([*overrides, f"out={tmp_path / 'out'}"])
    task = make_task(compose_config(*overrides))
    task.check_data()
    for split, name in FILES.items():
        written = _lines(tmp_path / "out" / name)
        assert [r["id"] for r in written] == [r["id"] for r in getattr(task.rows, split)]
    assert len(_lines(tmp_path / "out" / "eval.jsonl")) == 16


def test_openai_chat_input_is_written_back_as_it_was_read(tmp_path):
    """A data.format=openai_chat file (here an exported one) comes out conversation for conversation."""
    run(["task=summarize_radiology", *SMALL, f"out={tmp_path / 'first'}"])
    chat = (
        "task=summarize_radiology",
        "model=tiny_llama",  # conversations train causal models only, as in src.train
        "data.format=openai_chat",
        f"data.path={tmp_path / 'first' / 'train.jsonl'}",
        "data.train_size=null",
    )
    run([*chat, f"out={tmp_path / 'again'}"])
    original = {row["id"]: row for row in _lines(tmp_path / "first" / "train.jsonl")}
    again = [row for name in FILES.values() for row in _lines(tmp_path / "again" / name)]
    assert sorted(row["id"] for row in again) == sorted(original)
    assert all(row == original[row["id"]] for row in again)
    with pytest.raises(MedtuneError, match="drop system="):
        run([*chat, f"out={tmp_path / 'third'}", "system=Be brief."])
    assert not (tmp_path / "third").exists()
