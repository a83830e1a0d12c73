"""Eligibility examples: canonical rows {id, patient, criteria, label, criteria_met}, and their splits.

`label` is True for the positive class (data.positive_label, "eligible") and False for the
negative one (data.negative_label, "excluded"); any other value is an error naming the row.
`criteria_met` is optional: one bool per criterion of the row's criteria (src/tasks/eligibility/criteria.py),
read from data.criteria_labels_column when the row has it, else None.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig

from src.data import splits
from src.data.records import READ_COUNTS, is_missing, note_text, table_rows
from src.data.synthetic import SyntheticSource, data_files
from src.errors import MedtuneError
from src.tasks.base import TaskPackage
from src.tasks.eligibility import synthetic
from src.tasks.eligibility.criteria import STATUSES, criteria_list
from src.tasks.eligibility.schema import EligibilityDataConfig, EligibilityTaskConfig

# The embedded pairs when data.path is empty.
SYNTHETIC = SyntheticSource(
    "eligibility", synthetic.GENERATOR_VERSION, synthetic.generate_eligibility_dataset
)
PACKAGE = TaskPackage(EligibilityTaskConfig, EligibilityDataConfig, SYNTHETIC)  # both task classes'


@dataclass
class EligibilityRows:
    train: list[dict]
    val: list[dict]
    eval: list[dict]
    labels: list[str]  # [negative, positive]
    files: dict[str, str]  # role -> path
    stats: dict = field(default_factory=dict)


def load_rows(path: str | Path, data_cfg: DictConfig, stats: Counter) -> list[dict]:
    rows = []
    columns = ("patient_column", "criteria_column", "label_column")
    for where, example_id, raw in table_rows(path, data_cfg, columns, stats):
        criteria = note_text(raw[data_cfg.criteria_column], data_cfg.criteria_column, where)
        if not criteria_list(criteria):
            raise MedtuneError(
                f"{where}: column '{data_cfg.criteria_column}' holds headings but no criterion; "
                "list the criteria one per line under them"
            )
        rows.append(
            {
                "id": example_id,
                "patient": note_text(raw[data_cfg.patient_column], data_cfg.patient_column, where),
                "criteria": criteria,
                "label": _label(raw[data_cfg.label_column], where, data_cfg),
                "criteria_met": _criteria_met(
                    raw.get(data_cfg.criteria_labels_column), criteria, where, data_cfg
                ),
            }
        )
    if not rows:
        raise MedtuneError(f"{path}: no rows; the file holds only blank lines or a header")
    return rows


def _label(value: object, where: str, data_cfg: DictConfig) -> bool:
    names = {data_cfg.positive_label: True, data_cfg.negative_label: False}
    text = "" if is_missing(value) else str(value).strip()
    if text not in names:
        raise MedtuneError(
            f"{where}: unknown label {value!r} in column '{data_cfg.label_column}'; expected "
            f"{data_cfg.positive_label!r} or {data_cfg.negative_label!r} (set data.positive_label / "
            "data.negative_label to your file's names)"
        )
    return names[text]


def _criteria_met(value: object, criteria: str, where: str, data_cfg: DictConfig) -> list[bool] | None:
    """Per-criterion labels, in the order of the criteria text: a JSON object {key: status} or a list
    of statuses ("met", "not met", "unknown"); None when the row has none."""
    column = data_cfg.criteria_labels_column
    if is_missing(value) or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = None
    statuses = list(value.values()) if isinstance(value, dict) else value
    if not isinstance(statuses, list):
        raise MedtuneError(
            f"{where}: column '{column}' must hold a list or an object of statuses, one per criterion; "
            "leave it empty to train this row from its label alone"
        )
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise MedtuneError(
            f"{where}: column '{column}' holds {unknown[0]!r}; each status must be one of "
            f"{', '.join(map(repr, STATUSES))}"
        )
    n_criteria = len(criteria_list(criteria))
    if len(statuses) != n_criteria:
        raise MedtuneError(
            f"{where}: column '{column}' holds {len(statuses)} statuses but column "
            f"'{data_cfg.criteria_column}' lists {n_criteria} criteria (one per line under the "
            "Inclusion / Exclusion Criteria headings); give one status per criterion, in order"
        )
    return [STATUSES[s] for s in statuses]


def load_eligibility_rows(data_cfg: DictConfig, cache_dir: str) -> EligibilityRows:
    """The split rules every task shares (splits.split_examples), and an eligible pair in each split."""
    files = data_files(SYNTHETIC, data_cfg, cache_dir)
    stats: Counter = Counter()
    pool = load_rows(files["train"], data_cfg, stats)
    eval_rows = load_rows(files["eval"], data_cfg, stats) if "eval" in files else None
    pool, train, val, eval_rows = splits.split_examples(pool, eval_rows, files, data_cfg)
    for name, rows in (("training", train), ("validation", val), ("evaluation", eval_rows)):
        if not any(row["label"] for row in rows):
            raise MedtuneError(
                f"the {name} split holds no {data_cfg.positive_label!r} pair, so recall is undefined; "
                "add positive examples or raise data.train_size / data.val_size"
            )
    return EligibilityRows(
        train=train,
        val=val,
        eval=eval_rows,
        labels=[data_cfg.negative_label, data_cfg.positive_label],
        files=files,
        stats={
            **splits.split_counts(pool, train, val, eval_rows),
            "positive_share_train": round(sum(r["label"] for r in train) / len(train), 4),
            "positive_share_eval": round(sum(r["label"] for r in eval_rows) / len(eval_rows), 4),
            **{key: stats[key] for key in READ_COUNTS},
        },
    )


def eligibility_lineage(rows: EligibilityRows, positive: str, negative: str) -> dict:
    """The eligibility tasks' Task.lineage: files, split rows, labels, label counts per split."""
    return {
        "files": rows.files,
        "splits": {"train": rows.train, "val": rows.val, "eval": rows.eval},
        "labels": rows.labels,
        "label_counts": {
            split: {
                positive: sum(r["label"] for r in getattr(rows, split)),
                negative: sum(not r["label"] for r in getattr(rows, split)),
            }
            for split in ("train", "eval")
        },
    }
