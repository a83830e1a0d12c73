"""Deterministic, nested splits: the subset for train_size=500 lies inside the one for 1000.

One seeded permutation of the training pool (data.seed) decides everything. Its first entries
are the validation slice, which picks decision thresholds; the training subset is the next
`train_size` entries. Growing train_size only appends to the subset, and the validation slice
never changes with it: every job of a sweep calibrates on the same examples, so the base model is
the same. data.subset_seed, when set, reorders the entries after the validation slice: another
draw of nested training subsets (one per seed of experiment=scaling) with the same validation
slice and evaluation split.
"""

from __future__ import annotations

import numpy as np

from src.errors import MedtuneError

DEFAULT_VAL_SHARE = 0.1  # data.val_size=null on your own data: a tenth of the training pool


def permutation(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(n)


def carve_eval(n: int, eval_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(pool indices, eval indices) for a dataset that ships no separate evaluation file.

    Uses its own seed stream so the evaluation split never depends on train_size.
    """
    if not 0 < eval_fraction < 1:
        raise MedtuneError(f"data.eval_fraction must be in (0, 1), got {eval_fraction}")
    order = permutation(n, seed + 7919)
    n_eval = max(1, int(round(n * eval_fraction)))
    return np.sort(order[n_eval:]), np.sort(order[:n_eval])


def eval_subset(n: int, eval_size: int | None, seed: int) -> list[int]:
    """Indices (in file order) of a fixed evaluation subset; nested as eval_size grows."""
    if eval_size is None or eval_size >= n:
        return list(range(n))
    if eval_size < 1:
        raise MedtuneError(f"data.eval_size must be at least 1 (or null for all), got {eval_size}")
    return sorted(permutation(n, seed + 104729)[:eval_size].tolist())


def train_val_indices(
    pool_size: int, train_size: int | None, val_size: float, seed: int, subset_seed: int | None = None
) -> tuple[list[int], list[int]]:
    """(train indices, validation indices) into a pool of `pool_size` examples.

    val_size: a number of examples (>= 1) or a share of the pool (< 1). subset_seed: draws the
    training subset from the rest in its own order (None or seed: the permutation's own order).
    """
    if val_size <= 0:
        raise MedtuneError(f"data.val_size must be a count >= 1 or a share in (0, 1), got {val_size}")
    n_val = int(val_size) if val_size >= 1 else max(1, int(round(pool_size * val_size)))
    available = pool_size - n_val
    size = available if train_size is None else train_size
    if size > available:
        raise MedtuneError(
            f"data.train_size={size} but the training data holds only {pool_size} usable examples, "
            f"{n_val} of them the validation slice (data.val_size); lower data.train_size or "
            "data.val_size, or add data"
        )
    if size < 1:
        raise MedtuneError(f"data.train_size must be at least 1, got {size}")
    order = permutation(pool_size, seed)
    rest = order[n_val:]
    if subset_seed is not None and subset_seed != seed:
        rest = rest[permutation(len(rest), subset_seed)]
    return rest[:size].tolist(), order[:n_val].tolist()


def split_examples(
    pool: list[dict], eval_rows: list[dict] | None, files: dict[str, str], data_cfg
) -> tuple[list[dict], list[dict], list[dict], list[dict]]:
    """(pool, train, val, eval) by the rules every task shares.

    The evaluation split is the evaluation file's rows, or data.eval_fraction carved from the
    pool (independent of train_size), cut to a fixed data.eval_size subset (the embedded data's
    default: data.synthetic.eval_size); an id in both is leakage and an error; val and train
    come from train_val_indices (data.val_size; null: data.synthetic.val_size for the embedded
    data, a tenth of the pool for yours).
    """
    if eval_rows is None:
        pool_idx, eval_idx = carve_eval(len(pool), data_cfg.eval_fraction, data_cfg.seed)
        pool, eval_rows = [pool[i] for i in pool_idx], [pool[i] for i in eval_idx]
    eval_size = data_cfg.eval_size
    if eval_size is None and data_cfg.path is None:
        eval_size = data_cfg.synthetic.eval_size
    eval_rows = [eval_rows[i] for i in eval_subset(len(eval_rows), eval_size, data_cfg.seed)]
    shared = {row["id"] for row in pool} & {row["id"] for row in eval_rows}
    if shared:
        raise MedtuneError(
            f"{len(shared)} ids occur in both the training data ({files['train']}) and the evaluation "
            f"data ({files.get('eval', files['train'])}) (e.g. {sorted(shared)[0]!r}): remove them from "
            "one side to avoid leakage"
        )
    val_size = data_cfg.val_size
    if val_size is None:
        val_size = data_cfg.synthetic.val_size if data_cfg.path is None else DEFAULT_VAL_SHARE
    train_idx, val_idx = train_val_indices(
        len(pool), data_cfg.train_size, val_size, data_cfg.seed, data_cfg.subset_seed
    )
    return pool, [pool[i] for i in train_idx], [pool[i] for i in val_idx], eval_rows


def split_counts(pool: list, train: list, val: list, eval_rows: list) -> dict[str, int]:
    """The sizes every task's data stats start with (metrics.json "data", the model card)."""
    return {"pool_size": len(pool), "n_train": len(train), "n_val": len(val), "n_eval": len(eval_rows)}
