"""The summarisation tasks' keys (conf/task/summarize_*.yaml, conf/data/summarize_*.yaml): types
and choices only; every default is in those files."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from src.schemas import DataConfig, TaskConfig, one_of


@dataclass
class SummaryTaskConfig(TaskConfig):
    # Written mode: an extractive run dir or its export; the generator reads that extractor's
    # extract_units best units of each note instead of the whole note (extraction.py). None = the note.
    extract_from: str | None = MISSING
    extract_units: int | None = MISSING  # None = the extractor's k + extraction.EXTRA_UNITS


@dataclass
class SummaryDataConfig(DataConfig):
    specialty: str = one_of("radiology", "discharge", "operative")  # the summary form the metrics expect
    text_column: str = MISSING
    summary_column: str = MISSING
    specialty_column: str | None = MISSING  # per-row specialty (radiology | discharge | operative)
    format: str = one_of("table", "openai_chat")  # OpenAI chat JSONL (src/data/openai_chat.py)
    max_chunks: int = MISSING  # seq2seq: chunks of model.max_length read per note (fusion-in-decoder)
