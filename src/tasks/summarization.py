"""Specialty summarisation: a radiology report, discharge summary or operative note in, its
summary out (task=summarize_radiology | summarize_discharge | summarize_operative, one adapter
each). Scored with ROUGE-1/2/L, structure compliance and clinical fact recall
(src/summary_metrics.py); training and decoding are the generative families' (generative.py).
"""

from __future__ import annotations

from src.data.summary_data import SummaryRows, load_summary_rows
from src.summary_metrics import summary_intervals, summary_metric_delta, summary_metrics
from src.tasks.generative import GenerativeTask


class SummarizationTask(GenerativeTask):
    def read_rows(self) -> SummaryRows:
        return load_summary_rows(self.cfg.task.name, self.cfg.data, self.cfg.paths.cache_dir)

    def note_text(self, row: dict) -> str:
        return row["text"]

    def completion(self, row: dict) -> str:
        return row["summary"]

    def prompt_fields(self, row: dict) -> dict[str, str]:
        return {"specialty": row["specialty"]}

    def score(self, rows: list[dict], outputs: list[str]) -> dict[str, float]:
        return summary_metrics(
            [row["summary"] for row in rows],
            outputs,
            [row["specialty"] for row in rows],
            [row["facts"] for row in rows],
        )

    def score_intervals(self, rows: list[dict], base: list[str], tuned: list[str]) -> dict:
        return summary_intervals(
            [row["summary"] for row in rows],
            [row["specialty"] for row in rows],
            [row["facts"] for row in rows],
            base,
            tuned,
            seed=self.cfg.seed,
        )

    def delta(self, base: dict[str, float], tuned: dict[str, float]) -> dict[str, float]:
        return summary_metric_delta(base, tuned)

    def lineage(self, data) -> dict:
        rows = data.rows
        return {
            "files": rows.files,
            "splits": {"train": rows.train, "val": rows.val, "eval": rows.eval},
            "labels": None,  # free text: no label space
            "label_counts": {},
        }
