"""The data dir is private (N11): it holds password hashes, every conversation and the uploaded documents.

`make_private` closes an existing data dir (0700) and its top-level entries (folders 0700, files 0600), and
the servers and the CLI run with umask 077, so whatever SQLite, Chroma or an upload creates later is the
owner's alone. A data dir that is 0700 keeps its contents from other local users, whatever their modes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077


def make_private(data_dir: Path) -> None:
    """Creates the data dir if needed, and takes group and other permissions off it and its entries."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _restrict(data_dir)
    for entry in data_dir.iterdir():
        _restrict(entry)


def _restrict(path: Path) -> None:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode) or not mode & 0o077:
        return
    path.chmod(stat.S_IMODE(mode) & 0o700)


def private_umask() -> int:
    """Sets the process's umask to 077 (entry points only: the server, the CLI); returns the old one."""
    return os.umask(PRIVATE_UMASK)
