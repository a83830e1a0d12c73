"""The reference implementations bench.compare measures medtune's training against.

    python -m bench.baselines plain|hf_trainer|seq2seq_trainer RESULT.json [config overrides...]

Each trains the model medtune builds for the config (same peft model, data, batch size, epochs,
learning-rate schedule, gradient clipping, the task's loss, one validation pass per epoch) and
scores it with the task's own evaluation, so its metric is comparable with medtune's:

- plain: a hand-written PyTorch loop over the same batches medtune trains on (same loader,
  same cached lower-layer features when the config caches them): the overhead floor. It first
  evaluates the base model, untimed, as medtune does, which leaves it the validation notes'
  lower-layer features that medtune's training reuses.
- hf_trainer: Hugging Face `Trainer` as a user would set it up for this model: its default
  random sampler and the task's collate, the whole encoder run at every step (coding notes,
  eligibility's criterion sequences).
- seq2seq_trainer: `Seq2SeqTrainer` the same way for a generative task (summaries), its
  validation also generating greedily as medtune's does (plain `model.generate`).

Each runs in its own process (bench.compare starts it), so its peak memory is its own.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import torch
from transformers import get_linear_schedule_with_warmup

from src.config import compose_config, validate
from src.tasks import make_task
from src.train import quiet_libraries
from src.training.module import TaskDataModule
from src.training.resumable_loader import padding_counts


class PaddingCounter:
    """Wraps a collate function and counts the real and padded tokens of the batches it makes."""

    def __init__(self, collate):
        self.collate, self.real, self.padded = collate, 0, 0

    def __call__(self, rows: list[dict]) -> dict:
        batch = self.collate(rows)
        real, padded = padding_counts(batch["attention_mask"])
        self.real, self.padded = self.real + real, self.padded + padded
        return batch


def plain_loop(task, data, model, cfg) -> tuple[int, int]:
    """AdamW on the trainable parameters, linear warmup and decay, clipping: as FineTuneModule.
    Returns the (real, padded) tokens of the training batches."""
    train_set, val_set = task.training_sets(model, data)
    loaders = TaskDataModule(train_set, val_set, task, cfg.loop, cfg.seed)
    train, val = loaders.train_dataloader(), loaders.val_dataloader()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.loop.lr, weight_decay=cfg.loop.weight_decay)
    total = math.ceil(len(train_set) / cfg.loop.batch_size) * cfg.trainer.max_epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.loop.warmup_ratio * total), total)
    real = padded = 0
    for epoch in range(cfg.trainer.max_epochs):
        train.sampler.set_epoch(epoch)
        model.train()
        for batch in train:
            r, p = padding_counts(batch["attention_mask"])
            real, padded = real + r, padded + p
            loss, _ = task.step(model, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.trainer.gradient_clip_val)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        model.eval()
        with torch.no_grad():
            for batch in val:
                task.step(model, batch)
    return real, padded


def training_arguments(cfg) -> dict:
    """The Trainer arguments of medtune's settings: batch sizes, epochs, optimiser, schedule,
    clipping, one validation pass (loss) per epoch, nothing saved or logged."""
    return {
        "per_device_train_batch_size": cfg.loop.batch_size,
        "per_device_eval_batch_size": cfg.loop.eval_batch_size,
        "num_train_epochs": cfg.trainer.max_epochs,
        "learning_rate": cfg.loop.lr,
        "weight_decay": cfg.loop.weight_decay,
        "warmup_steps": cfg.loop.warmup_ratio,  # a float below 1 is a ratio of the total steps
        "max_grad_norm": cfg.trainer.gradient_clip_val,
        "eval_strategy": "epoch",
        "prediction_loss_only": True,
        "label_names": ["labels"],
        "save_strategy": "no",
        "report_to": "none",
        "logging_strategy": "no",
        "disable_tqdm": True,
        "remove_unused_columns": False,  # the task's collate reads its own columns (chunks, prompt ids)
        "use_cpu": cfg.trainer.accelerator == "cpu",
        "seed": cfg.seed,
    }


def train_with(
    trainer_class, args_class, task, data, model, cfg, out_dir: Path, callbacks=()
) -> tuple[int, int]:
    """Trains with a transformers Trainer class computing the task's loss (its step, as medtune
    does) on its random batches; returns the (real, padded) tokens of the training batches."""

    class TaskTrainer(trainer_class):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss, outputs = task.step(model, inputs)
            return (loss, outputs) if return_outputs else loss

    counter = PaddingCounter(task.collate)
    trainer = TaskTrainer(
        model=model,
        args=args_class(output_dir=str(out_dir), **training_arguments(cfg)),
        train_dataset=data.train,
        eval_dataset=data.val,
        data_collator=counter,
        callbacks=list(callbacks),
    )
    trainer.train()
    # The counter saw the validation batches too (one pass per epoch, in a fixed order): less them.
    val = PaddingCounter(task.collate)
    rows = list(data.val)
    for start in range(0, len(rows), cfg.loop.eval_batch_size):
        val(rows[start : start + cfg.loop.eval_batch_size])
    epochs = cfg.trainer.max_epochs
    return counter.real - epochs * val.real, counter.padded - epochs * val.padded


def hf_trainer(task, data, model, cfg, out_dir: Path) -> tuple[int, int]:
    from transformers import Trainer, TrainingArguments

    return train_with(Trainer, TrainingArguments, task, data, model, cfg, out_dir)


def seq2seq_trainer(task, data, model, cfg, out_dir: Path) -> tuple[int, int]:
    """Seq2SeqTrainer on the task's prompt and completion ids. Each epoch's validation does what
    medtune's does: the loss over the validation slice, then greedy outputs of its first
    loop.val_generations examples (plain model.generate), scored by the task."""
    from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments, TrainerCallback

    from bench.decoding import plain_generate

    class ValGenerations(TrainerCallback):
        def on_evaluate(self, args, state, control, model=None, **kwargs):
            n = min(cfg.loop.val_generations, len(data.val))
            settings = (cfg.model.family, cfg.task.max_new_tokens, cfg.loop.eval_batch_size)
            outputs = plain_generate(model, task.tokenizer, list(data.val.select(range(n))), *settings)
            score = task.score(data.rows.val[:n], outputs)[cfg.task.main_metric]
            print(f"epoch {state.epoch:.0f}: val {cfg.task.main_metric} {score:.3f}", flush=True)

    callbacks = [ValGenerations()]
    return train_with(Seq2SeqTrainer, Seq2SeqTrainingArguments, task, data, model, cfg, out_dir, callbacks)


TRAINER_PEERS = {"hf_trainer": hf_trainer, "seq2seq_trainer": seq2seq_trainer}


def main(kind: str, result_file: Path, overrides: list[str]) -> None:
    quiet_libraries()
    cfg = validate(compose_config(overrides))
    torch.manual_seed(cfg.seed)
    task = make_task(cfg)
    data = task.load_data()
    if kind == "plain":
        task.evaluate_base(data)
    model = task.build_model(data)
    start = time.perf_counter()
    if kind == "plain":
        train_real, train_padded = plain_loop(task, data, model, cfg)
    else:
        train_real, train_padded = TRAINER_PEERS[kind](task, data, model, cfg, result_file.parent / kind)
    train_s = time.perf_counter() - start
    tuned = task.evaluate_tuned(model, data)
    result = {
        "train_s": train_s,
        "examples_per_s": len(data.train) * cfg.trainer.max_epochs / train_s,
        "tokens_per_s": train_real / train_s,
        "padding_efficiency": train_real / train_padded,
        "metric": tuned[cfg.task.main_metric],
    }
    result_file.write_text(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("plain", *TRAINER_PEERS):
        kinds = "|".join(("plain", *TRAINER_PEERS))
        sys.exit(f"usage: python -m bench.baselines {kinds} RESULT.json [overrides...]")
    main(sys.argv[1], Path(sys.argv[2]), sys.argv[3:])
