"""The summarisation tasks' data keys (conf/data/summarize_*.yaml): types and choices only;
every default is in those files. Their task keys are the ones every task has (src/schemas.py)."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from src.schemas import DataConfig, one_of


@dataclass
class SummaryDataConfig(DataConfig):
    specialty: str = one_of("radiology", "discharge", "operative")  # the summary form the metrics expect
    text_column: str = MISSING
    summary_column: str = MISSING
    specialty_column: str | None = MISSING  # per-row specialty (radiology | discharge | operative)
    format: str = one_of("table", "openai_chat")  # OpenAI chat JSONL (src/data/openai_chat.py)
    max_chunks: int = MISSING  # seq2seq: chunks of model.max_length read per note (fusion-in-decoder)
