"""The eligibility task's config keys (conf/task/eligibility.yaml, conf/data/eligibility.yaml):
types and choices only; every default is in those files."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from src.schemas import DataConfig, TaskConfig, one_of


@dataclass
class EligibilityTaskConfig(TaskConfig):
    target_recall: float = MISSING  # the operating threshold is the one reaching this recall on the val slice
    max_length: int = MISSING  # tokens of the (criteria, patient) pair
    truncation: str = one_of("only_second", "only_first", "longest_first")  # which side loses its tail
    reader: str = one_of("criteria", "pair")
    evidence_lines: int = MISSING  # criteria reader: record lines read with each criterion
    criterion_max_length: int = MISSING  # criteria reader: tokens of a (criterion, evidence) sequence
    numeric_rule: bool = MISSING  # criteria reader: threshold criteria decided by comparison (numeric.py)
    numeric_confidence: float | None = MISSING  # P(a numeric decision is right); None: measured


@dataclass
class EligibilityDataConfig(DataConfig):
    patient_column: str = MISSING
    criteria_column: str = MISSING
    label_column: str = MISSING
    criteria_labels_column: str = MISSING  # optional per-criterion statuses (criteria.py)
    positive_label: str = MISSING
    negative_label: str = MISSING
