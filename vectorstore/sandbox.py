"""Parsers in a child process with CPU-time and memory limits, a wall-clock timeout and a kill on cancel (N6).

A 1.5 KB spreadsheet or a 4.5 KB PDF can hold a parser for minutes and gigabytes; a parser running in the
server's own process could neither be bounded in memory nor stopped by a cancel. So `ParserSandbox.parse`
hands the file to a worker process (`python -m vectorstore.sandbox`: a fresh interpreter, never a fork of the
multi-threaded server) that sets `RLIMIT_AS` once and `RLIMIT_CPU` before each file, and runs
`vectorstore.loaders.load_document`. The parent waits for the answer while asking `cancelled()` every
`POLL_SECONDS`: a cancel, the wall-clock timeout or an answer over its size kills the worker's whole process
group (tesseract included) and the next file starts a new one. Over a limit, the file gets a `LoadError` that
names the limit; cancelled, `JobCancelled`. The worker is warm between files (imports cost once) and replaced
after `files_per_worker` files, a crash, a memory error or a kill.

While a PDF is parsed the worker also sends `{"pages": [done, total]}` lines (at most every
`PAGE_REPORT_SECONDS`), passed on to the caller's `on_pages`: an upload's progress moves while it is parsed.

The answer comes back as JSON, never pickle: a parser compromised by a hostile file cannot run code in the
parent through it. The worker imports the parsers only (no torch, no embedding model, no Chroma).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import resource
import selectors
import signal
import subprocess
import sys
import threading
import time
import typing
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from vectorstore.document import BlockKind, Span, StructuredText
from vectorstore.errors import JobCancelled, LoadError
from vectorstore.loaders import DEFAULT_MAX_TEXT_CHARS, load_document

POLL_SECONDS = 0.05  # how often a waiting parent checks for a cancel
PAGE_REPORT_SECONDS = 0.5  # how often the worker says how many pages it has read
PageProgress = Callable[[int, int], None]
_ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024
OUT_OF_MEMORY = 86  # the worker's exit code when a MemoryError escaped even its own answer
# What the worker inherits of the environment: no keys or passwords (RAG_*, OPENAI_API_KEY) for a parser.
_PASSED_ENV = frozenset({"PATH", "HOME", "LANG", "TMPDIR", "TESSDATA_PREFIX", "VIRTUAL_ENV", "SYSTEMROOT"})


@dataclass(frozen=True)
class ParseLimits:
    """What one file's parse may cost. The defaults pass real documents of hundreds of pages (and OCR, whose
    tesseract processes have their own time budget: `vectorstore.formats.ocr`)."""

    cpu_seconds: float = 120.0  # CPU time of the parser process, per file
    memory_mb: int = 2048  # address space of the parser process
    wall_seconds: float = 600.0  # per file, waiting included (OCR of 100 pages fits)
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS  # extracted text, per file
    files_per_worker: int = 200  # a warm worker is replaced after this many files


DEFAULT_PARSE_LIMITS = ParseLimits()


def encode(document: StructuredText) -> dict[str, Any]:
    spans = [[s.start, s.end, s.kind, list(s.path), s.page, s.ocr] for s in document.spans]
    return {"text": document.text, "title": document.title, "spans": spans}


def decode(data: Any) -> StructuredText:
    """A StructuredText from the worker's JSON, checked field by field (the worker read a hostile file)."""
    try:
        text, title = data["text"], data["title"]
        spans = [
            Span(
                int(start),
                int(end),
                _kind(kind),
                tuple(str(p) for p in path),
                None if page is None else int(page),
                bool(ocr),
            )
            for start, end, kind, path, page, ocr in data["spans"]
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise LoadError(f"the parser process answered nonsense ({type(exc).__name__})") from exc
    if not isinstance(text, str) or not isinstance(title, str):
        raise LoadError("the parser process answered nonsense (text is not a string)")
    return StructuredText(text, spans, title)


def _kind(value: Any) -> BlockKind:
    if value not in _KINDS:
        raise ValueError(f"unknown block kind {value!r}")
    return typing.cast(BlockKind, value)


_KINDS = frozenset(typing.get_args(BlockKind))


class _Worker:
    """One parser process and the pipes to it."""

    def __init__(self, limits: ParseLimits) -> None:
        env = {
            **{k: v for k, v in os.environ.items() if k in _PASSED_ENV or k.startswith("LC_")},
            "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH", "")])),
            "OMP_THREAD_LIMIT": "1",  # tesseract: one core
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MALLOC_ARENA_MAX": "2",  # per-thread malloc arenas reserve address space the limit counts
        }
        self.process = subprocess.Popen(
            # -P: the working directory is not on sys.path (nothing there can shadow a module)
            [sys.executable, "-P", "-m", "vectorstore.sandbox", str(limits.memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            start_new_session=True,  # its own process group: a kill takes tesseract with it
        )
        self.files = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, request: dict[str, Any]) -> None:
        stdin: IO[bytes] | None = self.process.stdin
        assert stdin is not None
        stdin.write(json.dumps(request).encode() + b"\n")
        stdin.flush()
        self.files += 1

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


def _readable(fd: int, timeout: float) -> bool:
    """Whether `fd` has data within `timeout` s. A selector (epoll on Linux), not select(): select() fails
    on a descriptor numbered 1024 or more, which a process holding many open files (a long-running server,
    the test suite) reaches."""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        return bool(selector.select(timeout))


class ParserSandbox:
    """Parses files in a bounded worker process; one file at a time (a lock), any thread may call."""

    def __init__(self, limits: ParseLimits = DEFAULT_PARSE_LIMITS) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._worker: _Worker | None = None
        self._reaper: weakref.finalize[Any, Any] | None = None  # kills the worker with the sandbox or at exit

    @property
    def worker_pid(self) -> int | None:
        """The running worker's process id (None before the first file and after a kill)."""
        worker = self._worker
        return worker.pid if worker is not None else None

    def parse(
        self,
        path: Path,
        cancelled: Callable[[], bool] | None = None,
        on_pages: PageProgress | None = None,
    ) -> StructuredText:
        """`load_document(path)` in the worker; LoadError over a limit, JobCancelled when `cancelled()`;
        `on_pages(done, total)` as the worker reads a PDF's pages."""
        with self._lock:
            worker = self._ready_worker()
            request = {
                "path": str(path),
                "cpu_seconds": self.limits.cpu_seconds,
                "max_chars": self.limits.max_text_chars,
            }
            try:
                worker.send(request)
                answer = self._wait(worker, cancelled or (lambda: False), on_pages)
            except BaseException:
                self._discard()
                raise
            if answer.get("restart") or worker.files >= self.limits.files_per_worker:
                self._discard()
        if "error" in answer:
            raise LoadError(str(answer["error"]))
        return decode(answer.get("document"))

    def close(self) -> None:
        """Stops the worker (a new one starts with the next file)."""
        with self._lock:
            self._discard()

    def _ready_worker(self) -> _Worker:
        if self._worker is not None and self._worker.process.poll() is not None:
            self._discard()  # died between files
        if self._worker is None:
            self._worker = _Worker(self.limits)
            self._reaper = weakref.finalize(self, self._worker.kill)
        return self._worker

    def _discard(self) -> None:
        if self._reaper is not None:
            self._reaper()  # kills the worker, once
            self._reaper = None
        self._worker = None

    def _wait(
        self, worker: _Worker, cancelled: Callable[[], bool], on_pages: PageProgress | None = None
    ) -> dict[str, Any]:
        """The worker's answer; kills it (and raises) on a cancel, the timeout, or an answer too large.
        The pages lines before it go to `on_pages`."""
        stdout = worker.process.stdout
        assert stdout is not None
        fd = stdout.fileno()
        deadline = time.monotonic() + self.limits.wall_seconds
        max_bytes = 8 * self.limits.max_text_chars + MB  # JSON of the text and its spans
        received = bytearray()
        while True:
            while (newline := received.find(b"\n")) >= 0:
                answer = _parse_line(bytes(received[:newline]))
                del received[: newline + 1]
                if not _pages_line(answer, on_pages):
                    return answer
            if cancelled():
                raise JobCancelled()
            if time.monotonic() > deadline:
                raise LoadError(
                    f"refused file: parsing took more than {self.limits.wall_seconds:g} s (the time limit)"
                )
            if not _readable(fd, POLL_SECONDS):
                continue
            data = os.read(fd, 1 << 20)
            if not data:
                raise LoadError(self._death(worker))
            received += data
            if len(received) > max_bytes:
                raise LoadError("refused file: the parser's answer is larger than the text limit allows")

    def _death(self, worker: _Worker) -> str:
        """What a worker that stopped answering died of, for the ingest report."""
        code = worker.process.wait()
        if code == -signal.SIGXCPU:
            return f"refused file: parsing took more than {self.limits.cpu_seconds:g} s of CPU"
        if code < 0:
            name = signal.Signals(-code).name
            return (
                f"refused file: the parser was stopped by {name} (it may have needed more than "
                f"{self.limits.memory_mb} MB of memory)"
            )
        if code == OUT_OF_MEMORY:
            return f"refused file: parsing needed more than {self.limits.memory_mb} MB of memory"
        return f"refused file: the parser process exited with status {code}"


def _parse_line(line: bytes) -> dict[str, Any]:
    """One line of the worker's, as an object; LoadError for anything else."""
    try:
        answer = json.loads(line)
    except ValueError as exc:
        raise LoadError("the parser process answered nonsense (not JSON)") from exc
    if not isinstance(answer, dict):
        raise LoadError("the parser process answered nonsense (not an object)")
    return answer


def _pages_line(answer: dict[str, Any], on_pages: PageProgress | None) -> bool:
    """Whether `answer` is a pages line (passed on when its numbers make sense), not the answer."""
    if set(answer) != {"pages"}:
        return False
    pages = answer["pages"]
    if (
        on_pages is not None
        and isinstance(pages, list)
        and len(pages) == 2
        and all(type(n) is int for n in pages)
        and 0 <= pages[0] <= pages[1]
    ):
        on_pages(pages[0], pages[1])
    return True


# -- the worker process ------------------------------------------------------------------------------------
def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _set_cpu_budget(seconds: float) -> None:
    """RLIMIT_CPU counts the process's whole life: this file may use `seconds` more than the files before.
    Past the soft limit the kernel sends SIGXCPU, which ends the process."""
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(_cpu_used() + seconds)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _page_reporter(replies: IO[bytes]) -> PageProgress:
    """Writes a pages line now and then (and for the last page) while a PDF is read."""
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < PAGE_REPORT_SECONDS:
            return
        last[0] = now
        replies.write(json.dumps({"pages": [done, total]}).encode() + b"\n")
        replies.flush()

    return report


def _answer(request: dict[str, Any], memory_mb: int, on_page: PageProgress | None = None) -> dict[str, Any]:
    _set_cpu_budget(float(request["cpu_seconds"]))
    try:
        document = load_document(Path(request["path"]), max_chars=int(request["max_chars"]), on_page=on_page)
    except LoadError as exc:
        return {"error": str(exc)}
    except MemoryError:
        return {"error": f"refused file: parsing needed more than {memory_mb} MB of memory", "restart": True}
    except RecursionError:
        return {"error": "refused file: it is nested too deeply to parse", "restart": True}
    return {"document": encode(document)}


def serve(memory_mb: int) -> None:
    """The worker's loop: one JSON request a line on stdin, one JSON answer a line on the original stdout."""
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a parser prints goes to stderr, never into the answers
    logging.basicConfig(level=logging.WARNING, format="parser worker: %(name)s: %(message)s")
    logging.getLogger("pdfminer").setLevel(logging.ERROR)  # a hostile PDF can warn once per glyph
    limit = memory_mb * MB
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a SIGXCPU leaves no core file
    for line in sys.stdin.buffer:
        try:
            answer = _answer(json.loads(line), memory_mb, _page_reporter(replies))
            replies.write(json.dumps(answer).encode() + b"\n")
            replies.flush()
        except MemoryError:
            # Near the limit even the error's answer (or Python's traceback) can fail to allocate: an exit
            # code needs no memory, and the server maps it to the same message.
            os._exit(OUT_OF_MEMORY)
        if answer.get("restart"):
            return


if __name__ == "__main__":
    serve(int(sys.argv[1]))
