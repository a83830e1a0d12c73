"""Length-grouped training batches (loop.group_by_length) and their padding efficiency."""

from __future__ import annotations

import random

import pytest
import torch

from src.data.chunking import collate_chunks, even_windows
from src.models.prefix_cache import WithPrefix
from src.training.resumable_loader import (
    EpochShuffleSampler,
    LengthGroupedSampler,
    ResumableLoader,
    example_lengths,
    padding_counts,
)

BATCH = 8
WIDTH = 128  # model.max_length
OVERLAP = 8


def notes(n: int, seed: int = 0) -> list[dict]:
    """Skewed synthetic notes of 10-700 tokens, mostly short, chunked as chunk_texts does."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        tokens = min(700, int(rng.expovariate(1 / 150)) + 10)
        starts, width = even_windows(tokens, WIDTH - 2, OVERLAP)
        rows.append({"id": i, "chunks": [[5] * (width + 2) for _ in starts]})
    return rows


def batches(sampler, size: int = BATCH) -> list[list[int]]:
    order = list(sampler)
    return [order[i : i + size] for i in range(0, len(order), size)]


def efficiency(rows: list[dict], index_batches: list[list[int]]) -> float:
    real = padded = 0
    for indices in index_batches:
        batch = collate_chunks([rows[i] for i in indices], pad_token_id=0)
        r, p = padding_counts(batch["attention_mask"])
        real, padded = real + r, padded + p
    return real / padded


@pytest.mark.parametrize("size", [1, 7, 8, 403, 800, 805])
def test_every_index_once_per_epoch(size):
    lengths = [random.Random(size).randint(1, 500) for _ in range(size)]
    sampler = LengthGroupedSampler(lengths, seed=3, batch_size=BATCH, group_size=4)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        order = list(sampler)
        assert sorted(order) == list(range(size))
        # every batch but the last is full, so the loader's cuts are the sampler's batches
        assert all(len(b) == BATCH for b in batches(sampler)[:-1])


def test_order_is_a_function_of_seed_and_epoch():
    lengths = example_lengths(notes(500))

    def order(seed: int, epoch: int) -> list[int]:
        sampler = LengthGroupedSampler(lengths, seed=seed, batch_size=BATCH, group_size=5)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert order(0, 1) == order(0, 1)
    assert order(0, 1) != order(0, 2)
    assert order(0, 1) != order(1, 1)
    # the batches themselves are shuffled: not sorted by length across the epoch
    keys = [max(lengths[i] for i in b) for b in batches(iter(order(0, 1)))]
    assert keys != sorted(keys, reverse=True) and keys != sorted(keys)


@pytest.mark.parametrize("done", [0, 1, 17, 62, 63])
def test_resume_continues_with_the_uninterrupted_batches(done):
    rows = notes(500)  # 63 batches, the last one partial
    sampler = LengthGroupedSampler(example_lengths(rows), seed=7, batch_size=BATCH)
    sampler.set_epoch(2)
    full = batches(sampler)
    resumed = LengthGroupedSampler(example_lengths(rows), seed=7, batch_size=BATCH)
    resumed.set_epoch(2)
    resumed.resume_at(2, done)
    assert batches(resumed) == full[done:]
    assert resumed.first_batch == done


def test_loader_resumes_mid_epoch_with_the_same_batches():
    rows = notes(100)

    def loader() -> ResumableLoader:
        return ResumableLoader(
            rows,
            BATCH,
            seed=1,
            lengths=example_lengths(rows),
            group_size=3,
            collate_fn=lambda b: [r["id"] for r in b],
        )

    first = loader()
    first.sampler.set_epoch(1)
    uninterrupted = list(first)
    stopped = loader()
    stopped.sampler.set_epoch(1)
    seen = []
    for batch in stopped:
        seen.append(batch)
        if len(seen) == 5:
            break
    state = stopped.state_dict()
    assert state == {"epoch": 1, "batches_done": 5}
    again = loader()
    again.load_state_dict(state)
    again.sampler.set_epoch(1)
    assert seen + list(again) == uninterrupted
    assert again.batches_done == len(uninterrupted)


def pairs(n: int, seed: int = 0) -> list[dict]:
    """Eligibility-like rows: one chunk each, of 20-512 tokens, mostly short."""
    rng = random.Random(seed)
    return [{"chunks": [[5] * min(512, int(rng.expovariate(1 / 120)) + 20)]} for _ in range(n)]


@pytest.mark.parametrize(
    "rows, plain_below, grouped_above",
    [
        (notes(800), 0.8, 0.95),
        (pairs(800), 0.6, 0.95),
    ],
    ids=["notes", "pairs"],
)
def test_grouping_raises_padding_efficiency_on_skewed_lengths(rows, plain_below, grouped_above):
    random_order = EpochShuffleSampler(len(rows), seed=0, batch_size=BATCH)
    grouped = LengthGroupedSampler(example_lengths(rows), seed=0, batch_size=BATCH)
    plain, packed = efficiency(rows, batches(random_order)), efficiency(rows, batches(grouped))
    assert plain < plain_below
    assert packed >= grouped_above


def test_lengths_follow_the_padded_width_and_see_through_cached_features():
    rows = [
        {"chunks": [[1] * 128, [1] * 20]},  # widest chunk 128
        {"chunks": [[1] * 90]},
        {"chunks": [[1] * 128]},
        {"chunks": [[1] * 30]},
    ]
    keys = example_lengths(rows)
    assert keys == [128, 90, 128, 30]  # the widest chunk: what the batch is padded to
    cached = WithPrefix(rows, [[torch.zeros(len(c), 4) for c in row["chunks"]] for row in rows])
    assert example_lengths(cached) == keys


def test_padding_efficiency_of_a_hand_counted_batch():
    rows = [{"chunks": [[1] * 4, [1] * 2]}, {"chunks": [[1] * 3]}]
    batch = collate_chunks(rows, pad_token_id=0)
    assert batch["attention_mask"].shape == (3, 4)
    assert padding_counts(batch["attention_mask"]) == (9, 12)  # 4 + 2 + 3 real of 3 x 4


def test_module_accumulates_padding_efficiency_per_epoch_and_run():
    from src.training.module import FineTuneModule

    module = FineTuneModule.__new__(FineTuneModule)  # no model: only the token counters
    torch.nn.Module.__init__(module)
    module.padding, module._epoch_padding = [0, 0], (0, 0)
    module.tokens_seen = 0
    assert module.padding_efficiency() is None
    for mask in (torch.tensor([[1, 1, 0, 0]]), torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])):
        real, padded = padding_counts(mask)
        module.padding = [module.padding[0] + real, module.padding[1] + padded]
    assert module.padding_efficiency() == pytest.approx(9 / 12)
    assert module.padding_efficiency(since=(2, 4)) == pytest.approx(7 / 8)
