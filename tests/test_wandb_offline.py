"""Tests for tests/wandb_offline.py against real offline runs written by wandb and Lightning."""

from __future__ import annotations

import struct
import zlib

import pytest
import wandb
from wandb.proto import wandb_internal_pb2 as pb

# tests/ has no __init__.py, so pytest puts it on sys.path (rootdir/prepend import mode).
from wandb_offline import find_offline_runs, finished_records, iter_records, read_offline_run


def _user(row: dict) -> dict:
    """Drop the keys wandb adds itself (_step, _runtime, _timestamp, _wandb)."""
    return {k: v for k, v in row.items() if not k.startswith("_")}


@pytest.fixture
def wandb_tmp(tmp_path, monkeypatch):
    # monkeypatch restores each variable to its value before the test, even
    # when wandb or Lightning rewrote os.environ in between (WandbLogger(offline=True)
    # sets WANDB_MODE=dryrun for the rest of the process).
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    # Keep wandb's caches and settings out of the home directory.
    for var in ("WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "_wandb_home"))
    yield tmp_path
    # A test that failed mid-run must not leave wandb.run set: WandbLogger would
    # silently reuse it and the next test would write into this run.
    wandb.finish()


def test_plain_wandb_run(wandb_tmp):
    run = wandb.init(
        project="medtune-test",
        name="plain",
        group="g1",
        config={"lr": 1e-3, "model": {"name": "tiny", "r": 8}},
        dir=wandb_tmp,
        reinit="create_new",
    )
    run.config.update({"epochs": 2})
    for i, loss in enumerate([1.0, 0.5, 0.25]):
        run.log({"train/loss": loss, "eval": {"acc": i / 4}})
    run.summary["best_loss"] = 0.25
    run.summary["test"] = {"f1": 0.9}
    run.finish()

    (run_dir,) = find_offline_runs(wandb_tmp)
    got = read_offline_run(run_dir)
    assert (got.run_id, got.name, got.group, got.project) == (run.id, "plain", "g1", "medtune-test")
    assert got.config == {"lr": 1e-3, "model": {"name": "tiny", "r": 8}, "epochs": 2}
    # Nested log dicts come back "/"-joined; "train/loss" is a single key that already had a "/".
    assert [_user(row) for row in got.history] == [
        {"train/loss": 1.0, "eval/acc": 0.0},
        {"train/loss": 0.5, "eval/acc": 0.25},
        {"train/loss": 0.25, "eval/acc": 0.5},
    ]
    assert [row["_step"] for row in got.history] == [0, 1, 2]
    # The summary holds the last logged values plus what was set explicitly.
    assert _user(got.summary) == {
        "train/loss": 0.25,
        "eval": {"acc": 0.5},
        "best_loss": 0.25,
        "test": {"f1": 0.9},
    }
    assert got.artifacts == []


def test_lightning_wandb_logger(wandb_tmp):
    from lightning.pytorch.loggers import WandbLogger

    logger = WandbLogger(
        offline=True, save_dir=wandb_tmp, name="lt-run", group="lt-group", project="medtune-test"
    )
    hparams = {"model": {"name": "tiny-bert", "lora": {"r": 8, "alpha": 16}}, "lr": 1e-4}
    logger.log_hyperparams(hparams)
    logger.log_metrics({"train/loss": 0.5}, step=0)
    logger.log_metrics({"train/loss": 0.25, "val/f1": 0.7}, step=1)
    logger.experiment.summary.update({"best_val_f1": 0.7, "test": {"f1": 0.65}})
    run_id = logger.experiment.id
    wandb.finish()

    (run_dir,) = find_offline_runs(wandb_tmp)
    assert run_dir.parent == wandb_tmp / "wandb"  # save_dir is where the run lands
    got = read_offline_run(run_dir)
    assert (got.run_id, got.name, got.group, got.project) == (
        run_id,
        "lt-run",
        "lt-group",
        "medtune-test",
    )
    assert got.config == hparams  # WandbLogger keeps nested dicts nested
    # WandbLogger adds the step as "trainer/global_step" to every row.
    assert [_user(row) for row in got.history] == [
        {"train/loss": 0.5, "trainer/global_step": 0},
        {"train/loss": 0.25, "val/f1": 0.7, "trainer/global_step": 1},
    ]
    assert _user(got.summary) == {
        "train/loss": 0.25,
        "val/f1": 0.7,
        "trainer/global_step": 1,
        "best_val_f1": 0.7,
        "test": {"f1": 0.65},
    }


@pytest.mark.parametrize("overlap", [False, True], ids=["sequential", "concurrent"])
def test_two_runs_in_one_process_get_separate_dirs(wandb_tmp, overlap):
    def start(name):
        return wandb.init(project="medtune-test", name=name, dir=wandb_tmp, reinit="create_new")

    a = start("a")
    if not overlap:
        a.log({"x": 1})
        a.finish()
    b = start("b")
    if overlap:
        a.log({"x": 1})
    b.log({"x": 2})
    a.finish()
    b.finish()

    runs = [read_offline_run(d) for d in find_offline_runs(wandb_tmp)]
    assert len({r.path for r in runs}) == 2
    assert {r.name: (r.run_id, [_user(row) for row in r.history]) for r in runs} == {
        "a": (a.id, [{"x": 1}]),
        "b": (b.id, [{"x": 2}]),
    }


def test_record_spanning_blocks(wandb_tmp):
    # Records over 32 KiB are split into first/middle/last chunks across blocks.
    big = "x" * 100_000
    run = wandb.init(project="medtune-test", config={"big": big}, dir=wandb_tmp)
    for i in range(300):  # many small records, so some chunk headers meet a block's padded tail
        run.log({"i": i})
    run.finish()

    got = read_offline_run(*find_offline_runs(wandb_tmp))
    assert got.config == {"big": big}
    assert [row["i"] for row in got.history] == list(range(300))


def test_corrupt_file_is_rejected(wandb_tmp):
    run = wandb.init(project="medtune-test", config={"lr": 0.1}, dir=wandb_tmp)
    run.finish()
    (wandb_file,) = find_offline_runs(wandb_tmp)[0].glob("*.wandb")
    finished_records(wandb_file)  # wandb-core may still be writing; corrupt the finished log only

    data = bytearray(wandb_file.read_bytes())
    data[-1] ^= 0xFF  # last byte of the last chunk's payload
    wandb_file.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="bad chunk"):
        list(iter_records(wandb_file))

    wandb_file.write_bytes(b"not a wandb file")
    with pytest.raises(ValueError, match="not a wandb"):
        list(iter_records(wandb_file))


def _write_log(path, payloads):
    """Mimic wandb-core's writer (core/pkg/leveldb/record.go) to reach the block-tail padding."""
    out = bytearray(b":W&B" + struct.pack("<HB", 0xBEE1, 0))
    for rest in payloads:
        first = True
        while True:
            room = 32 * 1024 - len(out) % (32 * 1024)
            if room < 7:  # a chunk header no longer fits: zero-fill to the next block
                out += bytes(room)
                continue
            chunk, rest = rest[: room - 7], rest[room - 7 :]
            kind = (1 if not rest else 2) if first else (4 if not rest else 3)
            out += struct.pack("<IHB", zlib.crc32(bytes([kind]) + chunk), len(chunk), kind) + chunk
            first = False
            if not rest:
                break
    path.write_bytes(bytes(out))


@pytest.mark.parametrize("tail", range(9))
def test_block_tail_padding(tmp_path, tail):
    # Size the first record so that `tail` bytes remain in block 0 after it.
    target = 32 * 1024 - 7 - 7 - tail
    record = pb.Record()
    item = record.config.update.add(key="big")
    for _ in range(5):  # the varint length prefixes make the size converge in a few steps
        item.value_json = "1" * (len(item.value_json) + target - record.ByteSize())
    assert record.ByteSize() == target
    second = pb.Record()
    second.config.update.add(key="lr", value_json="0.1")

    wandb_file = tmp_path / "run-abc.wandb"
    _write_log(wandb_file, [record.SerializeToString(), second.SerializeToString()])
    assert list(iter_records(wandb_file)) == [record, second]


def test_unfinished_log_is_waited_for_then_rejected(tmp_path):
    record = pb.Record()
    record.config.update.add(key="lr", value_json="0.1")
    wandb_file = tmp_path / "run-abc.wandb"
    _write_log(wandb_file, [record.SerializeToString()])  # no closing exit record
    with pytest.raises(ValueError, match="still incomplete .*no exit record"):
        finished_records(wandb_file, timeout_s=0.3)
    exit_record = pb.Record()
    exit_record.exit.exit_code = 0
    _write_log(wandb_file, [record.SerializeToString(), exit_record.SerializeToString()])
    assert finished_records(wandb_file) == [record, exit_record]
