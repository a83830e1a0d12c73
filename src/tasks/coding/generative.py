"""Medical coding on the generative families: a note in, its codes written out ("E11.9; I10").

The same rows, splits and validation as CodingTask (src/tasks/coding/data.py). The completion is
the note's codes, sorted and joined by "; "; an output is parsed back into a code set
(src/tasks/coding/parsing.py) and scored with the coding metrics. An output with no valid code counts as an
empty code set (wrong unless the note has none) and, apart, in unparseable_rate.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from src.errors import MedtuneError
from src.model_card import CardText
from src.tasks.coding.card import coding_card
from src.tasks.coding.data import PACKAGE, CodingRows, coding_lineage, load_coding_rows
from src.tasks.coding.errors import write_run_report
from src.tasks.coding.keyword_baseline import keyword_reference
from src.tasks.coding.metrics import METRIC_KEYS, bootstrap_intervals, coding_delta, coding_metrics
from src.tasks.coding.parsing import NO_CODES, codes_completion, parse_codes, predicted_codes
from src.tasks.generative import GenerativeTask


class GenerativeCodingTask(GenerativeTask):
    package = PACKAGE

    def __init__(self, cfg):
        super().__init__(cfg)
        space = OmegaConf.select(cfg, "data.label_space", default="train")
        if space != "train":
            # A generative model writes any code it likes; the description scoring of codes outside
            # the training labels (unseen.py) is the classifier head's companion.
            raise MedtuneError(
                f"data.label_space={space} adds description-scored codes to the classifier's head; "
                f"model.family={cfg.model.family} (model={cfg.model.short_name}) writes codes itself: set "
                "data.label_space=train, or choose a classifier such as model=minilm"
            )

    def read_rows(self) -> CodingRows:
        return load_coding_rows(self.cfg.data, self.cfg.paths.cache_dir)

    def note_text(self, row: dict) -> str:
        return row["text"]

    def completion(self, row: dict) -> str:
        return codes_completion(row["codes"])

    def score(self, rows: list[dict], outputs: list[str]) -> dict[str, float]:
        parsed = [parse_codes(output) for output in outputs]
        metrics = coding_metrics([row["codes"] for row in rows], [codes or [] for codes in parsed])
        metrics["unparseable_rate"] = sum(codes is None for codes in parsed) / len(parsed)
        return metrics

    def prediction_output(self, record: dict | None, where: str) -> str:
        return codes_completion(predicted_codes(record, where))  # the form score() parses

    def delta(self, base: dict[str, float], tuned: dict[str, float]) -> dict[str, float]:
        return coding_delta(base, tuned)

    def base_dependencies(self) -> dict:
        # Cached base results hold their metrics: one kept before a metric was added (such as
        # code_error_rate) would leave it out of base and delta, so it is generated again.
        return {**super().base_dependencies(), "metrics": METRIC_KEYS}

    def score_intervals(self, rows: list[dict], base: list[str], tuned: list[str]) -> dict:
        # unparseable_rate has no interval: bootstrap_intervals resamples code sets only.
        return bootstrap_intervals(
            [row["codes"] for row in rows], _code_sets(base), _code_sets(tuned), seed=self.cfg.seed
        )

    def write_reports(self, data, run_dir: Path) -> dict:
        return {"errors": write_run_report(run_dir, data.rows, _code_sets(self.outputs["tuned"]))}

    def evaluate_reference(self, data) -> dict:
        return keyword_reference(data.rows, _code_sets(self.outputs["tuned"]), self.cfg.seed)

    def prediction(self, generated: str) -> dict:
        """The codes parsed from the output (none when it names no valid code) and the output."""
        return {"codes": parse_codes(generated) or [], "generated": generated}

    def adapter_meta(self) -> dict:
        return {"completion": f"codes sorted and joined by '; ' ({NO_CODES!r} for none)"}

    def card(self, manifest: dict) -> CardText:
        return coding_card(manifest, classifier=False)

    def lineage(self, data) -> dict:
        return coding_lineage(data.rows)


def _code_sets(outputs: list[str]) -> list[list[str]]:
    """Parsed code sets, an unparseable output as the empty set."""
    return [parse_codes(output) or [] for output in outputs]
