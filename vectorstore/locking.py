"""Locks shared by the threads of one process and by every process on one data dir.

Two processes may use one embedded data dir at once (the server, and `assistant ingest` in another terminal).
Their writes take turns through a file lock in the data dir; the holder is recorded next to the lock so a
waiting process can say who it waits for.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from vectorstore.errors import DataDirBusyError

log = logging.getLogger(__name__)

WRITE_LOCK_NAME = ".write.lock"


class ProcessLock:
    """Exclusive across processes (a `filelock` lock file), re-entrant for the thread that holds it.

    Threads of one process queue on a `threading.RLock` first, so only one thread per process ever waits on
    the file; a nested `with` in the holding thread does not touch the file again.
    """

    def __init__(self, path: Path, timeout: float = 600.0, purpose: str = "writing to the data dir") -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.purpose = purpose
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._file_lock = FileLock(str(self.path), timeout=timeout, thread_local=False)

    @property
    def owner_path(self) -> Path:
        return self.path.with_name(self.path.name + ".owner")

    def owner(self) -> dict[str, object]:
        """Who holds (or last held) the lock: pid, host, command, since; {} when unknown."""
        try:
            return dict(json.loads(self.owner_path.read_text()))
        except (OSError, ValueError):
            return {}

    def __enter__(self) -> ProcessLock:
        self._thread_lock.acquire()
        try:
            if self._depth == 0:
                self._acquire_file()
            self._depth += 1
        except BaseException:
            self._thread_lock.release()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._depth -= 1
            if self._depth == 0:
                self.owner_path.unlink(missing_ok=True)
                self._file_lock.release()
        finally:
            self._thread_lock.release()

    def _acquire_file(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._file_lock.acquire(blocking=False)
        except Timeout:
            who = self._describe(self.owner())
            log.warning("%s: waiting for %s to finish (lock %s)", self.purpose, who, self.path)
            try:
                self._file_lock.acquire(timeout=self.timeout)
            except Timeout as exc:
                raise DataDirBusyError(
                    f"{self._describe(self.owner())} has been {self.purpose} for longer than "
                    f"{self.timeout:.0f}s (lock {self.path}); try again when it has finished"
                ) from exc
        try:
            record = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "command": " ".join(sys.argv)[:200],
                "since": time.time(),
            }
            self.owner_path.write_text(json.dumps(record))
        except OSError:  # the record is a courtesy; the lock itself is held
            pass

    @staticmethod
    def _describe(owner: dict[str, object]) -> str:
        if not owner:
            return "another process"
        command = f": {owner['command']}" if owner.get("command") else ""
        return f"another process (pid {owner.get('pid')} on {owner.get('host')}{command})"


def data_dir_write_lock(data_dir: Path, timeout: float = 600.0) -> ProcessLock:
    """The one lock every writer of `data_dir` (Chroma collection, uploads) takes, in any process."""
    return ProcessLock(Path(data_dir) / WRITE_LOCK_NAME, timeout=timeout, purpose="writing to the data dir")
