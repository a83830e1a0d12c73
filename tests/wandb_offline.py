"""Read what wandb wrote into an offline run directory, so tests can assert on it.

Offline mode writes no config.yaml or wandb-summary.json; the only record of a
run is `offline-run-<ts>-<id>/run-<id>.wandb`. wandb 0.31 writes it from the Go
core (core/pkg/leveldb/record.go, core/internal/transactionlog) and ships no
Python reader, hence this one. Layout:

* 7-byte file header: b":W&B", magic 0xBEE1 (u16 little-endian), version 0.
* Then a LevelDB-style log in 32 KiB blocks; the file header counts towards
  block 0. Each chunk: crc (u32 LE, zlib CRC-32 over type byte + payload),
  length (u16 LE), type (1 full, 2 first, 3 middle, 4 last), payload.
  A block tail too short for a chunk header (< 7 bytes) is zero padding.
* Each reassembled payload is a serialized `wandb_internal_pb2.Record`.
"""

from __future__ import annotations

import json
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2 as pb

_FILE_HEADER = b":W&B" + struct.pack("<HB", 0xBEE1, 0)
_BLOCK = 32 * 1024
_CHUNK_HEADER = struct.Struct("<IHB")  # crc, length, type
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    path: Path  # the offline-run-* directory
    run_id: str
    name: str | None
    group: str | None
    project: str | None
    config: dict = field(default_factory=dict)  # user config; wandb's "_wandb" key dropped
    history: list[dict] = field(default_factory=list)  # one dict per row, nested keys "/"-joined
    summary: dict = field(default_factory=dict)  # final summary, nested like run.summary
    artifacts: list[str] = field(default_factory=list)  # names of logged artifacts


def find_offline_runs(root: Path) -> list[Path]:
    """Every offline-run-* directory under root (skips the latest-run symlink)."""
    return sorted(p for p in Path(root).rglob("offline-run-*") if p.is_dir() and not p.is_symlink())


def iter_records(wandb_file: Path) -> Iterator[pb.Record]:
    """Yield the protobuf Records of a .wandb file; ValueError if it is corrupt or cut short."""
    data = Path(wandb_file).read_bytes()
    if not data.startswith(_FILE_HEADER):
        raise ValueError(f"{wandb_file}: not a wandb v0 transaction log")
    pos, parts = len(_FILE_HEADER), None  # parts: chunks of a record still being assembled
    while pos < len(data):
        if _BLOCK - pos % _BLOCK < _CHUNK_HEADER.size:
            pos += _BLOCK - pos % _BLOCK  # skip the block's zero padding
            continue
        if pos + _CHUNK_HEADER.size > len(data):
            raise ValueError(f"{wandb_file}: truncated chunk header at byte {pos}")
        crc, length, kind = _CHUNK_HEADER.unpack_from(data, pos)
        start, pos = pos + _CHUNK_HEADER.size, pos + _CHUNK_HEADER.size + length
        payload = data[start:pos]
        if len(payload) != length or crc != zlib.crc32(bytes([kind]) + payload):
            raise ValueError(f"{wandb_file}: bad chunk at byte {start - _CHUNK_HEADER.size}")
        # A record is one full chunk, or first middle* last.
        starts = kind in (_FULL, _FIRST)
        if kind not in (_FULL, _FIRST, _MIDDLE, _LAST) or starts != (parts is None):
            raise ValueError(f"{wandb_file}: unexpected chunk type {kind} at byte {start}")
        parts = [payload] if starts else [*parts, payload]
        if kind in (_FULL, _LAST):
            yield pb.Record.FromString(b"".join(parts))
            parts = None
    if parts is not None:
        raise ValueError(f"{wandb_file}: file ends inside a record")


def finished_records(wandb_file: Path, timeout_s: float = 30.0) -> list[pb.Record]:
    """The records of a finished run, waiting for wandb-core to write them all.

    `run.finish()` can return before the separate wandb-core process has flushed the log,
    so a file read at once may end inside a record or before the closing `exit` record.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            records = list(iter_records(wandb_file))
            if records and records[-1].WhichOneof("record_type") == "exit":
                return records
            problem = "no exit record: the run has not finished"
        except ValueError as err:
            if "truncated" not in str(err) and "ends inside" not in str(err):
                raise  # corrupt, not merely unfinished
            problem = str(err)
        if time.monotonic() > deadline:
            raise ValueError(f"{wandb_file}: still incomplete after {timeout_s:.0f} s ({problem})")
        time.sleep(0.1)


def read_offline_run(run_dir: Path) -> OfflineRun:
    run_dir = Path(run_dir)
    (wandb_file,) = run_dir.glob("run-*.wandb")  # exactly one per run directory
    run = OfflineRun(run_dir, wandb_file.stem.removeprefix("run-"), None, None, None)
    for record in finished_records(wandb_file):
        kind = record.WhichOneof("record_type")
        if kind == "run":  # the first one opens the run; later ones update it (e.g. a rename)
            r = record.run
            run.run_id = r.run_id or run.run_id
            run.name = r.display_name or run.name
            run.group = r.run_group or run.group
            run.project = r.project or run.project
            _apply(run.config, r.config.update, r.config.remove)
        elif kind == "config":
            _apply(run.config, record.config.update, record.config.remove)
        elif kind == "summary":
            _apply(run.summary, record.summary.update, record.summary.remove)
        elif kind == "history":
            # value_json is always written: wandb 0.31 rejects the typed-only history encoding.
            items = record.history.item
            run.history.append({"/".join(_path(i)): json.loads(i.value_json) for i in items})
        elif kind == "artifact":
            run.artifacts.append(record.artifact.name)
    run.config.pop("_wandb", None)  # wandb's own telemetry, not user config
    return run


def _path(item: Any) -> list[str]:
    # Items carry either a flat `key` or, once wandb-core has split nested dicts, `nested_key`.
    return list(item.nested_key) or [item.key]


def _apply(target: dict, updates: Any, removes: Any) -> None:
    """Merge config/summary items into a nested dict, as wandb does for run.config/run.summary."""
    for item in updates:
        *parents, leaf = _path(item)
        node = target
        for key in parents:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[leaf] = json.loads(item.value_json)
    for item in removes:
        *parents, leaf = _path(item)
        node = target
        for key in parents:
            node = node.get(key)
            if not isinstance(node, dict):
                break
        else:
            node.pop(leaf, None)
