"""python tests/interrupt_run.py SIGNAL STEP [train overrides...]: `python -m src.train` that
sends itself SIGNAL (KILL or TERM) inside training step STEP + 1, i.e. mid-step, wherever the
last checkpoint happens to be. A test helper: a timed kill from outside would race the run."""

from __future__ import annotations

import os
import runpy
import signal
import sys

from src.training.module import FineTuneModule

signum = getattr(signal, f"SIG{sys.argv[1]}")
at_step = int(sys.argv[2])
training_step = FineTuneModule.training_step


def interrupted_step(self, batch, batch_idx):
    if self.global_step == at_step:
        os.kill(os.getpid(), signum)
    return training_step(self, batch, batch_idx)


FineTuneModule.training_step = interrupted_step
sys.argv = ["src.train", *sys.argv[3:]]
runpy.run_module("src.train", run_name="__main__", alter_sys=True)  # as `python -m src.train`
