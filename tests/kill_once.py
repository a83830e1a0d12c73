"""A Lightning callback for fault tests: the first process to reach training step `at_step`
SIGKILLs itself there, as a crashed or OOM-killed sweep worker would; later ones train on.
Used as +callbacks.kill={_target_:kill_once.KillOnce,at_step:N} with tests/ on PYTHONPATH and
KILL_ONCE_MARKER naming a file to create (an environment variable: a path in an override would
become folders in the sweep's job dir names)."""

from __future__ import annotations

import os
import signal

import lightning as L


class KillOnce(L.Callback):
    def __init__(self, at_step: int):
        self.at_step = at_step
        self.marker = os.environ["KILL_ONCE_MARKER"]  # created by the one process that dies

    def on_train_batch_start(self, trainer: L.Trainer, *args) -> None:
        if trainer.global_step != self.at_step:
            return
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        os.kill(os.getpid(), signal.SIGKILL)
