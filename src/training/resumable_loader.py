"""A training DataLoader that can stop mid-epoch and continue at the next unseen batch.

Each epoch's order is a pure function of (seed, epoch), so resuming needs no RNG state for
the shuffle: only the epoch and how many batches of it were consumed. Lightning saves that
position with the checkpoint (`state_dict`) and hands it back before the first batch of the
resumed run (`load_state_dict`), because the loader counts as `Stateful`.

With `lengths` (loop.group_by_length) the order is grouped by length, still a pure function
of (seed, epoch): batches hold examples of similar padded width, in a shuffled order.

With several processes (DDP) every rank draws the same order, cut into global batches of
batch_size * world_size examples, and takes its share of each: 2 processes with batch_size 8
train on the batches 1 process with batch_size 16 would (DDP averages the ranks' gradients).
Lightning's DistributedSampler is therefore off (use_distributed_sampler=False).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


def batches_per_epoch(size: int, batch_size: int, world_size: int = 1) -> int:
    """Batches each rank trains on per epoch: one per global batch, the last one partial."""
    return math.ceil(size / (batch_size * world_size))


class EpochShuffleSampler(Sampler[int]):
    """A fresh permutation per epoch, seeded by (seed, epoch); can start part-way through.

    rank / world_size: this process's share of each global batch (see the module docstring).
    """

    def __init__(self, size: int, seed: int, batch_size: int, rank: int = 0, world_size: int = 1):
        self.size, self.seed, self.batch_size = size, seed, batch_size
        self.rank, self.world_size = rank, world_size
        self.global_batch = batch_size * world_size
        self.epoch = 0
        self.first_batch = 0  # batches of this epoch skipped by the current iteration
        self._resume_at: tuple[int, int] | None = None

    def set_epoch(self, epoch: int) -> None:  # called by Lightning before each epoch
        self.epoch = epoch

    def resume_at(self, epoch: int, batches_done: int) -> None:
        self._resume_at = (epoch, batches_done)

    def __len__(self) -> int:
        full, rest = divmod(self.size, self.global_batch)
        return full * self.batch_size + (len(self.share(torch.arange(rest))) if rest else 0)

    def __iter__(self) -> Iterator[int]:
        # Runs lazily at the first batch, i.e. after Lightning's set_epoch and load_state_dict.
        self.first_batch = 0
        if self._resume_at is not None and self._resume_at[0] == self.epoch:
            self.first_batch = self._resume_at[1]
        self._resume_at = None
        seed = int(np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)[0])
        order = self.order(torch.Generator().manual_seed(seed))
        if self.world_size > 1:
            order = torch.cat([self.share(batch) for batch in order.split(self.global_batch)])
        yield from order[self.first_batch * self.batch_size :].tolist()

    def order(self, generator: torch.Generator) -> torch.Tensor:
        """The whole epoch's indices; global batch b is order[b * global_batch : (b + 1) * global_batch]."""
        return torch.randperm(self.size, generator=generator)

    def share(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's part of a global batch: batch_size examples, or of a last, partial one an
        even split (sizes differ by one at most). A rank that would get none repeats the batch's
        first example, as DistributedSampler pads: every rank must take the same number of steps."""
        part = batch.tensor_split(self.world_size)[self.rank]
        return part if len(part) else batch[:1]


class LengthGroupedSampler(EpochShuffleSampler):
    """Batches of similar length in a random order (loop.group_by_length).

    Each epoch: the seeded permutation is cut into groups of global_batch * group_size examples,
    each group is sorted by length (longest first; stable, so ties keep the random order) and
    cut into global batches, and the full ones are shuffled with the same generator. A last,
    partial batch stays last, so global batch b is still order[b * global_batch:][:global_batch]
    and a resumed epoch skips exactly the batches it had trained on.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        seed: int,
        batch_size: int,
        group_size: int = 50,
        rank: int = 0,
        world_size: int = 1,
    ):
        super().__init__(len(lengths), seed, batch_size, rank, world_size)
        self.lengths = torch.as_tensor(np.asarray(lengths, dtype=np.int64))
        self.group_size = group_size

    def order(self, generator: torch.Generator) -> torch.Tensor:
        order = torch.randperm(self.size, generator=generator)
        span = self.global_batch * max(self.group_size, 1)
        grouped = []
        for start in range(0, self.size, span):
            group = order[start : start + span]
            keys = self.lengths[group]
            grouped.append(group[torch.sort(keys, descending=True, stable=True).indices])
        batches = list(torch.cat(grouped).split(self.global_batch)) if grouped else []
        tail = [batches.pop()] if batches and len(batches[-1]) < self.global_batch else []
        shuffled = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        return torch.cat(shuffled + tail) if batches or tail else order


class ResumableLoader(DataLoader):
    """Shuffled batches whose position (epoch, batches consumed) is saved in checkpoints.

    The count is taken where batches leave the loader: Lightning fetches a sized loader's
    batches one at a time (no prefetch), so at a checkpoint it equals the batches trained on.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        seed: int,
        lengths: Sequence[int] | None = None,
        group_size: int = 50,
        rank: int = 0,
        world_size: int = 1,
        **kwargs,
    ):
        """lengths: per-example sort keys (example_lengths()); given, batches are length-grouped.
        rank / world_size: this process's share of each global batch (several processes)."""
        if lengths is None:
            sampler = EpochShuffleSampler(len(dataset), seed, batch_size, rank, world_size)
        else:
            if len(lengths) != len(dataset):
                raise ValueError(f"{len(lengths)} lengths for {len(dataset)} examples")
            sampler = LengthGroupedSampler(lengths, seed, batch_size, group_size, rank, world_size)
        # Its own generator for worker seeds: drawing them from the global RNG at each epoch
        # start would shift the dropout masks of a resumed run against an uninterrupted one.
        generator = torch.Generator().manual_seed(seed)
        super().__init__(dataset, batch_size=batch_size, sampler=sampler, generator=generator, **kwargs)
        self.batches_done = 0

    def __iter__(self):
        for count, batch in enumerate(super().__iter__(), start=1):
            self.batches_done = self.sampler.first_batch + count
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.sampler.epoch, "batches_done": self.batches_done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.resume_at(state["epoch"], state["batches_done"])


def example_lengths(rows) -> list[int]:
    """Per example of a chunked dataset (a `chunks` column; prefix_cache.WithPrefix rows too),
    what collate_chunks pads it to: every chunk of a batch is padded to the batch's longest
    chunk, so an example's cost is its longest chunk (a pair, for eligibility: its tokens).
    Ties (e.g. every note of 2+ chunks has a full one) keep their random order: grouping them
    would save no padding, only make the batches less random. Generative examples carry their
    token count in a `length` column."""
    rows = getattr(rows, "rows", rows)  # WithPrefix: the tokenized rows it wraps
    if "length" in (rows.column_names if hasattr(rows, "column_names") else rows[0]):
        return list(rows["length"]) if not isinstance(rows, list) else [row["length"] for row in rows]
    column = rows["chunks"] if not isinstance(rows, list) else [row["chunks"] for row in rows]
    return [max((len(chunk) for chunk in chunks), default=0) for chunks in column]


def padding_counts(attention_mask: torch.Tensor) -> tuple[int, int]:
    """(real tokens, padded tokens) of a padded batch: padding efficiency is their ratio."""
    return int(attention_mask.sum()), attention_mask.numel()
