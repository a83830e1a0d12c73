"""Specialty summarisation: a radiology report, discharge summary or operative note in, its
summary out (task=summarize_radiology | summarize_discharge | summarize_operative, one adapter
each). Scored with ROUGE-1/2/L, structure compliance, clinical fact recall and the share of stated
facts the note does not support (src/tasks/summarization/metrics.py); training and decoding are
the generative families' (generative.py).
"""

from __future__ import annotations

from omegaconf import OmegaConf

from src.data.synthetic import SyntheticSource
from src.errors import MedtuneError
from src.schemas import TaskConfig
from src.tasks.base import TaskPackage
from src.tasks.generative import GenerativeTask
from src.tasks.summarization.data import SummaryRows, load_summary_rows
from src.tasks.summarization.metrics import METRIC_KEYS
from src.tasks.summarization.schema import SummaryDataConfig
from src.tasks.summarization.scoring import SummaryScoring
from src.tasks.summarization.synthetic import SPECIALTIES, synthetic_source


class SummarizationTask(SummaryScoring, GenerativeTask):
    # Summaries need no task keys beyond those every generative task has; the embedded data
    # depends on data.specialty (synthetic()).
    package = TaskPackage(TaskConfig, SummaryDataConfig)

    def __init__(self, cfg):
        super().__init__(cfg)
        family = cfg.model.family
        if cfg.data.format == "openai_chat" and family != "causal_lm":
            # A conversation is one token sequence with loss on the assistant turns: a decoder-only model's.
            raise MedtuneError(
                f"data.format=openai_chat trains a causal_lm model on whole conversations, not "
                f"model.family={family} (model={cfg.model.short_name}): choose model=tiny_llama (random, a "
                "smoke test) or a causal_lm checkpoint such as model=qwen2_5_1_5b"
            )

    def synthetic(self) -> SyntheticSource:
        return synthetic_source(self.cfg.data.specialty)

    def read_rows(self) -> SummaryRows:
        return load_summary_rows(self.cfg.data, self.cfg.paths.cache_dir)

    def note_text(self, row: dict) -> str:
        return row["text"]

    def completion(self, row: dict) -> str:
        return row["summary"]

    def prompt_fields(self, row: dict) -> dict[str, str]:
        return {"specialty": row["specialty"]}

    def max_chunks(self) -> int:
        # A run from before data.max_chunks read one chunk: its predictor prompts as it did.
        return OmegaConf.select(self.cfg, "data.max_chunks", default=1)

    output_key = "summary"

    def input_columns(self) -> dict[str, str]:
        data = self.cfg.data
        return {
            "text": data.text_column,
            **({"specialty": data.specialty_column} if data.specialty_column else {}),
        }

    def input_row(self, inputs: dict[str, str]) -> dict:
        data = self.cfg.data
        specialty = inputs.get("specialty", data.specialty).strip().lower()
        if specialty not in SPECIALTIES:
            raise MedtuneError(
                f"unknown specialty {inputs['specialty']!r} in column '{data.specialty_column}'; expected "
                f"one of {', '.join(SPECIALTIES)}"
            )
        return {**inputs, "specialty": specialty}

    def base_dependencies(self) -> dict:
        # Cached base results hold their metrics: one kept before a metric was added (such as
        # unsupported_fact_rate) would leave it out of base and delta, so it is generated again.
        return {**super().base_dependencies(), "metrics": METRIC_KEYS}
