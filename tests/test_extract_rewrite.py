"""Extract-then-rewrite (task.extract_from, src/tasks/summarization/extraction.py): a written
summariser reads an extractive run's best units of each note instead of the whole note, in
training, evaluation and src.predict, with the extractor recorded and its extractions cached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import compose_config, train_here, write_jsonl

from src import export, predict
from src.data.caches import sha256_file
from src.errors import MedtuneError
from src.run_dir import write_resolved_config
from src.tasks import make_task
from src.tasks.summarization import extraction
from src.tasks.summarization.extractive_predictor import load_predictor
from src.tasks.summarization.selection import top_units
from src.tasks.summarization.sentences import split_units
from src.train import train

UNITS = 2  # units the generator reads: fewer than a note has, so some are left out
DIAGNOSES = ["Morbid obesity", "Inguinal hernia", "Cholelithiasis", "Carpal tunnel syndrome"]
OPERATIONS = ["Gastric bypass", "Hernia repair", "Cholecystectomy", "Carpal tunnel release"]


def rows(n: int) -> list[dict]:
    """Operative notes of six units, each unit with its own marker word (marker<unit>x<note>)."""
    out = []
    for i in range(n):
        diagnosis, operation = DIAGNOSES[i % 4], OPERATIONS[i % 4]
        text = (
            f"PREOPERATIVE DIAGNOSIS: , {diagnosis} marker0x{i}.,ANESTHESIA: , General marker1x{i}.,"
            f"PROCEDURE: , {operation} marker2x{i}.,PROCEDURE IN DETAIL:  ,The patient was prepped "
            f"marker3x{i}.  Case went well marker4x{i}.,The patient tolerated it marker5x{i}."
        )
        out.append({"id": f"op{i}", "text": text, "summary": f"{diagnosis}. {operation}."})
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_bert):
    """(extractive run dir, written run dir, its config, its metrics, the data files)."""
    tmp = tmp_path_factory.mktemp("rewrite")
    train_file = write_jsonl(tmp / "train.jsonl", rows(24))
    eval_file = write_jsonl(tmp / "eval.jsonl", rows(30)[24:])
    data = (
        f"data.path={train_file}",
        f"data.eval_path={eval_file}",
        "data.train_size=null",
        "data.val_size=6",
    )
    extractor = tmp / "extractor"
    train_here(
        tmp, extractor, "task=summarize_operative", "model=minilm", f"model.name_or_path={tiny_bert}",
        "logger=none", "trainer.max_epochs=1", "loop.batch_size=4", *data,
    )  # fmt: skip
    cfg = compose_config(
        *("task=summarize_operative", "model=tiny_t5", "logger=none", "trainer.max_epochs=1", *data),
        *("task.max_new_tokens=8", "loop.eval_batch_size=4", f"paths.cache_dir={tmp / 'cache'}"),
        *(f"task.extract_from={extractor}", f"task.extract_units={UNITS}"),
    )
    run_dir = tmp / "written"
    write_resolved_config(cfg, run_dir)  # as python -m src.train does before training
    return extractor, run_dir, cfg, train(cfg, run_dir), eval_file


@pytest.mark.parametrize("model", ["tiny_t5", "tiny_llama"])
def test_generator_reads_only_the_extracted_units(runs, model):
    """The seq2seq run trained above, and a causal model's prompts from the same extracts."""
    extractor, _, cfg, _, _ = runs
    if model != "tiny_t5":
        cfg = cfg.copy()
        overrides = compose_config(
            "task=summarize_operative", f"model={model}", f"paths.cache_dir={cfg.paths.cache_dir}"
        )
        cfg.model, cfg.lora = overrides.model, overrides.lora
    task = make_task(cfg)
    task.check_data()
    data = task.load_data()
    scorer = load_predictor(extractor, torch.device("cpu"))
    for row, example in zip(data.rows.eval, data.eval, strict=True):
        chosen = top_units(*scorer.scored_units(row["text"]), UNITS)
        assert task.note_text(row) == extraction.extract_text(chosen)
        prompt = task.tokenizer.decode(example["prompt_ids"])
        markers = {unit.text.split()[-1].rstrip(".").lower() for unit in split_units(row["text"])}
        kept = {unit.text.split()[-1].rstrip(".").lower() for unit in chosen}
        assert len(markers) == 6 and len(kept) == UNITS
        assert all(m in prompt for m in kept) and not any(m in prompt for m in markers - kept)


def test_extractions_are_cached_and_the_extractor_recorded(runs, monkeypatch):
    extractor, run_dir, cfg, metrics, _ = runs
    record = metrics["extractor"]
    assert record["path"] == str(extractor.resolve()) and record["units"] == UNITS
    weights = "adapter/adapter_model.safetensors"
    assert record["weights"] == {weights: sha256_file(extractor / weights)}
    assert json.loads((run_dir / "manifest.json").read_text())["extractor"] == record
    assert json.loads((run_dir / "adapter" / "medtune.json").read_text())["extractor"] == record
    assert metrics["data"]["extract_units"] == UNITS
    assert len(list((Path(cfg.paths.cache_dir) / extraction.CACHE_KIND).glob("*.json"))) == 3  # per split
    # read back: the extractor is not loaded again
    monkeypatch.setattr(extraction, "load_predictor", lambda *_: pytest.fail("extractor reloaded"))
    assert make_task(cfg).read_rows().eval[0]["extract"]


def predicted(run: Path, inputs: Path, out: Path) -> list[str]:
    predict.main([f"run={run}", f"input={inputs}", f"output={out}", "batch_size=4", "device=cpu"])
    return [json.loads(line)["summary"] for line in out.read_text().splitlines()]


def test_predicting_the_evaluation_split_gives_the_tuned_metrics_and_the_export_the_same(runs, tmp_path):
    extractor, run_dir, cfg, metrics, eval_file = runs
    summaries = predicted(run_dir, eval_file, tmp_path / "predicted.jsonl")
    task = make_task(cfg)
    assert task.score(task.read_rows().eval, summaries) == pytest.approx(metrics["tuned"], rel=0, abs=0)
    export.main([f"run={run_dir}", f"out={tmp_path / 'export'}"])
    moved = tmp_path / "moved"
    extractor.rename(moved)  # the export carries its own extractor
    try:
        assert predicted(tmp_path / "export", eval_file, tmp_path / "again.jsonl") == summaries
    finally:
        moved.rename(extractor)


def test_bad_extractors_are_named(runs, tmp_path):
    extractor, run_dir, _, _, _ = runs
    base = ("task=summarize_operative", "model=tiny_t5", f"paths.cache_dir={tmp_path}")
    cases = {
        tmp_path / "nowhere": "task.extract_from=.*nowhere: no such folder; set task.extract_from to an",
        run_dir: "task.extract_from=.*written: not an extractive summariser",
    }
    for path, message in cases.items():
        with pytest.raises(MedtuneError, match=message):
            make_task(compose_config(*base, f"task.extract_from={path}")).check_data()
    with pytest.raises(MedtuneError, match="task.extract_from=.* model=minilm is the extractive one"):
        make_task(compose_config("task=summarize_operative", f"task.extract_from={extractor}"))


def test_notes_scored_together_score_as_each_alone(runs):
    """Extraction and src.predict read several notes' units per pass (scored_notes): the same
    scores as one note at a time, units in note order."""
    scorer = load_predictor(runs[0], torch.device("cpu"))
    texts = [row["text"] for row in rows(30)[24:]]
    for text, (units, scores) in zip(texts, scorer.scored_notes(texts), strict=True):
        alone_units, alone = scorer.scored_units(text)
        assert units == alone_units
        assert scores == pytest.approx(alone, abs=1e-5)
