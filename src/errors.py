"""User-facing errors: one clear message, no traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)


class MedtuneError(Exception):
    """A problem the user can fix (bad config value, missing file, malformed row).

    The message names the place (file, line or config key) and what to do.
    """


class RunInterrupted(MedtuneError):
    """The run was stopped from outside (SIGTERM) after saving what it could."""

    exit_code = 143  # 128 + SIGTERM, what schedulers expect from a terminated job


def exit_on_user_error(func: F) -> F:
    """Turn MedtuneError into a one-line message on stderr and exit status 2 (or its exit_code)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except MedtuneError as err:
            print(f"medtune: error: {err}", file=sys.stderr)
            sys.exit(getattr(err, "exit_code", 2))

    return wrapper  # type: ignore[return-value]
