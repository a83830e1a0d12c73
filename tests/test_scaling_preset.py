"""experiment=scaling runs whole for every task on the embedded data: each job's split is possible,
and the seeds draw their own nested subsets around one validation slice. Composition only, no
training."""

from __future__ import annotations

import itertools

import pytest
from conftest import ROOT
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser

from src.data.splits import train_val_indices

TASKS = sorted(path.stem for path in (ROOT / "conf" / "task").glob("*.yaml"))
SEEDS = (0, 1, 2)


def preset_jobs(task: str) -> list[dict]:
    """The job configs `python -m src.train -m experiment=scaling task=<task> seed=0,1,2` runs."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        sweep = f"seed={','.join(map(str, SEEDS))}"
        preset = compose("config", [f"task={task}", "experiment=scaling"], return_hydra_config=True)
        params = [f"{key}={value}" for key, value in preset.hydra.sweeper.params.items()] + [sweep]
        parsed = OverridesParser.create().parse_overrides(params)
        axes = [[f"{o.key_or_group}={v}" for v in o.sweep_string_iterator()] for o in parsed]
        return [
            compose("config", [f"task={task}", "experiment=scaling", *job])
            for job in itertools.product(*axes)
        ]


@pytest.mark.parametrize("task", TASKS)
def test_every_job_of_the_scaling_preset_has_a_possible_split(task):
    jobs = preset_jobs(task)
    assert len(jobs) == 4 * 4 * len(SEEDS)
    subsets: dict[tuple[int, int], set[int]] = {}
    vals = set()
    for cfg in jobs:
        data = cfg.data
        assert data.path is None  # the embedded data: its pool is synthetic.n_train notes
        val_size = data.val_size if data.val_size is not None else data.synthetic.val_size
        assert data.subset_seed == cfg.seed
        # Raises (as the run would) when the pool cannot hold train_size plus the validation slice.
        train, val = train_val_indices(
            data.synthetic.n_train, data.train_size, val_size, data.seed, data.subset_seed
        )
        assert len(train) == data.train_size and not set(train) & set(val)
        subsets[cfg.seed, data.train_size] = set(train)
        vals.add(tuple(val))
    assert len(vals) == 1, "every job must calibrate on the same validation slice"
    sizes = sorted({size for _, size in subsets})
    for seed in SEEDS:  # nested within a seed
        for small, large in itertools.pairwise(sizes):
            assert subsets[seed, small] < subsets[seed, large]
    assert subsets[0, sizes[0]] != subsets[1, sizes[0]] != subsets[2, sizes[0]]


def test_subset_seed_equal_to_seed_keeps_the_default_draw():
    """A default run (subset_seed null) and a scaling job of seed 0 train on the same notes."""
    assert train_val_indices(5100, 1000, 100, 0) == train_val_indices(5100, 1000, 100, 0, 0)
    assert train_val_indices(5100, 1000, 100, 0, 1)[1] == train_val_indices(5100, 1000, 100, 0)[1]
