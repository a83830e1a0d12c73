"""python -m src.generate task=<name> [overrides]: write a task's embedded synthetic data into the cache.

Training does this on first use; run it by hand to inspect the notes or pre-build a cache. The
task names its generator (Task.synthetic), so any task that embeds data works here unchanged.
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig

from src.config import compose_config, validate
from src.console import console
from src.data.synthetic import ensure_synthetic
from src.errors import MedtuneError, exit_on_user_error
from src.paths import keep_private
from src.tasks import make_task


def run(raw_cfg: DictConfig) -> None:
    cfg = validate(raw_cfg)
    keep_private(cfg.paths.private, cfg.paths.cache_dir)
    source = make_task(cfg).synthetic()
    if source is None:
        raise MedtuneError(f"task={cfg.task.name} embeds no synthetic data; give your own with data.path")
    synth = cfg.data.synthetic
    folder = ensure_synthetic(source, cfg.paths.cache_dir, synth.n_train, synth.n_eval, synth.seed)
    console.print(f"{cfg.task.name} data: {folder}")


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    # The compose API, not @hydra.main: generating data should not create a run directory.
    run(compose_config(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
