"""python -m src.data.generate task=<coding|eligibility>: write the embedded synthetic data into the cache.

Training does this on first use; run it by hand to inspect the notes or pre-build a cache.
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig

from src.config import compose_config, validate
from src.console import console
from src.data.synthetic import GENERATORS, ensure_synthetic
from src.errors import MedtuneError, exit_on_user_error


def run(raw_cfg: DictConfig) -> None:
    cfg = validate(raw_cfg)
    if cfg.task.name not in GENERATORS:
        raise MedtuneError(f"no synthetic generator for task={cfg.task.name}; choose {', '.join(GENERATORS)}")
    synth = cfg.data.synthetic
    folder = ensure_synthetic(cfg.task.name, cfg.paths.cache_dir, synth.n_train, synth.n_eval, synth.seed)
    console.print(f"{cfg.task.name} data: {folder}")


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    # The compose API, not @hydra.main: generating data should not create a run directory.
    run(compose_config(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
