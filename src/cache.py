"""python -m src.cache list|purge [--older-than DAYS] [--data FILE] [--cache-dir DIR]

What paths.cache_dir holds, and removing it. Entries, each with a sidecar saying what it derives
from (src/data/caches.py; entries written before sidecars existed show "source unknown"):

  tokenized/<name>.arrow   token ids of notes (no text), reused by runs with the same data and tokenizer
  base/<key>.json          base-model results of generative tasks: generated text, which may quote notes
  synthetic/<folder>       the embedded synthetic data, generated on first use
  extracts/<key>.json      extract-then-rewrite: the sentences an extractor chose from each note
                           (note text: purge them with the notes)
  descriptions/<key>.npy   embeddings of code descriptions (data.label_space; no note text)

`list` prints them with their sources, size and age; `purge` removes them: all, those older than
DAYS, or those made from FILE (matched by its sha256, wherever it lives now). Both filters
together select the entries that pass both.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from src.console import console
from src.data.caches import SIDECARS, sha256_file, sidecar_path
from src.errors import MedtuneError, exit_on_user_error
from src.paths import CONF_DIR

KINDS = ("tokenized", "base", "synthetic", "extracts", "descriptions")  # the cache dir's folders of entries
DAY = 86400.0


@dataclass
class Entry:
    path: Path
    size: int  # bytes
    age_days: float  # since it was written
    record: dict  # its sidecar; {} when it has none

    def derives_from(self, sha256: str) -> bool:
        return any(source["sha256"] == sha256 for source in self.record.get("sources", {}).values())

    def origin(self) -> str:
        """What it derives from, in words (no text of the data)."""
        if not self.record:
            return "source unknown (written before sidecars)"
        r = self.record
        if r["kind"] == "synthetic":
            settings = f"seed {r['seed']}, {r['n_train']} train + {r['n_eval']} eval rows"
            return f"generated: {r['generator']} v{r['version']}, {settings}"
        sources = ", ".join(
            f"{role} {Path(s['path']).name} (sha256 {s['sha256'][:12]})" for role, s in r["sources"].items()
        )
        return f"from {sources or 'no file'}"


def default_cache_dir() -> Path:
    """paths.cache_dir as conf/paths/default.yaml resolves it: MEDTUNE_CACHE_DIR, else .cache/medtune."""
    return Path(OmegaConf.load(CONF_DIR / "paths" / "default.yaml").cache_dir)


def entries(cache_dir: Path) -> list[Entry]:
    found, now = [], time.time()
    for kind in KINDS:
        folder = cache_dir / kind
        for path in sorted(folder.iterdir()) if folder.is_dir() else ():
            lock_of = path.with_suffix("") if path.suffix == ".lock" else None
            if path.name.startswith(".") or (lock_of is not None and lock_of.exists()):
                continue  # a staging folder, or the lock of an entry (removed with it)
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            found.append(
                Entry(
                    path,
                    sum(p.stat().st_size for p in files),
                    (now - path.stat().st_mtime) / DAY,
                    _record(path),
                )
            )
    return found


def _record(entry: Path) -> dict:
    try:
        return json.loads(sidecar_path(entry).read_text())
    except (OSError, ValueError):
        return {}


def remove(entry: Entry) -> None:
    if entry.path.is_dir():
        shutil.rmtree(entry.path)
    else:
        entry.path.unlink()
    for leftover in (sidecar_path(entry.path), entry.path.with_name(entry.path.name + ".lock")):
        leftover.unlink(missing_ok=True)


def forget_removed(cache_dir: Path) -> None:
    """Drops the sidecars of entries removed by other means than purge."""
    for sidecar in (cache_dir / SIDECARS).glob("*/*.json"):
        if not (cache_dir / sidecar.parent.name / sidecar.stem).exists():
            sidecar.unlink()


def human(size: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def days(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number >= 0:  # also NaN
        raise argparse.ArgumentTypeError(f"'{value}' is not a number of days; give one like --older-than 30")
    return number


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m src.cache", description=__doc__.split("\n\n")[1])
    parser.add_argument("command", choices=("list", "purge"), help="show the entries, or remove them")
    parser.add_argument(
        "--older-than", type=days, metavar="DAYS", help="only entries written more than DAYS ago"
    )
    parser.add_argument("--data", type=Path, metavar="FILE", help="only entries made from this data file")
    parser.add_argument(
        "--cache-dir", type=Path, metavar="DIR", help="default: MEDTUNE_CACHE_DIR, else .cache/medtune"
    )
    args = parser.parse_args(argv)
    if args.data is not None and not args.data.is_file():
        parser.error(f"--data {args.data}: no such file; give the data file the entries were made from")
    return args


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cache_dir = args.cache_dir or default_cache_dir()
    if not cache_dir.is_dir():
        hint = "--cache-dir DIR" if args.cache_dir else "--cache-dir DIR or set MEDTUNE_CACHE_DIR"
        raise MedtuneError(f"cache dir {cache_dir} does not exist; give the cache's folder with {hint}")
    data_sha = sha256_file(args.data) if args.data else None
    chosen = [
        entry
        for entry in entries(cache_dir)
        if (args.older_than is None or entry.age_days > args.older_than)
        and (data_sha is None or entry.derives_from(data_sha))
    ]
    purge = args.command == "purge"
    for entry in chosen:
        if purge:
            remove(entry)
        where = entry.path.relative_to(cache_dir)
        line = f"{where}  {human(entry.size)}  {entry.age_days:.1f} days  {entry.origin()}"
        console.print(("removed " if purge else "") + line, markup=False, highlight=False)
    if purge:
        forget_removed(cache_dir)
    total = f"{len(chosen)} entries, {human(sum(e.size for e in chosen))}"
    console.print(f"{cache_dir}: {'removed' if purge else 'holds'} {total}", markup=False, highlight=False)


if __name__ == "__main__":
    main()
