"""What each entry under paths.cache_dir derives from, in a JSON sidecar.

An entry <cache_dir>/<kind>/<name> (a tokenized Arrow file, a base result, a synthetic data
folder) has its sidecar at <cache_dir>/.sources/<kind>/<name>.json, apart from the entries so
that nothing listing a kind's folder sees it. A sidecar holds the entry's kind, when it was
written and the path and sha256 of each data file it was made from, never text: `python -m
src.cache` lists entries by it and purges those of a given data file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

SIDECARS = ".sources"


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=64)
def _file_digest(path: Path, mtime_ns: int) -> str:
    """sha256_file, once per file version: every split of a run records the same files."""
    return sha256_file(path)


def sidecar_path(entry: Path) -> Path:
    return entry.parent.parent / SIDECARS / entry.parent.name / f"{entry.name}.json"


def record_sources(entry: Path, files: dict[str, str], **detail) -> None:
    """Writes the sidecar of `entry` (a file or folder; its kind: its folder's name) unless it has
    one. files: role -> path of the data files it derives from; detail: other settings it depends
    on (no text)."""
    sidecar = sidecar_path(entry)
    if sidecar.exists():
        return
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    paths = {role: Path(path).resolve() for role, path in files.items()}
    sources = {
        role: {"path": str(path), "sha256": _file_digest(path, path.stat().st_mtime_ns)}
        for role, path in paths.items()
        if path.is_file()
    }
    payload = {
        "kind": entry.parent.name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "sources": sources,
    }
    # Written aside and renamed: a reader never sees half a sidecar, nor two parallel jobs one.
    tmp = sidecar.with_name(f"{sidecar.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps({**payload, **detail}, indent=2) + "\n")
    tmp.replace(sidecar)
