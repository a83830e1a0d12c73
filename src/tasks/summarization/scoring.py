"""What both summarisation modes share: how outputs are scored, compared with the naive
references and described (task.py generates summaries, extractive.py copies sentences).

A mode keeps its evaluation-split outputs in self.outputs ("base", "tuned") and its rows in
data.rows; these methods read them there.
"""

from __future__ import annotations

from functools import partial

from src.errors import MedtuneError
from src.tasks.summarization.metrics import summary_intervals, summary_metric_delta, summary_metrics
from src.tasks.summarization.reference import summary_reference


class SummaryScoring:
    """Mixin for a summarisation Task (first among its bases, so these override Task's)."""

    cfg: object
    outputs: dict[str, list[str]]

    def score(self, rows: list[dict], outputs: list[str]) -> dict[str, float]:
        return summary_metrics(
            [row["summary"] for row in rows],
            outputs,
            [row["specialty"] for row in rows],
            [row["facts"] for row in rows],
            sources=[row["text"] for row in rows],
        )

    def prediction_output(self, record: dict | None, where: str) -> str:
        """The "summary" of one line of predictions; None (no line): an empty summary, scored 0."""
        if record is None:
            return ""
        summary = record.get("summary")
        if not isinstance(summary, str):
            got = "no 'summary' key" if "summary" not in record else f"'summary' = {str(summary)[:60]}"
            raise MedtuneError(f'{where}: {got}; each line needs "summary", the summary\'s text')
        return summary

    def score_intervals(self, rows: list[dict], base: list[str], tuned: list[str]) -> dict:
        return summary_intervals(
            [row["summary"] for row in rows],
            [row["specialty"] for row in rows],
            [row["facts"] for row in rows],
            base,
            tuned,
            seed=self.cfg.seed,
            sources=[row["text"] for row in rows],
        )

    def intervals(self, data) -> dict:
        return self.score_intervals(data.rows.eval, self.outputs["base"], self.outputs["tuned"])

    def evaluate_reference(self, data) -> dict:
        paired = partial(self.score_intervals, data.rows.eval)
        main = self.cfg.task.main_metric
        return summary_reference(data.rows, self.score, main, self.outputs["tuned"], paired)

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
