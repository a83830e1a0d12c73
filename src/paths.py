"""Locations inside the repository, and who may read the files medtune writes."""

import os
from pathlib import Path

from src.errors import MedtuneError

ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = ROOT / "conf"
PRIVATE_ENV = "MEDTUNE_PRIVATE"  # conf/paths reads it for paths.private; entry points without a config too
_FLAGS = {
    **dict.fromkeys(("true", "1", "yes", "on"), True),
    **dict.fromkeys(("false", "0", "no", "off"), False),
}


def as_flag(value: object, name: str) -> bool:
    """A true/false setting given as a bool or as a string (an environment variable)."""
    if isinstance(value, bool):
        return value
    flag = _FLAGS.get(str(value).strip().lower())
    if flag is None:
        raise MedtuneError(f"{name}={value!r}: set it to true (owner-only files) or false")
    return flag


def private_from_env() -> bool:
    """paths.private for entry points without a Hydra config: MEDTUNE_PRIVATE, true when unset."""
    return as_flag(os.environ.get(PRIVATE_ENV, "true"), PRIVATE_ENV)


def keep_private(private: bool, *folders: str | Path) -> None:
    """private: everything this process, and any process it starts, creates from now on is
    owner-only (umask 077: folders 0700, files 0600). `folders` (the cache dir) may predate
    that: each that exists and is ours is closed to others too (chmod 0700)."""
    if not private:
        return
    os.umask(0o077)
    for folder in map(Path, folders):
        if folder.is_dir() and folder.stat().st_uid == os.getuid():
            folder.chmod(0o700)
