"""A training DataLoader that can stop mid-epoch and continue at the next unseen batch.

Each epoch's order is a pure function of (seed, epoch), so resuming needs no RNG state for
the shuffle: only the epoch and how many batches of it were consumed. Lightning saves that
position with the checkpoint (`state_dict`) and hands it back before the first batch of the
resumed run (`load_state_dict`), because the loader counts as `Stateful`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class EpochShuffleSampler(Sampler[int]):
    """A fresh permutation per epoch, seeded by (seed, epoch); can start part-way through."""

    def __init__(self, size: int, seed: int, batch_size: int):
        self.size, self.seed, self.batch_size = size, seed, batch_size
        self.epoch = 0
        self.first_batch = 0  # batches of this epoch skipped by the current iteration
        self._resume_at: tuple[int, int] | None = None

    def set_epoch(self, epoch: int) -> None:  # called by Lightning before each epoch
        self.epoch = epoch

    def resume_at(self, epoch: int, batches_done: int) -> None:
        self._resume_at = (epoch, batches_done)

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[int]:
        # Runs lazily at the first batch, i.e. after Lightning's set_epoch and load_state_dict.
        self.first_batch = 0
        if self._resume_at is not None and self._resume_at[0] == self.epoch:
            self.first_batch = self._resume_at[1]
        self._resume_at = None
        seed = int(np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)[0])
        order = torch.randperm(self.size, generator=torch.Generator().manual_seed(seed))
        yield from order[self.first_batch * self.batch_size :].tolist()


class ResumableLoader(DataLoader):
    """Shuffled batches whose position (epoch, batches consumed) is saved in checkpoints.

    The count is taken where batches leave the loader: Lightning fetches a sized loader's
    batches one at a time (no prefetch), so at a checkpoint it equals the batches trained on.
    """

    def __init__(self, dataset: Dataset, batch_size: int, seed: int, **kwargs):
        sampler = EpochShuffleSampler(len(dataset), seed, batch_size)
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
