"""The coding task's config keys (conf/task/coding.yaml, conf/data/coding.yaml): types and
choices only; every default is in those files."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING

from src.schemas import DataConfig, TaskConfig, one_of


@dataclass
class CodingReviewConfig:
    target: float = MISSING  # risk allowed among auto-accepted notes, in (0, 1)
    risk: str = one_of("note", "code")  # which: audit failures (notes) or code errors (codes)


@dataclass
class CodingTaskConfig(TaskConfig):
    threshold: str = one_of("global", "per_code")  # decision thresholds tuned on the val slice
    min_val_positives: int = MISSING  # per_code: fewer positives than this falls back to the global one
    calibration: str = one_of("auto", "none", "temperature", "temperature_band", "isotonic")
    review: CodingReviewConfig = field(default_factory=CodingReviewConfig)


@dataclass
class CodingDataConfig(DataConfig):
    text_column: str = MISSING
    codes_column: str = MISSING
    codes_separator: str = MISSING
    min_code_count: int = MISSING
    on_invalid_code: str = one_of("error", "warn")  # warn: drop the code and count it
    descriptions_path: str | None = MISSING  # JSON {code: description} for codes without one
    label_space: str = MISSING  # train | icd10cm | a path to a file of codes (src/tasks/coding/unseen.py)
    max_chunks: int = MISSING
    chunk_overlap: int = MISSING
