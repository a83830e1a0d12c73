"""Extract-then-rewrite: a written summary generated from an extractive run's best units of a note.

task.extract_from names an extractive run dir (python -m src.train task=summarize_* model=minilm)
or its src.export folder. Its predictor (extractive_predictor.py) scores every unit of a note, and
the generator reads, instead of the whole note, the note's task.extract_units best-scored units
in note order, one "HEADER: sentence" line each (the header is the context the extractor scored
the sentence with, and tells a diagnosis before an operation from one after). Training,
validation, evaluation and src.predict notes all pass through the same two steps.

The default count is the extractor's k (the units its own summaries copy, chosen on the validation
slice) + EXTRA_UNITS: the generator can take a unit the extractor ranked just below its cut, and
k + 3 units fit one 256-token prompt of the default model (model=minilm_seq2seq) beside the
instruction's ~20 tokens, so a note is read in one chunk (MTSamples operative, k=2: median 87
tokens, 3 of 706 training and validation notes over 236; discharge, k=6: median 155, 14 of 108
take a second chunk, read as data.max_chunks allows).

Extractions are computed once per split and kept under paths.cache_dir/extracts/, keyed on the
extractor's weights (sha256), the count and the split's notes (ids and texts), with a sidecar
naming the data files (src/data/caches.py); they quote the notes, as cached base results do.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from src.data.caches import record_sources, sha256_file
from src.errors import MedtuneError
from src.inference import ADAPTER_WEIGHTS, META_FILE, read_json
from src.tasks.summarization.extractive_predictor import HEAD_FILE, ExtractivePredictor, load_predictor
from src.tasks.summarization.selection import top_units
from src.tasks.summarization.sentences import Unit

log = logging.getLogger(__name__)
EXTRA_UNITS = 3  # units read beyond the extractor's own k (see above)
EXTRACTION_VERSION = "1"  # part of the cache key: bump when the extract's form changes
CACHE_KIND = "extracts"
NOTES_PER_PASS = 16  # notes scored together: their units fill the encoder's passes
FIX = (
    "set task.extract_from to an extractive run dir (python -m src.train task=summarize_operative "
    "model=minilm) or its python -m src.export folder, or to null to read whole notes"
)


@dataclass(frozen=True)
class Extractor:
    path: Path  # resolved
    weights: dict[str, str]  # weight file (relative to path) -> sha256
    k: int  # the extractor's own summary length
    units: int  # units the generator reads per note

    @property
    def sha256(self) -> str:
        """One digest of the weight files: what extractions and base results are keyed on."""
        return hashlib.sha256(json.dumps(self.weights, sort_keys=True).encode()).hexdigest()

    def record(self) -> dict:
        """What metrics.json, the manifest and adapter/medtune.json say of the extractor."""
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "weights": self.weights,
            "k": self.k,
            "units": self.units,
        }


def identify(value: str, units: int | None) -> Extractor:
    """The extractor at task.extract_from=`value`, checked; MedtuneError naming the key otherwise."""
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise MedtuneError(f"task.extract_from={value}: no such folder; {FIX}")
    export = (path / HEAD_FILE).is_file()
    meta_file = path / META_FILE if export else path / "adapter" / META_FILE
    meta = read_json(meta_file) if meta_file.is_file() else {}
    if meta.get("mode") != "extractive":
        raise MedtuneError(
            f"task.extract_from={value}: not an extractive summariser ({meta_file.relative_to(path)} "
            f"{'does not say mode: extractive' if meta else 'not found'}); {FIX}"
        )
    files = [path / "model.safetensors", path / HEAD_FILE] if export else [path / "adapter" / ADAPTER_WEIGHTS]
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise MedtuneError(f"task.extract_from={value}: {missing[0]} not found (safetensors only); {FIX}")
    count = meta["k"] + EXTRA_UNITS if units is None else units
    if count < 1:
        raise MedtuneError(
            f"task.extract_units={units}: read at least 1 unit per note (null: extractor's k + {EXTRA_UNITS})"
        )
    weights = {str(f.relative_to(path)): sha256_file(f) for f in files}
    return Extractor(path, weights, meta["k"], count)


def extract_text(units: list[Unit]) -> str:
    """What the generator reads: the units in note order, one "HEADER: sentence" line each."""
    ordered = sorted(units, key=lambda unit: unit.start)
    return "\n".join(f"{u.header}: {u.text}" if u.header else u.text for u in ordered)


def extract(predictor: ExtractivePredictor, texts: list[str], n: int) -> list[str]:
    """Each note's n best-scored units (the earliest on ties), as the generator reads them."""
    return [extract_text(top_units(*scored, n)) for scored in predictor.scored_notes(texts)]


class Extractions:
    """The extractor of a run, loaded once when a split's extractions are not cached."""

    def __init__(self, extractor: Extractor, device: torch.device):
        self.extractor = extractor
        self.device = device
        self._predictor: ExtractivePredictor | None = None

    def predictor(self) -> ExtractivePredictor:
        if self._predictor is None:
            self._predictor = load_predictor(self.extractor.path, self.device)
        return self._predictor

    def one(self, text: str) -> str:
        return extract(self.predictor(), [text], self.extractor.units)[0]

    def split(self, rows: list[dict], cache_dir: str | Path, files: dict[str, str]) -> list[str]:
        """Each row's extract, read from the cache or computed and cached."""
        notes = hashlib.sha256(json.dumps([[r["id"], r["text"]] for r in rows]).encode()).hexdigest()
        material = [EXTRACTION_VERSION, self.extractor.sha256, self.extractor.units, notes]
        key = hashlib.sha256(json.dumps(material).encode()).hexdigest()[:16]
        entry = Path(cache_dir) / CACHE_KIND / f"{key}.json"
        if entry.is_file():
            return json.loads(entry.read_text())["extracts"]
        log.info(
            "Extracting %d units from each of %d notes (%s)", self.extractor.units, len(rows), entry.name
        )
        texts, extracts = [row["text"] for row in rows], []
        for start in range(0, len(texts), NOTES_PER_PASS):
            extracts += extract(self.predictor(), texts[start : start + NOTES_PER_PASS], self.extractor.units)
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_name(f"{entry.name}.tmp-{os.getpid()}")  # a reader never sees half a file
        tmp.write_text(json.dumps({"extracts": extracts}))
        tmp.replace(entry)
        record_sources(
            entry, files, extractor=str(self.extractor.path), extractor_sha256=self.extractor.sha256
        )
        return extracts
