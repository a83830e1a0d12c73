"""python -m src.data.generate task=coding: write the embedded synthetic data into the cache.

Training does this on first use; run it by hand to inspect the notes or pre-build a cache.
"""

from __future__ import annotations

import sys

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from src.config import validate
from src.console import console
from src.data.synthetic import ensure_synthetic_coding
from src.errors import MedtuneError, exit_on_user_error
from src.paths import CONF_DIR

GENERATORS = {"coding": ensure_synthetic_coding}


@exit_on_user_error
def run(raw_cfg: DictConfig) -> None:
    cfg = validate(raw_cfg)
    if cfg.task.name not in GENERATORS:
        raise MedtuneError(f"no synthetic generator for task={cfg.task.name}; choose {', '.join(GENERATORS)}")
    synth = cfg.data.synthetic
    folder = GENERATORS[cfg.task.name](cfg.paths.cache_dir, synth.n_train, synth.n_eval, synth.seed)
    console.print(f"{cfg.task.name} data: {folder}")


def main(argv: list[str] | None = None) -> None:
    # The compose API, not @hydra.main: generating data should not create a run directory.
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=sys.argv[1:] if argv is None else argv)
    run(cfg)


if __name__ == "__main__":
    main()
