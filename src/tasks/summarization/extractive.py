"""Extractive summarisation: the summary is the note's best sentences, copied in note order.

The classifier-family version of task=summarize_* (task._target_; the generative one is
task.py). It reads any checkpoint build.encoder_class accepts: a BERT-shaped encoder (model=minilm,
clinical_bert), or a generative model config with the one override model.family=classifier:
model=flan_t5_base (its T5 encoder stack) or a causal config (tiny_llama, qwen2_5_1_5b, llama3_8b,
mistral_7b: the base model's last hidden states), e.g.
    python -m src.train task=summarize_operative model=flan_t5_base model.family=classifier
(the head is always trained and saved; LoRA modules the encoder lacks, such as lm_head, are dropped).
A run scores every sentence unit of a note (sentences.py: "header [SEP] sentence", the header as
context, only the sentence copied) and the summary is the k best-scored units in note order, k in
selection.k_choices chosen on the validation slice by the main metric (as lead-k chooses its k).
Every unit is read, so no note is cut (notes_cut_to_max_length is 0); a unit longer than
model.max_length tokens is cut and counted (units_cut_to_max_length).

Tuned model: the encoder with LoRA, mean pooling and a one-output linear head trained in full,
scoring each unit on its own; trained with binary cross-entropy on the greedy ROUGE-L oracle's
labels (oracle.py), each training note read by its oracle units and a random draw of the others
(16 units in all: training_units). Validation and evaluation notes are read whole.

Base model (zero-shot): the pretrained encoder's mean-pooled unit embeddings, each unit scored
by its cosine to the note's centroid (the mean of its units), the same k rule.

Both are scored with the abstractive mode's metrics, intervals and naive references
(scoring.py), so metrics.json has the same keys; it adds `extractive`: each side's k and the
validation main metric by k.

python -m src.predict and src.export serve these runs (extractive_predictor.py): {"summary"}
per note, split, scored and chosen by the code that scored the evaluation split.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset
from omegaconf import OmegaConf
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from src.data.chunking import collate_chunks, tokenizer_versions
from src.errors import MedtuneError
from src.model_card import CardText
from src.models import build, prefix_cache
from src.tasks.base import Task, TaskPackage
from src.tasks.summarization import extractive_predictor
from src.tasks.summarization.card import summary_card
from src.tasks.summarization.data import SummaryRows, load_summary_rows
from src.tasks.summarization.extractive_predictor import note_units, unit_classifier
from src.tasks.summarization.metrics import METRIC_KEYS, rouge
from src.tasks.summarization.oracle import oracle_labels
from src.tasks.summarization.schema import SummaryDataConfig, SummaryTaskConfig
from src.tasks.summarization.scoring import SummaryScoring
from src.tasks.summarization.selection import choose_k, k_choices, summaries
from src.tasks.summarization.sentences import Unit
from src.tasks.summarization.synthetic import synthetic_source
from src.tasks.summarization.unit_scoring import (
    centroid_scores,
    encode_units,
    per_note,
    unit_embeddings,
    unit_logits,
)

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "eval")
UNITS_VERSION = "1"  # bump when sentences.py or the unit encoding changes: cached base results
TRAIN_UNITS_PER_NOTE = 16  # units a training note is read by (training_units)


@dataclass
class ExtractiveData:
    rows: SummaryRows
    units: dict[str, list[list[Unit]]]  # split -> per note, its units in note order
    train: Dataset  # position, chunks (token ids per unit), labels (oracle, per unit)
    val: Dataset
    eval: Dataset
    tokenizer: object
    tokenization: dict


def training_units(labels: list[int], rng: np.random.Generator) -> list[int]:
    """Indices of the units a training note is read by, in note order: every oracle unit and a
    random draw of the others, TRAIN_UNITS_PER_NOTE in all. A note has ~2 oracle units of ~38 on
    MTSamples: reading them all would spend most of training's encoder time on easy negatives."""
    positive = [j for j, y in enumerate(labels) if y]
    negative = [j for j, y in enumerate(labels) if not y]
    n = max(TRAIN_UNITS_PER_NOTE - len(positive), 0)
    drawn = rng.choice(negative, size=min(n, len(negative)), replace=False).tolist() if negative else []
    return sorted(positive + drawn)


class ExtractiveSummaryTask(SummaryScoring, Task):
    package = TaskPackage(SummaryTaskConfig, SummaryDataConfig)

    def __init__(self, cfg):
        super().__init__(cfg)
        if cfg.data.format == "openai_chat":
            raise MedtuneError(
                "data.format=openai_chat trains a causal_lm model on whole conversations; the extractive "
                f"summariser (model.family=classifier, model={cfg.model.short_name}) reads a table: set "
                "data.format=table, or choose a causal_lm model such as model=tiny_llama"
            )
        if OmegaConf.select(cfg, "task.extract_from"):
            raise MedtuneError(
                f"task.extract_from={cfg.task.extract_from} feeds a written summariser (model.family="
                f"seq2seq or causal_lm); model={cfg.model.short_name} is the extractive one: set "
                "task.extract_from=null, or choose a generative model such as model=minilm_seq2seq"
            )
        self.outputs: dict[str, list[str]] = {}  # evaluation-split summaries: base, tuned
        self.k: dict[str, int] = {}
        self.by_k: dict[str, dict[int, float]] = {}  # validation main metric by k, per side
        self._val: tuple[list[dict], list[list[Unit]]] = ([], [])

    def synthetic(self):
        return synthetic_source(self.cfg.data.specialty)

    # -- data ------------------------------------------------------------------------------------
    def check_data(self) -> None:
        self.rows = load_summary_rows(self.cfg.data, self.cfg.paths.cache_dir)

    def load_data(self) -> ExtractiveData:
        cfg = self.cfg
        rows = self.rows or load_summary_rows(cfg.data, cfg.paths.cache_dir)
        tokenizer = build.load_tokenizer(cfg.model)
        self.pad_token_id = tokenizer.pad_token_id
        units, datasets, cut, total, trained = {}, {}, 0, 0, 0
        rng = np.random.default_rng(cfg.seed)
        for split in SPLITS:
            units[split] = [note_units(row["text"]) for row in getattr(rows, split)]
            encoded = []
            for i, (row, note) in enumerate(zip(getattr(rows, split), units[split], strict=True)):
                ids, n_cut = encode_units(note, tokenizer, cfg.model.max_length)
                labels = oracle_labels([u.text for u in note], row["summary"]) if split != "eval" else []
                labels = labels or [0] * len(note)
                if split == "train":
                    keep = training_units(labels, rng)
                    ids, labels = [ids[j] for j in keep], [labels[j] for j in keep]
                    trained += len(keep)
                encoded.append({"position": i, "chunks": ids, "labels": labels})
                cut, total = cut + n_cut, total + len(note)
            datasets[split] = Dataset.from_list(encoded)
        if cut:
            log.warning(
                "%d of %d sentence units are longer than model.max_length=%d tokens: their tails were cut",
                cut, total, cfg.model.max_length,
            )  # fmt: skip
        rows.stats.update(
            notes_cut_to_max_length=0,  # every unit of every note is read
            units_cut_to_max_length=cut,
            units_per_note=round(total / sum(len(getattr(rows, s)) for s in SPLITS), 2),
            units_trained_per_note=round(trained / max(len(datasets["train"]), 1), 2),
            oracle_units_per_train_note=round(
                sum(sum(r["labels"]) for r in datasets["train"]) / max(len(datasets["train"]), 1), 2
            ),
        )
        return ExtractiveData(
            rows,
            units,
            datasets["train"],
            datasets["val"],
            datasets["eval"],
            tokenizer,
            {"reused_cache": False},
        )

    def collate(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        batch = collate_chunks(rows, self.pad_token_id)  # note_index: each unit's note in the batch
        positions = torch.tensor([row["position"] for row in rows])
        batch["position"] = positions[batch["note_index"]]  # each unit's note in its split
        batch["labels"] = torch.tensor([float(y) for row in rows for y in row["labels"]])
        return batch

    def _loader(self, dataset: Dataset) -> DataLoader:
        return DataLoader(dataset, batch_size=self.cfg.loop.eval_batch_size, collate_fn=self.collate)

    # -- choosing k and writing summaries ----------------------------------------------------------
    def _main_score(self, rows: list[dict], outputs: list[str]) -> dict[str, float]:
        """The main metric alone when it is a ROUGE score (k is chosen by it), else every metric."""
        main = self.cfg.task.main_metric
        if main.startswith("rouge"):
            values = [rouge(row["summary"], out)[main] for row, out in zip(rows, outputs, strict=True)]
            return {main: float(np.mean(values))}
        return self.score(rows, outputs)

    def _summarise(self, name: str, data: ExtractiveData, scores: dict[str, list[np.ndarray]]) -> dict:
        """k chosen on the validation slice, then the evaluation split's summaries and metrics."""
        main = self.cfg.task.main_metric
        self.k[name], self.by_k[name] = choose_k(
            data.rows.val, data.units["val"], scores["val"], self._main_score, main,
            k_choices(self.cfg.data.specialty),
        )  # fmt: skip
        self.outputs[name] = summaries(data.units["eval"], scores["eval"], self.k[name])
        if name == "tuned":
            val = summaries(data.units["val"], scores["val"], self.k[name])
            self.validation = self.score(data.rows.val, val)
        return self.score(data.rows.eval, self.outputs[name])

    # -- base model ------------------------------------------------------------------------------
    def evaluate_base(self, data: ExtractiveData) -> dict[str, float]:
        encoder = build.load_encoder(self.cfg.model, self.cfg.seed).eval().to(self.device)
        scores = self._note_scores(
            data,
            "Base model",
            lambda batch: centroid_scores(unit_embeddings(encoder, batch), batch["note_index"]),
        )
        return self._summarise("base", data, scores)

    def _note_scores(
        self, data: ExtractiveData, side: str, score: Callable[[dict], torch.Tensor]
    ) -> dict[str, list[np.ndarray]]:
        """Each note's unit scores, by score(batch), on the validation slice and the evaluation split."""
        scores = {}
        with torch.inference_mode():
            for split in ("val", "eval"):
                found: dict[int, np.ndarray] = {}
                for batch in tqdm(self._loader(getattr(data, split)), desc=f"{side}: {split}", leave=False):
                    batch = {k: v.to(self.device) for k, v in batch.items()}
                    found |= per_note(score(batch), batch["position"])
                scores[split] = [found[i] for i in range(len(found))]
        return scores

    def base_cache_dir(self) -> Path | None:
        # Reading every unit of the evaluation notes is most of a run's cost on a CPU: later runs
        # with the same model, task, data and evaluation rows read the result back (base_once.py).
        return Path(self.cfg.paths.cache_dir) / "base"

    def base_dependencies(self) -> dict:
        # A cached base result chose its k among these counts: another range chooses again.
        choices = k_choices(self.cfg.data.specialty)
        return {"mode": "extractive", "units": UNITS_VERSION, "metrics": METRIC_KEYS, "k": list(choices)}

    def base_state(self) -> dict:
        return {"outputs": self.outputs["base"], "k": self.k["base"], "by_k": self.by_k["base"]}

    def restore_base(self, state: dict) -> None:
        self.outputs["base"], self.k["base"] = state["outputs"], state["k"]
        self.by_k["base"] = {int(k): v for k, v in state["by_k"].items()}

    # -- tuned model -----------------------------------------------------------------------------
    def build_model(self, data: ExtractiveData) -> torch.nn.Module:
        base = unit_classifier(self.cfg.model, self.cfg.seed)
        # The bias starts at the training log-odds of "copied": the head first predicts the base rate.
        labels = [y for row in data.train for y in row["labels"]]
        share = (sum(labels) + 0.5) / (len(labels) + 1)
        with torch.no_grad():
            base.classifier.bias.fill_(float(np.log(share / (1 - share))))
        return build.wrap_with_lora(base, self.cfg.lora)

    def training_sets(self, model: torch.nn.Module, data: ExtractiveData) -> tuple:
        self._val = (data.rows.val, data.units["val"])
        return prefix_cache.training_sets(model, self.cfg, data.train, data.val, self.collate, self.device)

    def step(self, model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
        logits = unit_logits(model, batch)
        loss = F.binary_cross_entropy_with_logits(logits, batch["labels"])
        return loss, {"scores": logits.detach(), "position": batch["position"]}

    def epoch_metrics(self, model: torch.nn.Module, outputs: list[dict]) -> dict[str, float]:
        """The main metric on the validation notes scored (all but in the sanity check), at the k
        chosen on them, as evaluate_tuned chooses it; and that k."""
        found = per_note(
            torch.cat([o["scores"] for o in outputs]), torch.cat([o["position"] for o in outputs])
        )
        rows, units = self._val
        positions = sorted(found)
        main = self.cfg.task.main_metric
        k, by_k = choose_k(
            [rows[p] for p in positions], [units[p] for p in positions], [found[p] for p in positions],
            self._main_score, main, k_choices(self.cfg.data.specialty),
        )  # fmt: skip
        return {main: by_k[k], "k": float(k)}

    def evaluate_tuned(self, model: torch.nn.Module, data: ExtractiveData) -> dict[str, float]:
        model.eval().to(self.device)
        model.merge_adapter()  # scores at the base model's speed; unmerged so the adapter saves as trained
        try:
            scores = self._note_scores(data, "Tuned model", lambda batch: unit_logits(model, batch))
        finally:
            model.unmerge_adapter()
        return self._summarise("tuned", data, scores)

    # -- reporting ---------------------------------------------------------------------------------
    def write_reports(self, data: ExtractiveData, run_dir: Path) -> dict:
        main = self.cfg.task.main_metric
        return {
            "extractive": {
                side: {"k": self.k[side], f"validation_{main}_by_k": self.by_k[side]}
                for side in ("base", "tuned")
            }
        }

    def examples(self, data: ExtractiveData, n: int) -> list[dict]:
        return [
            {"id": row["id"], "text": row["text"], "gold": row["summary"], "base": b, "tuned": t}
            for row, b, t in zip(
                data.rows.eval[:n], self.outputs["base"], self.outputs["tuned"], strict=False
            )
        ]

    def save_adapter(self, model: torch.nn.Module, data: ExtractiveData, out_dir: Path) -> None:
        model.save_pretrained(out_dir)  # LoRA weights and the unit head
        meta = {
            "task": self.cfg.task.name,
            "task_class": self.class_path(),
            "mode": "extractive",
            "base_model": self.cfg.model.name_or_path,
            "specialty": self.cfg.data.specialty,
            "k": self.k["tuned"],  # units copied per summary, chosen on the validation slice
            "reader": {
                "units": "src/tasks/summarization/sentences.py",
                "input": "header [SEP] sentence",
                "max_length": self.cfg.model.max_length,
                "pooling": "mean",
            },
            "versions": tokenizer_versions(),
        }
        (out_dir / "medtune.json").write_text(json.dumps(meta, indent=2) + "\n")

    def card(self, manifest: dict) -> CardText:
        return summary_card(self.cfg.data.specialty, extractive=True)

    @classmethod
    def read_meta(cls, path: Path) -> dict:
        return extractive_predictor.read_meta(path)

    @classmethod
    def load_predictor(cls, path: Path, device: torch.device) -> extractive_predictor.ExtractivePredictor:
        return extractive_predictor.load_predictor(path, device)
