"""python -m src.predict and python -m src.export on generative runs (tiny random T5 and Llama):
predicting a run's evaluation split scores to the run's own tuned metrics, to the last bit, and
its export predicts the same."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import compose_config, write_jsonl

from src import export, predict
from src.inference import read_meta
from src.run_dir import write_resolved_config
from src.tasks import make_task
from src.tasks.eligibility.screening import screening_metrics
from src.tasks.generative import GenerativeTask
from src.train import train

SMALL = (
    "logger=none",
    "trainer.max_epochs=1",
    "data.train_size=16",
    "data.synthetic.n_train=40",
    "data.synthetic.n_eval=12",
    "data.synthetic.eval_size=6",
    "data.synthetic.val_size=6",
    "loop.eval_batch_size=4",  # the 6 evaluation rows in two generation batches
)
RUNS = {  # every generative task on both families, and each summary specialty
    "coding-llama": ("task=coding", "model=tiny_llama", "model.max_length=160", "task.max_new_tokens=8"),
    "coding-t5": ("task=coding", "model=tiny_t5", "task.max_new_tokens=8"),
    "radiology-t5": ("task=summarize_radiology", "model=tiny_t5", "task.max_new_tokens=8"),
    "operative-t5": ("task=summarize_operative", "model=tiny_t5", "task.max_new_tokens=8"),
    # max_length 160: every note is cut, at training and (by the input alone) at evaluation
    "discharge-llama": (
        "task=summarize_discharge", "model=tiny_llama", "model.max_length=160", "task.max_new_tokens=8"
    ),
    "eligibility-t5": (
        "task=eligibility", "model=tiny_t5", "task.max_new_tokens=4", "data.synthetic.val_size=8"
    ),
    "eligibility-llama": (
        "task=eligibility", "model=tiny_llama", "task.max_new_tokens=4", "data.synthetic.val_size=8"
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """name -> (run dir, its config, its metrics, what its tuned evaluation generated and, for
    eligibility, scored), each run trained on first use (in this process: seconds saved)."""
    made: dict = {}

    def get(name: str):
        if name not in made:
            tmp = tmp_path_factory.mktemp(name)
            cfg = compose_config(*SMALL, *RUNS[name], f"paths.cache_dir={tmp / 'cache'}")
            run_dir, tuned = tmp / "run", {}
            evaluate_tuned = GenerativeTask.evaluate_tuned

            def spy(task, model, data):
                metrics = evaluate_tuned(task, model, data)
                scores = getattr(task, "scores", {}).get("tuned")  # eligibility's, computed before
                tuned.update(outputs=list(task.outputs["tuned"]), scores=scores and list(scores["eval"]))
                return metrics

            write_resolved_config(cfg, run_dir)  # as python -m src.train does before training
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(GenerativeTask, "evaluate_tuned", spy)
                made[name] = (run_dir, cfg, train(cfg, run_dir), tuned)
        return made[name]

    return get


def evaluation_file(cfg, meta: dict, path: Path) -> tuple[Path, list[dict]]:
    """The run's evaluation rows, written with the run's column names (no references)."""
    rows = make_task(cfg).read_rows().eval
    columns, id_column = meta["data"]["columns"], meta["data"]["id_column"]
    write_jsonl(path, [{id_column: row["id"], **{columns[f]: row[f] for f in columns}} for row in rows])
    return path, rows


def predict_rows(run: Path, inputs: Path, output: Path, batch_size: int) -> list[dict]:
    predict.main(
        [f"run={run}", f"input={inputs}", f"output={output}", f"batch_size={batch_size}", "device=cpu"]
    )
    return [json.loads(line) for line in output.read_text().splitlines()]


def scored(cfg, meta: dict, rows: list[dict], predictions: list[dict]) -> dict:
    """The task's metrics of the predictions, as the run computed its tuned ones."""
    task = make_task(cfg)
    if "decision" in predictions[0]:  # generative eligibility: the generated decisions and the score's
        decided = task.score(rows, [p["generated"] for p in predictions])
        labels = [row["label"] for row in rows]
        scores = [p["score"] for p in predictions]
        ranked = screening_metrics(scores, labels, meta["threshold"], cfg.task.target_recall)
        return {**ranked, **decided}
    return task.score(rows, [p[task.output_key] for p in predictions])


@pytest.mark.parametrize("name", RUNS)
def test_predicting_the_evaluation_split_gives_the_tuned_metrics_and_the_export_the_same(
    runs, name, tmp_path, caplog
):
    run_dir, cfg, metrics, tuned = runs(name)
    meta = json.loads((run_dir / "adapter" / "medtune.json").read_text())
    inputs, rows = evaluation_file(cfg, read_meta(run_dir), tmp_path / "eval.jsonl")
    # Batches as the run's evaluation made them: padding alone can change a float's last bits.
    batch_size = cfg.loop.eval_batch_size
    predictions = predict_rows(run_dir, inputs, tmp_path / "predicted.jsonl", batch_size)
    assert [p["id"] for p in predictions] == [row["id"] for row in rows]
    if name == "discharge-llama":  # every note cut, and said so
        assert f"{len(rows)} of {len(rows)} inputs are longer than the model reads" in caplog.text
    assert scored(cfg, meta, rows, predictions) == pytest.approx(metrics["tuned"], rel=0, abs=0, nan_ok=True)
    # the very outputs (and eligibility scores) of the run's evaluation, whatever their metrics
    assert [p[make_task(cfg).output_key] for p in predictions] == tuned["outputs"]
    if tuned["scores"] is not None:
        assert [p["score"] for p in predictions] == tuned["scores"]
        positive = [p["score"] >= meta["threshold"] for p in predictions]
        assert [p["decision"] == "eligible" for p in predictions] == positive

    out = tmp_path / "export"
    export.main([f"run={run_dir}", f"out={out}"])
    assert predict_rows(out, inputs, tmp_path / "exported.jsonl", batch_size) == predictions


@pytest.mark.parametrize("name", ["discharge-llama", "radiology-t5"])
def test_the_export_loads_with_plain_transformers_and_a_causal_one_carries_its_adapter(runs, name, tmp_path):
    import peft
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    run_dir, cfg, _, _ = runs(name)
    out = tmp_path / "export"
    export.main([f"run={run_dir}", f"out={out}"])
    assert (out / "model.safetensors").is_file() and not list(out.rglob("*.bin"))
    meta = json.loads((out / "medtune.json").read_text())
    assert meta["exported_from"] == str(run_dir.resolve()) and meta["config"]["task"]["name"] == cfg.task.name
    loader = AutoModelForCausalLM if cfg.model.family == "causal_lm" else AutoModelForSeq2SeqLM
    merged = loader.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    ids = tokenizer("no acute findings", return_tensors="pt")["input_ids"]
    if cfg.model.family == "seq2seq":
        assert not (out / "adapter").exists()
        generated = merged.generate(ids, max_new_tokens=4, do_sample=False)
        assert generated.shape[0] == 1
        return
    # adapter/ in peft's layout over the base model gives the merged model's logits
    assert sorted(p.name for p in (out / "adapter").iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
    ]
    assert any("lora_A" in key for key in load_file(out / "adapter" / "adapter_model.safetensors"))
    from src.models import build
    from src.models.generative import load_generative

    base = load_generative(cfg.model, build.load_tokenizer(cfg.model), cfg.seed)
    adapted = peft.PeftModel.from_pretrained(base, out / "adapter").eval()
    with torch.inference_mode():
        np.testing.assert_allclose(adapted(ids).logits, merged(ids).logits, atol=1e-5)


def test_a_quantized_run_is_refused_by_name(runs, tmp_path):
    import shutil

    from omegaconf import OmegaConf

    from src.errors import MedtuneError

    run_dir, _, _, _ = runs("coding-llama")
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    resolved = copy / ".hydra" / "resolved.yaml"
    cfg = OmegaConf.load(resolved)
    cfg.model.quantization = "4bit"
    OmegaConf.save(cfg, resolved)
    with pytest.raises(MedtuneError, match="model.quantization=4bit base .QLoRA.*do not serve it"):
        read_meta(copy)
