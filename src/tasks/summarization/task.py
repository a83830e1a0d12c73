"""Specialty summarisation: a radiology report, discharge summary or operative note in, its
summary out (task=summarize_radiology | summarize_discharge | summarize_operative, one adapter
each). Scored with ROUGE-1/2/L, structure compliance, clinical fact recall and the share of stated
facts the note does not support (src/tasks/summarization/metrics.py); training and decoding are
the generative families' (generative.py).

With task.extract_from (extract-then-rewrite, extraction.py) the model reads an extractive run's
best units of each note instead of the whole note, in training, evaluation (base and tuned alike)
and src.predict; facts are still checked against the whole note.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from omegaconf import OmegaConf

from src.data.synthetic import SyntheticSource
from src.errors import MedtuneError
from src.model_card import CardText
from src.tasks.base import TaskPackage
from src.tasks.generative import GenerativeTask
from src.tasks.summarization.card import summary_card
from src.tasks.summarization.data import SummaryRows, load_summary_rows
from src.tasks.summarization.extraction import Extractions, Extractor, identify
from src.tasks.summarization.metrics import METRIC_KEYS
from src.tasks.summarization.schema import SummaryDataConfig, SummaryTaskConfig
from src.tasks.summarization.scoring import SummaryScoring
from src.tasks.summarization.synthetic import SPECIALTIES, synthetic_source

EXTRACTOR_DIR = "extractor"  # an export's copy of its extractor


class SummarizationTask(SummaryScoring, GenerativeTask):
    # Beyond every generative task's keys, summaries have task.extract_from and task.extract_units
    # (schema.py); the embedded data depends on data.specialty (synthetic()).
    package = TaskPackage(SummaryTaskConfig, SummaryDataConfig)

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
        if cfg.data.format == "openai_chat" and OmegaConf.select(cfg, "task.extract_from"):
            raise MedtuneError(
                "task.extract_from rewrites an extract of a table's notes; data.format=openai_chat trains on "
                "whole conversations: set task.extract_from=null, or data.format=table"
            )
        self._recorded: dict | None = None  # the extractor a trained run names (restore_tuned)
        self._extractions: Extractions | None = None

    @cached_property
    def extractor(self) -> Extractor | None:
        """task.extract_from's extractor (None: whole notes); a trained run's predictor checks that
        the one it trained with is unchanged."""
        if self._recorded is not None:
            found = identify(self._recorded["path"], self._recorded["units"])
            if found.sha256 != self._recorded["sha256"]:
                raise MedtuneError(
                    f"task.extract_from={found.path}: its weights changed since this run was trained "
                    f"(sha256 {found.sha256[:12]}, trained with {self._recorded['sha256'][:12]}): restore "
                    "that extractor, or train the rewriting run again on the new one"
                )
            return found
        value = OmegaConf.select(self.cfg, "task.extract_from")
        return None if value is None else identify(value, OmegaConf.select(self.cfg, "task.extract_units"))

    def _extract(self) -> Extractions:
        if self._extractions is None:
            self._extractions = Extractions(self.extractor, self.device)
        return self._extractions

    def synthetic(self) -> SyntheticSource:
        return synthetic_source(self.cfg.data.specialty)

    def read_rows(self) -> SummaryRows:
        rows = load_summary_rows(self.cfg.data, self.cfg.paths.cache_dir)
        if self.extractor is not None:
            for split in ("train", "val", "eval"):
                notes = getattr(rows, split)
                extracts = self._extract().split(notes, self.cfg.paths.cache_dir, rows.files)
                for row, extract in zip(notes, extracts, strict=True):
                    row["extract"] = extract
            rows.stats["extract_units"] = self.extractor.units
            self._extractions = None  # training needs no extractor: its model is let go
        return rows

    def note_text(self, row: dict) -> str:
        return row["text"] if self.extractor is None else row["extract"]

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
        row = {**inputs, "specialty": specialty}
        if self.extractor is not None:  # a new note goes through the run's two steps
            row["extract"] = self._extract().one(row["text"])
        return row

    def adapter_meta(self) -> dict:
        return {} if self.extractor is None else {"extractor": self.extractor.record()}

    def restore_tuned(self, meta: dict) -> None:
        recorded = meta.get("extractor")
        if recorded is not None:  # an export's copy is named relative to the export
            recorded = {**recorded, "path": str(Path(meta["loaded_from"]) / recorded["path"])}
        self._recorded = recorded
        self.__dict__.pop("extractor", None)  # identified again, from the recorded path

    def export_files(self, out: Path) -> dict:
        """An export carries its extractor (extractor/, the extractive run's own export): it
        predicts without the run it was trained from."""
        if self.extractor is None:
            return {}
        self._extract().predictor().save(out / EXTRACTOR_DIR, self.extractor.path)
        copied = identify(str(out / EXTRACTOR_DIR), self.extractor.units).record()
        return {"extractor": {**copied, "path": EXTRACTOR_DIR, "exported_from": self.extractor.record()}}

    def card(self, manifest: dict) -> CardText:
        kept = None if self.output_ids is None else len(self.output_ids)
        return summary_card(self.cfg.data.specialty, output_vocab=kept)

    def write_reports(self, data, run_dir: Path) -> dict:
        return {} if self.extractor is None else {"extractor": self.extractor.record()}

    def base_dependencies(self) -> dict:
        # Cached base results hold their metrics: one kept before a metric was added (such as
        # unsupported_fact_rate) would leave it out of base and delta, so it is generated again.
        extracted = {} if self.extractor is None else {"extractor": self.extractor.sha256}
        return {**super().base_dependencies(), "metrics": METRIC_KEYS, **extracted}
