"""The LightningModule and DataModule: generic over any Task."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import lightning as L
import torch
from datasets import Dataset
from omegaconf import DictConfig
from torch.utils.data import DataLoader
from transformers import get_linear_schedule_with_warmup

from src.console import console
from src.errors import MedtuneError
from src.models.efficiency import compile_encoder
from src.training.checkpoints import MARK, restore_rng_states, rng_states
from src.training.resumable_loader import ResumableLoader, batches_per_epoch, example_lengths, padding_counts

if TYPE_CHECKING:  # the task interface, for type hints only: training imports no task code
    from src.tasks.base import Task


class FineTuneModule(L.LightningModule):
    """Trains `model` with the task's loss: AdamW on trainable (LoRA + head) parameters only,
    linear warmup then linear decay, as loop_cfg (conf/loop/) says; loop.compile compiles the
    model's encoder in place."""

    def __init__(self, model: torch.nn.Module, task: Task, loop_cfg: DictConfig):
        super().__init__()
        if loop_cfg.compile:
            console.print(f"torch.compile: {compile_encoder(model)}")
        self.model = model
        self.task = task
        self.loop_cfg = loop_cfg
        self._val_outputs: list[dict] = []
        self.tokens_seen = 0  # real (non-pad) training tokens, for throughput
        self.batches_seen = self.examples_seen = 0  # this process's, this session
        # Per rank, gathered when training ends: {rank, batches, examples, tokens} (metrics.json).
        self.rank_counts: list[dict] = []
        self._epoch_start = (0.0, 0)  # (time, tokens_seen) when the epoch began
        # [real, padded] tokens of the training batches: the run's and at this epoch's start
        # (padding efficiency = real / padded; kept in checkpoints, so it covers a resumed run).
        self.padding = [0, 0]
        self._epoch_padding = (0, 0)
        # One entry per validation: {"epoch", "val/loss", "val/<metric>", ...} (metrics.json
        # "training"; kept in checkpoints, so a resumed run's curve is whole).
        self.curve: list[dict] = []
        # Checkpoints hold the trainable weights only; the frozen base comes from model.name_or_path.
        self.strict_loading = False

    def trainable_keys(self) -> set[str]:
        """State-dict keys of the trained weights; FSDP's wrappers are in parameter names but
        not in the (full) state dicts it writes."""
        names = (name for name, p in self.model.named_parameters() if p.requires_grad)
        return {f"model.{name}".replace("_fsdp_wrapped_module.", "") for name in names}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        trainable = self.trainable_keys()
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in trainable}
        checkpoint["rng_states"] = rng_states()
        checkpoint[MARK] = 1
        checkpoint["padding_tokens"] = list(self.padding)
        checkpoint["validation_curve"] = list(self.curve)

    # With ddp_spawn the training runs in child processes, and Lightning hands the main process
    # back only rank 0's state_dict: the counts travel in it (checkpoints leave them out, above).
    def get_extra_state(self) -> dict:
        return {"rank_counts": self.rank_counts, "padding": self.padding, "curve": self.curve}

    def set_extra_state(self, state: dict) -> None:
        self.rank_counts, self.padding, self.curve = state["rank_counts"], state["padding"], state["curve"]

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        missing = self.trainable_keys() - set(checkpoint["state_dict"])
        if missing:
            raise MedtuneError(
                f"the checkpoint lacks {len(missing)} trainable tensors (e.g. {sorted(missing)[0]}): it "
                "was written for another model or LoRA setup; start a fresh run"
            )
        restore_rng_states(checkpoint["rng_states"])
        self.padding = list(checkpoint.get("padding_tokens", [0, 0]))
        self.curve = list(checkpoint.get("validation_curve", []))

    def on_train_epoch_start(self) -> None:
        self._epoch_start = (time.perf_counter(), self.tokens_seen)
        self._epoch_padding = (self.padding[0], self.padding[1])

    def padding_efficiency(self, since: tuple[int, int] = (0, 0)) -> float | None:
        """Real / padded tokens of the training batches since `since` (default: the whole run)."""
        real, padded = self.padding[0] - since[0], self.padding[1] - since[1]
        return real / padded if padded else None

    def on_train_epoch_end(self) -> None:
        efficiency = self.padding_efficiency(self._epoch_padding)
        if efficiency is not None:
            self.log("train/padding_efficiency", efficiency, on_epoch=True, sync_dist=True)  # ranks' mean

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        real, padded = padding_counts(batch["attention_mask"])
        self.tokens_seen += real
        self.batches_seen += 1
        self.examples_seen += batch["labels"].shape[0]
        self.padding = [self.padding[0] + real, self.padding[1] + padded]
        loss, _ = self.task.step(self.model, batch)
        if not torch.isfinite(loss):
            # Stop at once: further steps only spread NaN through the adapter; nothing is saved.
            raise MedtuneError(
                f"training loss became {loss.item()} at epoch {self.current_epoch + 1}, step "
                f"{self.global_step + 1}; lower loop.lr (now {self.loop_cfg.lr}), keep "
                "trainer.gradient_clip_val set, and check the data. No adapter or metrics were written"
            )
        self.log(
            "train/loss",
            loss,
            prog_bar=True,
            on_step=True,
            on_epoch=True,
            batch_size=batch["labels"].shape[0],
            sync_dist=True,  # several processes: the mean over the global batch, not rank 0's share
        )
        return loss

    def on_train_end(self) -> None:
        # A collective (every rank calls it): rank 0 learns what each rank trained on.
        counts = torch.tensor([self.batches_seen, self.examples_seen, self.tokens_seen], device=self.device)
        gathered = self.all_gather(counts).reshape(-1, 3).tolist()
        self.rank_counts = [
            {"rank": r, "batches": b, "examples": e, "tokens": t} for r, (b, e, t) in enumerate(gathered)
        ]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        # Every rank scores the whole val set (its loader has no DistributedSampler), so its
        # loss and epoch_metrics are the run's, the same on every rank (sync_dist: a no-op mean).
        loss, outputs = self.task.step(self.model, batch)
        self.log("val/loss", loss, prog_bar=True, batch_size=batch["labels"].shape[0], sync_dist=True)
        self._val_outputs.append(outputs)

    def on_validation_epoch_end(self) -> None:
        if not self._val_outputs:
            return
        metrics = self.task.epoch_metrics(self.model, self._val_outputs)
        main = self.task.cfg.task.main_metric
        if main not in metrics:  # callbacks.best_epoch selects on it (and Lightning's error is vaguer)
            raise MedtuneError(
                f"{type(self.task).__name__}.epoch_metrics gave {sorted(metrics)}, without "
                f"task.main_metric={main}: it must score the validation slice on the main metric"
            )
        for name, value in metrics.items():
            self.log(f"val/{name}", value, prog_bar=True, sync_dist=True)
        self._val_outputs.clear()
        loss = self.trainer.callback_metrics.get("val/loss")
        if not self.trainer.sanity_checking:
            point = {"val/loss": float(loss)} if loss is not None else {}
            point |= {f"val/{name}": float(value) for name, value in metrics.items()}
            self.curve.append({"epoch": self.current_epoch + 1, **point})
        if self.trainer.is_global_zero and not self.trainer.sanity_checking:
            # One plain line per epoch: readable in log files, where progress bars are not.
            started, tokens = self._epoch_start
            rate = (self.tokens_seen - tokens) / max(time.perf_counter() - started, 1e-9)
            shown = ", ".join(f"val {k} {v:.3f}" for k, v in metrics.items())
            efficiency = self.padding_efficiency(self._epoch_padding)
            padding = f", padding efficiency {efficiency:.3f}" if efficiency is not None else ""
            console.print(
                f"epoch {self.current_epoch + 1}/{self.trainer.max_epochs}: val loss {float(loss):.4f}, "
                f"{shown}, {rate:.0f} training tokens/s{padding}"
            )

    def configure_optimizers(self):
        cfg, trainer = self.loop_cfg, self.trainer
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        # Counted here as Lightning's trainer.estimated_stepping_batches counts, which would build
        # the train loader before a checkpoint's loader position is restored, and a resumed epoch
        # would start over.
        batches = batches_per_epoch(len(trainer.datamodule.train), cfg.batch_size, trainer.world_size)
        total = math.ceil(batches / trainer.accumulate_grad_batches) * trainer.max_epochs
        if trainer.max_steps != -1:  # +trainer.max_steps=N
            total = min(total, trainer.max_steps)
        scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total), total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class TaskDataModule(L.LightningDataModule):
    """Shuffled, resumable training batches and ordered validation batches, batched by the task."""

    def __init__(self, train: Dataset, val: Dataset, task: Task, loop_cfg: DictConfig, seed: int):
        super().__init__()
        self.train, self.val, self.task, self.cfg, self.seed = train, val, task, loop_cfg, seed

    def train_dataloader(self) -> DataLoader:
        return ResumableLoader(
            self.train,
            batch_size=self.cfg.batch_size,
            seed=self.seed,
            lengths=example_lengths(self.train) if self.cfg.group_by_length else None,
            group_size=self.cfg.length_group_size,
            rank=self.trainer.global_rank if self.trainer else 0,
            world_size=self.trainer.world_size if self.trainer else 1,
            collate_fn=self.task.collate,
            num_workers=self.cfg.num_workers,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(
            self.val,
            batch_size=self.cfg.eval_batch_size,
            shuffle=False,
            collate_fn=self.task.collate,
            num_workers=self.cfg.num_workers,
        )
