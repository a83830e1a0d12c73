"""python -m src.train [task=coding] [overrides...]: train one LoRA adapter, compare to base.

Stages (each reads only what the one before hands on): validated config -> task data ->
base-model evaluation -> peft model -> Lightning fit -> tuned evaluation -> run directory
(.hydra/, adapter/, metrics.json) and logger summary. In a multi-process run (trainer=ddp),
ranks > 0 load the data, build the model and train; the rest is rank 0's (src/ranks.py).
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
import warnings
from pathlib import Path

import hydra
import lightning as L
import torch
import transformers
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from src import base_once
from src.config import instantiate_with, validate
from src.console import console, print_config, print_metric_lines, print_results
from src.errors import MedtuneError, RunInterrupted, exit_on_user_error
from src.manifest import build_manifest, now, seal
from src.model_card import render as render_model_card
from src.paths import CONF_DIR
from src.preflight import preflight
from src.ranks import is_rank_zero
from src.run_dir import (
    clear_results,
    existing_results,
    finished,
    sweep_dir,
    write_json,
    write_resolved_config,
)
from src.tasks import make_task
from src.training.checkpoints import (
    Checkpointer,
    check_checkpoint,
    checkpoint_path,
    load_best_epoch,
    remove_checkpoints,
    resolve_resume,
    resumable,
    save_config_copy,
)
from src.training.distributed import build_strategy, check_sweep_strategy, whole_model
from src.training.flops import StepFlops
from src.training.loggers import (
    build_logger,
    close,
    log_artefact_lineage,
    log_examples,
    log_summary,
    summary_key,
)
from src.training.module import FineTuneModule, TaskDataModule

log = logging.getLogger("medtune")
EXAMPLES_LOGGED = 20  # evaluation examples in the W&B table when logger.log_examples=true


def quiet_libraries() -> None:
    """Keep a normal run's output to progress bars and results, not library chatter."""
    for pattern in (
        ".*does not have many workers.*",
        ".*The number of training batches.*",
        ".*LeafSpec.*",
        ".*tensorboardX.*",
        ".*all_gather is deprecated.*",  # Lightning's own all_gather, torch 2.13
        ".*Checkpoint directory .* exists and is not empty.*",  # best.ckpt beside last.ckpt
    ):
        warnings.filterwarnings("ignore", message=pattern)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def train(cfg: DictConfig, run_dir: Path, resume: bool = False) -> dict | None:
    """Runs every stage and returns the metrics written to run_dir/metrics.json; None on ranks > 0,
    which stop after training.

    resume: continue training from run_dir's checkpoint (data, base evaluation and model are
    rebuilt as before; the checkpoint supplies weights, optimizer, position and RNG).
    """
    lead = is_rank_zero()
    started_at = now()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    if cfg.loop.num_threads:
        torch.set_num_threads(cfg.loop.num_threads)
    task = make_task(cfg)
    preflight(cfg, task, run_dir)
    timing: dict[str, float] = {}

    start = time.perf_counter()
    data = task.load_data()
    timing["data_s"] = time.perf_counter() - start
    console.print(f"data: {data.rows.stats} tokenization cache reused: {data.tokenization['reused_cache']}")

    start = time.perf_counter()
    base_dir = task.base_cache_dir() or (sweep_dir() / "base" if sweep_dir() else None)
    base, base_file = base_once.evaluate_base(task, cfg, data, base_dir) if lead else ({}, None)
    timing["base_eval_s"] = time.perf_counter() - start
    if base_file:
        console.print(f"base model: evaluated by an earlier run, read from {base_file}")

    # Whether this job evaluated the base model or read it back (a sweep's later jobs, a generative
    # task's later runs), training starts from the same random state: same initial weights.
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    model = task.build_model(data)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    console.print(f"model: {trainable:,} trainable of {total:,} parameters ({100 * trainable / total:.2f}%)")

    logger = build_logger(cfg, run_dir) if lead else None  # one W&B run per job
    checkpointer, callbacks = build_callbacks(cfg, run_dir)
    try:
        module = FineTuneModule(model, task, cfg.loop)
        # The checkpoint last: its saves hold what the other callbacks decided at the same hook.
        flops = StepFlops()
        trainer = build_trainer(cfg, run_dir, model, logger, [*callbacks, flops, checkpointer])
        start = time.perf_counter()
        train_set, val_set = task.training_sets(model, data)
        datamodule = TaskDataModule(train_set, val_set, task, cfg.loop, cfg.seed)
        fit(trainer, module, datamodule, checkpointer, checkpointer.path if resume else None)
        model = whole_model(trainer, task, data, model)
        if not lead:
            return None
        best_epoch = load_best_epoch(callbacks, model)  # the shipped adapter: the best epoch's
        timing["train_s"] = time.perf_counter() - start
        timing["train_tokens_per_s"] = sum(r["tokens"] for r in module.rank_counts) / timing["train_s"]
        timing["padding_efficiency"] = module.padding_efficiency()  # rank 0's batches
        per_step = cfg.loop.batch_size * trainer.accumulate_grad_batches
        timing["effective_batch_size"] = per_step * trainer.world_size  # examples per optimizer step
        bf16 = str(trainer.precision).startswith("bf16")
        timing["flops"] = flops_report(flops, model, timing["train_s"], bf16)

        start = time.perf_counter()
        tuned = task.evaluate_tuned(model, data)
        timing["tuned_eval_s"] = time.perf_counter() - start
        start = time.perf_counter()
        reference = task.evaluate_reference(data)  # a naive rule, no model: seconds
        timing["reference_eval_s"] = time.perf_counter() - start
        reports = task.write_reports(data, run_dir)  # e.g. coding's errors and review queue

        metrics = {
            "task": cfg.task.name,
            "run_name": cfg.run_name,
            "main_metric": cfg.task.main_metric,
            "base": base,
            "tuned": tuned,
            "delta": task.delta(base, tuned),
            "reference": reference,
            **reports,
            "base_reused_from": str(base_file) if base_file else None,
            "validation": task.validation,
            "intervals": task.intervals(data),
            "training": {
                "best_epoch": best_epoch,  # null: the last epoch's weights (no callbacks.best_epoch)
                "selected_on": OmegaConf.select(cfg, "callbacks.best_epoch.monitor"),
                "epochs_trained": trainer.current_epoch,
                "curve": module.curve,  # per epoch: validation loss and metrics
            },
            "data": data.rows.stats,
            "timing": timing,
            "ranks": module.rank_counts,  # what each training process trained on, this session
            "resumed_at_step": checkpointer.start_step if resume else None,
        }
        task.save_adapter(model, data, run_dir / "adapter")
        write_json(run_dir / "metrics.json", metrics)
        manifest = build_manifest(cfg, run_dir, task.lineage(data), metrics, started_at)
        (run_dir / "MODEL_CARD.md").write_text(render_model_card(manifest, task.card(manifest)))
        if not checkpointer.keep:  # the adapter is the result; checkpoints only served resuming
            remove_checkpoints(cfg, run_dir)
        manifest = seal(run_dir, manifest)  # last: it hashes every file written above
        log_artefact_lineage(logger, run_dir, manifest)
        summary = {
            summary_key(part, key): value
            for part, values in (
                *[(p, metrics[p]) for p in ("base", "tuned", "delta")],
                ("reference", reference["metrics"]),
            )
            for key, value in values.items()
        }
        log_summary(logger, summary)
        if cfg.logger.get("log_examples"):  # the user's explicit opt-in: note text leaves the run dir
            log_examples(logger, task.examples(data, EXAMPLES_LOGGED))
    finally:
        close(logger)
    return metrics


def flops_report(flops: StepFlops, model: torch.nn.Module, train_s: float, bf16: bool) -> dict | None:
    """timing.flops (training against this machine's matmul limit). A measurement only: if it
    fails, the run's results are still written, with the reason logged and the block null."""
    try:
        return flops.report(model, train_s, bf16)
    except Exception as err:  # noqa: BLE001 - never lose a trained run to its throughput figure
        log.warning("timing.flops not measured: %s: %s", type(err).__name__, err)
        return None


def build_callbacks(cfg: DictConfig, run_dir: Path) -> tuple[Checkpointer, list[L.Callback]]:
    """Every entry of cfg.callbacks: the checkpoint (always there), told where to write, and the
    others (+callbacks=early_stopping, ...) as configured."""
    path = checkpoint_path(cfg, run_dir)  # paths.checkpoint_dir's, or the run dir's
    checkpointer = instantiate_with(cfg.callbacks.checkpoint, run_dir=run_dir, path=path)
    # The best epoch's weights go beside the resumable checkpoint, and are removed with it.
    where = {"best_epoch": {"dirpath": path.parent}}
    others = [
        instantiate_with(node, **where.get(name, {}))
        for name, node in cfg.callbacks.items()
        if name != "checkpoint"
    ]
    return checkpointer, others


def build_trainer(
    cfg: DictConfig, run_dir: Path, model: torch.nn.Module, logger: Logger | None, callbacks: list[L.Callback]
) -> L.Trainer:
    """Lightning's Trainer from cfg.trainer (its arguments, +trainer.<name> included) and what only
    the code has. use_distributed_sampler and enable_checkpointing are set here, not left to the
    config (validate refuses them there): no other value of theirs works with medtune."""
    return instantiate_with(
        cfg.trainer,
        strategy=build_strategy(cfg, model),  # fsdp: sharded by this model's layer classes
        logger=logger if logger is not None else False,  # None would make Lightning add its own
        callbacks=callbacks,
        default_root_dir=run_dir,
        use_distributed_sampler=False,  # ResumableLoader shards the batches itself
        # Lightning's own checkpointing only as callbacks.best_epoch (it would add a default one);
        # callbacks.checkpoint writes the resumable checkpoint.
        enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in callbacks),
    )


def fit(trainer: L.Trainer, module, datamodule, checkpointer: Checkpointer, ckpt_path: Path | None) -> None:
    """trainer.fit, with SIGTERM and a diverging loss turned into messages that say what was kept."""
    if ckpt_path:
        check_checkpoint(ckpt_path)
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except SIGTERMException:
        raise RunInterrupted(
            f"stopped by SIGTERM at step {trainer.global_step}; the checkpoint {checkpointer.path} "
            f"(step {checkpointer.saved_step}) is kept. Continue with the same command plus "
            f"resume={checkpointer.run_dir}"
        ) from None
    except MedtuneError as err:
        if checkpointer.path.exists():
            raise MedtuneError(f"{err}; the last good checkpoint is kept: {checkpointer.path}") from None
        raise


@exit_on_user_error
def run(raw_cfg: DictConfig) -> dict:
    return execute(raw_cfg)


def execute(raw_cfg: DictConfig, sweep: bool = False) -> dict:
    """One run; `sweep`: a job of a Hydra multirun, which skips itself when an earlier run of
    the same sweep finished it and continues from its checkpoint when one was interrupted.
    Ranks > 0 of a multi-process run make the same checks (failing with rank 0) but write nothing
    and return {}."""
    quiet_libraries()
    cfg = validate(raw_cfg)
    lead = is_rank_zero()
    console.quiet = not lead  # one copy of every message
    print_config(cfg)
    if sweep:
        check_sweep_strategy(cfg.trainer)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    if sweep and finished(run_dir):
        console.print(f"skipping {run_dir}: finished by an earlier run of this sweep")
        return json.loads((run_dir / "metrics.json").read_text())
    if sweep and cfg.paths.checkpoint_dir:
        raise MedtuneError("paths.checkpoint_dir is a single folder, which the jobs of a sweep cannot share")
    if sweep and lead and existing_results(run_dir):
        # Killed while writing its results (status.json comes last): they are incomplete; redo them.
        console.print(f"{run_dir}: an earlier attempt stopped while writing results; writing them again")
        clear_results(run_dir)
    resume_dir = resolve_resume(cfg, run_dir)
    if resume_dir is None and sweep and resumable(run_dir):
        resume_dir = resolve_resume(OmegaConf.merge(cfg, {"resume": str(run_dir)}), run_dir)
    if resume_dir is None:
        if existing_results(run_dir):
            raise MedtuneError(f"{run_dir} already holds results; choose another output dir")
        if checkpoint_path(cfg, run_dir).exists():
            raise MedtuneError(
                f"{run_dir} holds the checkpoint of an unfinished run ({checkpoint_path(cfg, run_dir)}); "
                "continue it with resume=auto, or choose another hydra.run.dir"
            )
        if lead:
            write_resolved_config(cfg, run_dir)
            save_config_copy(cfg, run_dir)
    else:
        console.print(f"resuming {resume_dir} from {checkpoint_path(cfg, resume_dir)}")
        run_dir = resume_dir
        # A fresh dir beside paths.checkpoint_dir
        if lead and not (run_dir / ".hydra" / "resolved.yaml").exists():
            write_resolved_config(cfg, run_dir)
    start = time.perf_counter()
    metrics = train(cfg, run_dir, resume=resume_dir is not None)
    if metrics is None:  # a rank > 0: rank 0 writes and reports
        return {}
    wall = time.perf_counter() - start
    write_json(run_dir / "status.json", {"status": "complete", "wall_s": round(wall, 1)})
    print_results(f"{cfg.run_name}: {cfg.task.name} on the evaluation split", metrics)
    print_metric_lines(metrics)
    console.print(
        f"run dir: {run_dir}  (wall time {wall:.0f} s, "
        f"training {metrics['timing']['train_tokens_per_s']:.0f} tokens/s)"
    )
    flops = metrics["timing"].get("flops")
    if flops and flops["step_fraction_of_gemm"] is not None:
        console.print(
            f"training FLOPs: {flops['step_flop_per_s'] / 1e9:.1f} GFLOP/s in steps, "
            f"{flops['run_flop_per_s'] / 1e9:.1f} GFLOP/s over the training time; this machine's matmul "
            f"limit at the model's shapes: {flops['gemm_flop_per_s'] / 1e9:.1f} GFLOP/s "
            f"({flops['step_fraction_of_gemm']:.0%} / {flops['run_fraction_of_gemm']:.0%} of it)"
        )
    return metrics


def sweep_job(cfg: DictConfig) -> float:
    """A job of a sweep: its failure is recorded in its status.json and printed, and the sweep
    goes on with the next job (a SIGTERM still stops the whole sweep)."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        metrics = execute(cfg, sweep=True)
    except RunInterrupted as err:
        print(f"medtune: error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except Exception as err:  # a bad setting, out of memory, a library error: this job only
        message = str(err) if isinstance(err, MedtuneError) else f"{type(err).__name__}: {err}"
        if is_rank_zero():
            run_dir.mkdir(parents=True, exist_ok=True)
            write_json(run_dir / "status.json", {"status": "failed", "error": message})
        print(f"medtune: job {run_dir.name} failed: {message}", file=sys.stderr)
        return failed_value()
    if not metrics:  # a rank > 0 (SLURM starts every rank of a job): rank 0 reports the value
        return float("nan")
    # The validation slice, not the evaluation split: a search selects on this value.
    value = metrics.get("validation", {}).get(metrics["main_metric"], float("nan"))
    return value if math.isfinite(value) else failed_value()


def failed_value() -> float:
    """What a failed job hands its sweeper: NaN for Hydra's basic one, which ignores it; the
    worst value for Optuna's, which refuses NaN by stopping the whole study."""
    sweeper = HydraConfig.get().sweeper
    if "optuna" not in str(sweeper.get("_target_", "")):
        return float("nan")
    return float("-inf") if str(sweeper.direction) == "maximize" else float("inf")


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> float:
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        return sweep_job(cfg)
    metrics = run(cfg)
    return metrics["tuned"][metrics["main_metric"]] if metrics else float("nan")  # {}: a rank > 0


if __name__ == "__main__":
    # Call main through the importable module, not __main__: parallel launchers (joblib, submitit)
    # pickle the task function, which works by reference only for an importable one.
    from src.train import main as importable_main

    importable_main()
