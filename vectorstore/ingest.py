"""Idempotent ingestion: embed only new chunks, drop chunks of changed or removed files, report everything."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import stat
import tempfile
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from vectorstore.chunking import Chunk, Chunker
from vectorstore.document import StructuredText, display_title
from vectorstore.embeddings import LazyEmbeddings
from vectorstore.errors import DocumentExistsError, JobCancelled, LoadError, UnknownDocumentError, UploadError
from vectorstore.jobs import Stage
from vectorstore.keyword import KeywordIndex
from vectorstore.loaders import SUPPORTED_SUFFIXES, is_supported
from vectorstore.locking import ProcessLock, data_dir_write_lock
from vectorstore.metadata import StoredMeta
from vectorstore.sandbox import ParserSandbox
from vectorstore.store import ChunkStore

log = logging.getLogger(__name__)

SAFE_NAME = re.compile(r"^[\w][\w.\- ()]{0,200}$")
# File systems allow 255 bytes per name; the temp name adds a dot and ".part": 200 bytes of UTF-8 leaves room.
MAX_NAME_BYTES = 200

# A chunk's `file_sha` while its file is being ingested: the real hash is written on every chunk of the file
# only once all of them are stored, so a run cut short leaves a file that the next run processes again.
PENDING_SHA = "pending"

# The collection (named document set) a chunk belongs to when none is given: its `collection` metadata.
DEFAULT_COLLECTION = "default"
FILTERED_FILES = 500  # an ingest of more files compares against the whole store (see _stored_for)


@dataclass
class SkippedFile:
    path: str
    reason: str


@dataclass
class IngestReport:
    files_seen: int = 0
    files_changed: int = 0
    files_unchanged: int = 0
    chunks_added: int = 0
    chunks_kept: int = 0
    chunks_removed: int = 0
    documents_removed: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        text = (
            f"{self.files_seen} files ({self.files_changed} new or changed, "
            f"{self.files_unchanged} unchanged): "
            f"{self.chunks_added} chunks added, {self.chunks_kept} kept, {self.chunks_removed} removed"
        )
        if self.documents_removed:
            text += f"; removed documents: {', '.join(self.documents_removed)}"
        if self.skipped:
            text += f"; {len(self.skipped)} skipped"
        return text + f" in {self.seconds:.1f}s"


@dataclass
class DocumentInfo:
    source: str
    chunks: int
    chars: int
    path: str
    ingested_at: float
    collection: str = DEFAULT_COLLECTION
    title: str = ""  # what a person calls it (its title, first heading or first line), else ""
    size: int | None = None  # the file's bytes; None for documents ingested before sizes were recorded


@dataclass(frozen=True)
class _FileId:
    """Which file a walk found: read later only if it is still that file (S8), opened at `real` (the file, or
    a symlink's target inside the folder) without following a symlink."""

    real: Path
    dev: int
    ino: int


def _identify(real: Path) -> _FileId | None:
    """The regular file at `real`, a path without symlinks (callers resolve and check it); None when it is
    anything else, a symlink put there meanwhile included."""
    try:
        found = os.stat(real, follow_symlinks=False)
    except OSError:
        return None
    return _FileId(real, found.st_dev, found.st_ino) if stat.S_ISREG(found.st_mode) else None


@dataclass
class _FileJob:
    source: str
    path: Path
    root: str
    file_id: _FileId | None = None


# `progress(done, total)`: chunks of the current file embedded so far, of those it has to embed.
Progress = Callable[[int, int], None]
# `stage(name)`: the current file entered a stage (reading, parsing, chunking, embedding, saving, indexing).
StageHook = Callable[[Stage], None]
# `pages(done, total)`: pages of the current file (a PDF) read so far by the parser.
Pages = Callable[[int, int], None]


@dataclass(frozen=True)
class _Hooks:
    """A job's view into an ingestion: the stage a file is in, its pages parsed, progress after each
    embedding batch, and a cancel check between batches. `keep_written`: a stop leaves what was written,
    for a worker whose job another worker took over (the same chunk ids are that one's to keep or take
    out)."""

    progress: Progress | None = None
    cancelled: Callable[[], bool] | None = None
    stage: StageHook | None = None
    pages: Pages | None = None
    keep_written: Callable[[], bool] | None = None

    def report(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(done, total)

    def enter(self, stage: Stage) -> None:
        if self.stage is not None:
            self.stage(stage)

    def stop_requested(self) -> bool:
        return self.cancelled is not None and self.cancelled()

    def keeps_written(self) -> bool:
        return self.keep_written is not None and self.keep_written()


NO_HOOKS = _Hooks()  # frozen: shared safely as the default

# Store writes queued behind the model at most: each waits with its window's vectors in memory.
WRITES_AHEAD = 2


@dataclass
class _Prepared:
    """A file read and chunked, ready to embed: `chunks` None when it is unchanged (nothing to do),
    `skipped` the reason when it could not be read."""

    job: _FileJob
    existing: dict[str, StoredMeta]
    chunks: list[Chunk] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    file_sha: str = ""
    skipped: str | None = None


class _Writer:
    """The store's writes on one thread, in the order they were queued, at most `WRITES_AHEAD` waiting,
    while the model embeds the next window. After a write fails none of the later ones runs: the store
    always holds a prefix of the writes, which the next run repairs (PENDING_SHA). A write's error is
    raised in the caller by the next `submit` or `drain`."""

    def __init__(self, ahead: int = WRITES_AHEAD) -> None:
        self._ahead = ahead
        self._pool: ThreadPoolExecutor | None = None  # started by the first write
        self._pending: deque[Future[None]] = deque()
        self._failed = False

    def submit(self, write: Callable[..., None], *args: Any) -> None:
        while len(self._pending) >= self._ahead:
            self._pending.popleft().result()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-write")
        self._pending.append(self._pool.submit(self._run, write, *args))

    def _run(self, write: Callable[..., None], *args: Any) -> None:
        if self._failed:  # an earlier write failed: its error reaches the caller first
            return
        try:
            write(*args)
        except BaseException:
            self._failed = True
            raise

    def drain(self) -> None:
        """Returns once every write queued is done; the first write's error, if one failed."""
        while self._pending:
            self._pending.popleft().result()

    def discard(self) -> None:
        """Drops the writes not started yet and waits for the one running, its error ignored: the caller
        lost its job, and its later writes would land over the new holder's."""
        while self._pending:
            future = self._pending.popleft()
            if not future.cancel():
                with contextlib.suppress(BaseException):
                    future.result()

    def close(self) -> None:
        """Waits for the writes still queued and stops the thread. After an error or an interrupt in the
        caller the writes already queued still run (what was embedded is kept, a prefix of the writes); their
        own errors are dropped here, the caller's is the one raised."""
        try:
            while self._pending:
                with contextlib.suppress(BaseException):
                    self._pending.popleft().result()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)


class _ReadAhead:
    """The next file read, parsed and chunked on a thread of its own while the current one embeds.

    It reports no stage and no pages (those are the current file's); it stops when the ingest is cancelled
    or ends early, a parse in progress killed by the sandbox like any cancelled parse."""

    def __init__(
        self, prepare: Callable[[_FileJob, dict[str, StoredMeta], str, _Hooks], _Prepared], hooks: _Hooks
    ):
        self._prepare = prepare
        self._hooks = hooks
        self._stop = threading.Event()
        self._quiet = _Hooks(cancelled=lambda: self._stop.is_set() or hooks.stop_requested())
        self._pool: ThreadPoolExecutor | None = None  # started for a second file: one file needs no thread
        self._pending: tuple[_FileJob, Future[_Prepared]] | None = None

    def start(self, job: _FileJob, existing: dict[str, StoredMeta], collection: str) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-read")
        self._pending = (job, self._pool.submit(self._prepare, job, existing, collection, self._quiet))

    def take(self, job: _FileJob, existing: dict[str, StoredMeta], collection: str) -> _Prepared:
        """`job` prepared: by the thread if it was started on it (JobCancelled if its parse was cancelled),
        else here, reporting its stages."""
        if self._pending is not None and self._pending[0] is job:
            future, self._pending = self._pending[1], None
            self._hooks.enter("reading")
            return future.result()
        return self._prepare(job, existing, collection, self._hooks)

    def close(self) -> None:
        self._stop.set()
        if self._pending is not None:
            with contextlib.suppress(BaseException):  # abandoned: its outcome is nobody's
                self._pending[1].result()
            self._pending = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def _sha256(handle: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


REPLACED = "the file was replaced (or swapped for a symlink) after the folder was listed: not read"


def _open_verified(file_id: _FileId) -> IO[bytes]:
    """The walked file, open for reading; LoadError when the path no longer leads to it (S8).

    `O_NOFOLLOW` refuses a symlink put in its place; the inode check catches any other swap (a renamed
    file, a symlinked folder on the way). Everything after this reads the open file, never the path again.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: a FIFO cannot hang us
    try:
        fd = os.open(file_id.real, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LoadError(REPLACED) from exc
        raise
    found = os.fstat(fd)
    if not stat.S_ISREG(found.st_mode) or (found.st_dev, found.st_ino) != (file_id.dev, file_id.ino):
        os.close(fd)
        raise LoadError(REPLACED)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _walk(root: Path) -> Iterator[tuple[Path, str, _FileId | None]]:
    """Files under `root` in path order, hidden ones left out, each with "" or the reason it is refused, and
    the identity of the file found (checked again when it is read: S8).

    Symlinked folders are never followed (their files, if inside `root`, are reached at their real place).
    A symlink whose target leaves `root`, or points at a hidden file, is refused: a folder of notes must not
    pull in `~/.ssh/id_rsa` or `.env` through `innocent.txt -> ...`.
    """
    found: list[tuple[Path, str, _FileId | None]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in dirnames:
            folder = base / name
            if folder.is_symlink() and not _inside(folder.resolve(), root):
                found.append((folder, "symlink to a folder outside the ingested folder: not followed", None))
        for name in filenames:
            if name.startswith("."):
                continue
            file = base / name
            if not file.is_symlink():
                if (file_id := _identify(file)) is not None:
                    found.append((file, "", file_id))
                continue
            target = file.resolve()
            if not _inside(target, root):
                found.append((file, "symlink to a file outside the ingested folder: not read", None))
            elif any(part.startswith(".") for part in target.relative_to(root).parts):
                found.append((file, "symlink to a hidden file: not read", None))
            elif (file_id := _identify(target)) is not None:
                found.append((file, "", file_id))
    return iter(sorted(found, key=lambda entry: entry[0]))


def readable_files(root: Path) -> list[Path]:
    """The files an ingest of `root` reads, in path order (`_walk`: hidden and escaping ones left out)."""
    if root.is_file():
        return [root]
    return [path for path, refused, _ in _walk(root) if not refused]


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def _unsupported(job: _FileJob) -> SkippedFile:
    supported = ", ".join(SUPPORTED_SUFFIXES)
    return SkippedFile(job.source, f"unsupported file type '{job.path.suffix}' (supported: {supported})")


def _stored_for(jobs: Sequence[_FileJob], roots: Sequence[str]) -> dict[str, Any] | None:
    """The Chroma filter for what an ingest compares against: the stored chunks of its files and of the
    folders it walks. A one-file upload then reads that file's chunks, not the whole store's metadata (the
    cost of which grew with the store: seconds per upload at 100k chunks). Past `FILTERED_FILES` files the
    whole store is read, in pages, as one filter listing them all would be no cheaper."""
    sources = sorted({job.source for job in jobs})
    if len(sources) > FILTERED_FILES:
        return None
    clauses: list[dict[str, Any]] = []
    if sources:
        clauses.append({"source": {"$in": sources}})
    if roots:
        clauses.append({"root": {"$in": sorted(set(roots))}})
    if not clauses:
        return {"source": {"$in": [""]}}  # nothing to compare with: match no chunk
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


# Which of an ingest's files it reads, given the stored documents of their names; it reports the others.
JobFilter = Callable[
    [Sequence["_FileJob"], dict[str, dict[str, StoredMeta]], "IngestReport"], list["_FileJob"]
]


def _without_clashes(
    jobs: Sequence[_FileJob], existing: dict[str, dict[str, StoredMeta]], report: IngestReport
) -> list[_FileJob]:
    """The jobs that replace no other file's document: a document's name is its path under the folder
    ingested, so two folders' README.md (or a folder's file and an upload) share one. The later file is
    reported as skipped and the stored document stays, unless its file is gone (a folder moved or renamed:
    the new copy takes over, as before); two files of one ingest with one name keep the first."""
    kept: list[_FileJob] = []
    taken: dict[str, str] = {}
    for job in jobs:
        path = str(job.path)
        if taken.get(job.source, path) != path:
            report.skipped.append(
                SkippedFile(job.source, f"another file of this ingest has that name: {taken[job.source]}")
            )
            continue
        stored = {str(meta.get("path") or "") for meta in existing.get(job.source, {}).values()} - {"", path}
        held = next((p for p in sorted(stored) if Path(p).is_file()), None)
        if held is not None:
            report.skipped.append(
                SkippedFile(
                    job.source,
                    f"a document of that name is stored from {held}; delete it first "
                    "(`assistant documents --delete`) or rename this file",
                )
            )
            continue
        taken[job.source] = path
        kept.append(job)
    return kept


def _as_listed(
    jobs: Sequence[_FileJob], existing: dict[str, dict[str, StoredMeta]], report: IngestReport
) -> list[_FileJob]:
    """Every job: an upload sent with `replace` replaces whatever document holds its name."""
    return list(jobs)


def _recorded(docs: dict[str, dict[str, StoredMeta]]) -> JobFilter:
    """For reindex: of the files its folders hold now, only each stored document's own (the file it was
    read from, under its own name), so neither a file skipped for its name nor one an upload replaced comes
    back in its place; a document whose file is not found there is reported."""
    paths = {source: str(next(iter(chunks.values())).get("path") or "") for source, chunks in docs.items()}

    def own(
        jobs: Sequence[_FileJob], existing: dict[str, dict[str, StoredMeta]], report: IngestReport
    ) -> list[_FileJob]:
        kept = [job for job in jobs if paths.get(job.source) == str(job.path)]
        found = {job.source for job in kept}
        for source, path in sorted(paths.items()):
            if source not in found:
                reason = f"not found where it was read from ({path or 'no path recorded'}): not indexed again"
                report.skipped.append(SkippedFile(source, reason))
        return kept

    return own


class IngestService:
    """Adds, lists, deletes and re-indexes documents; every UI, API and CLI call goes through here."""

    def __init__(
        self,
        store: ChunkStore,
        keyword_index: KeywordIndex,
        embeddings: LazyEmbeddings,
        chunker: Chunker,
        uploads_dir: Path,
        batch_size: int = 64,
        write_lock: ProcessLock | None = None,
        parser: ParserSandbox | None = None,
        on_report: Callable[[IngestReport], None] | None = None,
    ) -> None:
        self.store = store
        self.keyword_index = keyword_index
        self.embeddings = embeddings
        self.chunker = chunker
        self.uploads_dir = uploads_dir
        self.batch_size = batch_size
        # Writes take turns (two uploads at once, an upload during a delete, the server and `assistant
        # ingest` in another process: a file lock in the data dir); reads never wait.
        self._write_lock = write_lock or data_dir_write_lock(uploads_dir.parent)
        # Files are parsed in a worker process bounded in CPU time and memory, killed on a cancel (N6).
        self.parser = parser or ParserSandbox()
        self.on_report = on_report  # each finished ingest's report (the metrics: chunks, seconds)

    # -- discovery --------------------------------------------------------------------------------------
    def _discover(self, paths: Iterable[Path], report: IngestReport) -> tuple[list[_FileJob], list[str]]:
        jobs: list[_FileJob] = []
        roots: list[str] = []
        for raw in paths:
            path = Path(raw).expanduser()
            if path.is_dir():
                root = path.resolve()
                roots.append(str(root))
                for file, refused, file_id in _walk(root):
                    rel = file.relative_to(root).as_posix()
                    if refused:
                        report.skipped.append(SkippedFile(rel, refused))
                    else:
                        jobs.append(_FileJob(rel, file, str(root), file_id))
            elif path.is_file():
                jobs.append(_FileJob(path.name, path.resolve(), "", _identify(path.resolve())))
            else:
                report.skipped.append(SkippedFile(str(path), "no such file or directory"))
        return jobs, roots

    # -- ingestion --------------------------------------------------------------------------------------
    def ingest(
        self,
        paths: Sequence[Path | str],
        progress: bool = False,
        collection: str = DEFAULT_COLLECTION,
        *,
        on_progress: Progress | None = None,
        cancelled: Callable[[], bool] | None = None,
        on_stage: StageHook | None = None,
        on_pages: Pages | None = None,
        keep_written: Callable[[], bool] | None = None,
    ) -> IngestReport:
        """Ingests files and folders into `collection` (each chunk's `collection` metadata; a document
        ingested again into another collection moves there).

        `on_progress(done, total)` follows the current file's embedding batch by batch, `on_stage(name)` its
        stages, `on_pages(done, total)` a PDF's pages as they are parsed; `cancelled()` is asked between
        batches and files, and while a file is parsed (the parser process is killed): when true, the file
        being parsed or embedded is taken out again (its chunks written so far are deleted) and
        JobCancelled is raised, so every file is either fully in or out (unless `keep_written()`: see
        `_Hooks`).
        """
        with self._write_lock:
            hooks = _Hooks(on_progress, cancelled, on_stage, on_pages, keep_written)
            return self._ingest(paths, progress, collection, hooks)

    def _ingest(
        self,
        paths: Sequence[Path | str],
        progress: bool,
        collection: str = DEFAULT_COLLECTION,
        hooks: _Hooks = NO_HOOKS,
        select: JobFilter = _without_clashes,
    ) -> IngestReport:
        """`select`: which files found are read (by default none that would replace another file's
        document of the same name)."""
        started = time.perf_counter()
        self.store.check_embeddings()
        report = IngestReport()
        jobs, roots = self._discover([Path(p) for p in paths], report)
        existing = self._by_source(_stored_for(jobs, roots))
        found = {job.source for job in jobs}  # a file left out by `select` is still there
        jobs = select(jobs, existing, report)
        # JobCancelled leaves the store as it was; the keyword index catches up at the next search
        self._ingest_jobs(jobs, existing, report, collection, progress, hooks)
        # Files that disappeared from an ingested directory take their chunks with them.
        self._remove_missing(
            existing, lambda src, meta: meta.get("root", "") in roots and src not in found, report
        )
        hooks.enter("indexing")
        self.keyword_index.ensure_current()
        report.seconds = time.perf_counter() - started
        log.info("ingest: %s", report.summary())
        if self.on_report is not None:
            self.on_report(report)
        return report

    def _ingest_jobs(
        self,
        jobs: list[_FileJob],
        existing: dict[str, dict[str, StoredMeta]],
        report: IngestReport,
        collection: str,
        progress: bool = False,
        hooks: _Hooks = NO_HOOKS,
    ) -> set[str]:
        """Ingests each file of `jobs`; the sources seen (supported files, read or not).

        A pipeline of three: while the model embeds one file, the next is read, parsed and chunked on a
        reader thread, and the store's writes of the chunks already embedded run on a writer thread, in the
        order they were made (`_Writer`). The first file is read in the calling thread, so a single upload
        reports its stages as it goes; a file read ahead reports none until it is taken.
        """
        bar = tqdm(total=len(jobs), unit="file", desc="Ingesting", disable=not progress)
        seen_sources: set[str] = set()
        writer = _Writer()
        ahead = _ReadAhead(self._prepare, hooks)
        supported = [i for i, job in enumerate(jobs) if is_supported(job.path)]
        following = dict(pairwise(supported))  # a file's index -> the next supported file's
        try:
            for index, job in enumerate(jobs):
                if hooks.stop_requested():  # between files: nothing of the next one is written yet
                    writer.drain()  # the files before it end whole
                    raise JobCancelled()
                bar.set_postfix_str(job.source[-40:])
                if not is_supported(job.path):
                    report.skipped.append(_unsupported(job))
                    bar.update(1)
                    continue
                report.files_seen += 1
                seen_sources.add(job.source)
                try:
                    prepared = ahead.take(job, existing.get(job.source, {}), collection)
                except JobCancelled:
                    writer.drain()
                    raise
                if (after := following.get(index)) is not None:  # read while this one embeds
                    ahead.start(jobs[after], existing.get(jobs[after].source, {}), collection)
                self._settle(job, prepared, report, writer, hooks)
                bar.update(1)
            writer.drain()
        finally:
            ahead.close()
            writer.close()
            bar.close()
        return seen_sources

    def _settle(
        self, job: _FileJob, prepared: _Prepared, report: IngestReport, writer: _Writer, hooks: _Hooks
    ) -> None:
        """A file read: reported as skipped, kept as it is (unchanged), or its new chunks queued to store."""
        if prepared.skipped is not None:
            report.skipped.append(SkippedFile(job.source, prepared.skipped))
        elif prepared.chunks is None:
            report.files_unchanged += 1
            report.chunks_kept += len(prepared.existing)
            hooks.report(0, 0)
        else:
            self._store_file(prepared, report, writer, hooks)

    def _remove_missing(
        self,
        existing: dict[str, dict[str, StoredMeta]],
        gone: Callable[[str, StoredMeta], bool],
        report: IngestReport,
    ) -> None:
        """Deletes the documents for which `gone(source, metadata of one of its chunks)` holds."""
        for source, chunks in existing.items():
            if gone(source, next(iter(chunks.values()))):
                self.store.delete(list(chunks))
                report.chunks_removed += len(chunks)
                report.documents_removed.append(source)

    def _prepare(
        self, job: _FileJob, existing: dict[str, StoredMeta], collection: str, hooks: _Hooks
    ) -> _Prepared:
        """One file read, hashed, parsed and chunked: all but its embedding and writes. It touches no store,
        so it runs ahead on the reader thread while the file before it embeds. A file that cannot be read
        comes back `skipped`, an unchanged one without chunks."""
        try:
            return self._read_and_chunk(job, existing, collection, hooks)
        except LoadError as exc:
            return _Prepared(job, existing, skipped=str(exc))
        except OSError as exc:
            return _Prepared(job, existing, skipped=f"cannot read file: {exc.strerror or exc}")

    def _read_and_chunk(
        self, job: _FileJob, existing: dict[str, StoredMeta], collection: str, hooks: _Hooks
    ) -> _Prepared:
        if job.file_id is None:
            raise LoadError(REPLACED)
        hooks.enter("reading")
        with _open_verified(job.file_id) as handle:
            size = os.fstat(handle.fileno()).st_size
            file_sha = _sha256(handle)
            if existing and all(
                meta.get("file_sha") == file_sha
                and meta.get("layout") == self.chunker.layout
                and meta.get("collection") == collection  # chunks from before collections get theirs stamped
                for meta in existing.values()
            ):
                return _Prepared(job, existing)
            handle.seek(0)
            hooks.enter("parsing")
            document, file_sha = self._parse(handle, job.path.name, hooks)
        hooks.enter("chunking")
        chunks = self.chunker.split(job.source, document)
        extra = {
            "path": str(job.path),
            "root": job.root,
            "file_sha": PENDING_SHA,  # the real hash is set last, on every chunk (`_finish_file`)
            "chars": len(document.text),
            "title": display_title(document, job.path.name),
            "layout": self.chunker.layout,
            "ingested_at": time.time(),
            "collection": collection,
            "size": size,
        }
        return _Prepared(job, existing, chunks=chunks, extra=extra, file_sha=file_sha)

    def _store_file(self, prepared: _Prepared, report: IngestReport, writer: _Writer, hooks: _Hooks) -> None:
        """Embeds a prepared file's new chunks and queues its writes. Order matters for interruptions: add,
        then update, then delete, then record the file's hash (the writer keeps that order). A run cut
        short leaves chunks marked PENDING_SHA, so the next run processes the file again and repairs it."""
        assert prepared.chunks is not None
        chunks, existing, extra = prepared.chunks, prepared.existing, prepared.extra
        new = [c for c in chunks if c.id not in existing]
        kept = [c for c in chunks if c.id in existing]
        stale = sorted(set(existing) - {c.id for c in chunks})
        self._add_new(prepared.job.source, new, extra, hooks, writer)
        hooks.enter("saving")
        writer.submit(self._finish_file, kept, extra, stale, [c.id for c in chunks], prepared.file_sha)
        report.files_changed += 1
        report.chunks_added += len(new)
        report.chunks_kept += len(kept)
        report.chunks_removed += len(stale)

    def _finish_file(
        self, kept: list[Chunk], extra: dict[str, Any], stale: list[str], ids: list[str], file_sha: str
    ) -> None:
        # kept chunks keep their recorded hash until the last write: PENDING_SHA marks only chunks an
        # unfinished run added, which a cancel may take out (`_take_out`)
        self.store.update_metadata(kept, {k: v for k, v in extra.items() if k != "file_sha"})
        self.store.delete(stale)
        self.store.set_metadata(ids, {"file_sha": file_sha})  # last: the file is whole

    def _parse(self, handle: IO[bytes], name: str, hooks: _Hooks) -> tuple[StructuredText, str]:
        """The open file parsed in the sandbox, and the hash of what was parsed. The parser reads a private
        copy written from `handle` (no second open of the ingested path: S8); a cancel kills the parse."""
        with tempfile.TemporaryDirectory(prefix="ingest-") as folder:
            copy = Path(folder) / name
            digest = hashlib.sha256()
            with copy.open("xb") as out:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
            return self.parser.parse(copy, hooks.cancelled, hooks.pages), digest.hexdigest()

    def _add_new(
        self, source: str, new: list[Chunk], extra: dict[str, Any], hooks: _Hooks, writer: _Writer
    ) -> None:
        """Embeds the file's new chunks `batch_size` at a time, shortest texts first (a window holds texts of
        about one length, so the model's batches pad little), and hands each window to the writer; reports
        each batch the model runs (a few chunks: progress moves every second or two even on a slow CPU).

        Which window a chunk is embedded in changes nothing stored but, for an int8 model, the last digits
        of its vector (see `LazyEmbeddings.batch_invariant`); ids, texts and offsets are the file's.

        A cancel seen between the model's batches (or after the last, before anything of the old version is
        touched) waits for the writes queued so far, deletes the file's pending chunks (those written here
        and those an earlier run cut short left) and raises JobCancelled: the old version, if any, is still
        whole (its chunks are only updated and deleted after this), the new one was never in.
        """
        hooks.enter("embedding")
        hooks.report(0, len(new))
        ordered = sorted(new, key=lambda c: len(c.contextual_text))  # stable: equal lengths keep file order
        for i in range(0, len(ordered), self.batch_size):
            self._stop_if_cancelled(source, hooks, writer)
            batch = ordered[i : i + self.batch_size]

            def embedded(done: int, start: int = i) -> None:
                hooks.report(start + done, len(new))
                if hooks.stop_requested():
                    raise JobCancelled()

            try:
                vectors = self.embeddings.embed_documents_reporting(
                    [c.contextual_text for c in batch], embedded
                )
            except JobCancelled:  # asked for while this batch was embedded: none of it is written
                self._take_out(source, writer, hooks)
                raise
            writer.submit(self.store.add, batch, vectors, extra)
        self._stop_if_cancelled(source, hooks, writer)

    def _stop_if_cancelled(self, source: str, hooks: _Hooks, writer: _Writer) -> None:
        if hooks.stop_requested():
            self._take_out(source, writer, hooks)
            raise JobCancelled()

    def _take_out(self, source: str, writer: _Writer, hooks: _Hooks) -> None:
        """A cancelled file's new chunks deleted again once every write queued before is done: every chunk
        of it still PENDING_SHA (written here, by an earlier attempt cut short, or by a worker that lost the
        job and wrote on). A worker that lost its job (`keeps_written`) drops its queued writes and deletes
        nothing: the same chunk ids are the new holder's to keep or take out."""
        if hooks.keeps_written():
            writer.discard()
            return
        writer.drain()
        self._delete_pending(source)

    def _delete_pending(self, source: str) -> int:
        """Deletes the chunks of `source` that a run added and did not finish (PENDING_SHA); how many."""
        ids = list(self.store.metadatas(where={"$and": [{"source": source}, {"file_sha": PENDING_SHA}]}))
        self.store.delete(ids)
        return len(ids)

    def discard_unfinished(self, source: str) -> int:
        """Deletes what unfinished runs left of `source` (a job cancelled before it got to the file again);
        a whole document has no PENDING_SHA chunk, so it is never touched. The number deleted."""
        with self._write_lock:
            deleted = self._delete_pending(source)
            if deleted:
                self.keyword_index.ensure_current()
            return deleted

    def _by_source(self, where: dict[str, Any] | None = None) -> dict[str, dict[str, StoredMeta]]:
        """Stored chunks grouped by document; only those matching `where` when given."""
        grouped: dict[str, dict[str, StoredMeta]] = defaultdict(dict)
        for chunk_id, meta in self.store.metadatas(where=where).items():
            grouped[str(meta.get("source", ""))][chunk_id] = meta
        return grouped

    # -- watching ---------------------------------------------------------------------------------------
    def sync(
        self,
        target: Path,
        changed: Collection[Path],
        folder: bool,
        collection: str = DEFAULT_COLLECTION,
    ) -> IngestReport:
        """Brings the documents of `target` (a folder, or a file, as given to `ingest`) up to date with the
        `changed` paths under it: files added or modified are ingested under the names and filters a full
        ingest of `target` gives them, files (or folders) gone take their documents with them. For
        `ingest --watch`: a change costs the changed files only, not a hash of the whole folder."""
        with self._write_lock:
            started = time.perf_counter()
            self.store.check_embeddings()
            report = IngestReport()
            jobs, gone = self._changed_files(target, {Path(p) for p in changed}, folder, report)
            existing = self._by_source()
            seen = self._ingest_jobs(_without_clashes(jobs, existing, report), existing, report, collection)
            self._remove_missing(existing, lambda src, meta: src not in seen and gone(src, meta), report)
            self.keyword_index.ensure_current()
            report.seconds = time.perf_counter() - started
            return report

    @staticmethod
    def _changed_files(
        target: Path, marked: set[Path], folder: bool, report: IngestReport
    ) -> tuple[list[_FileJob], Callable[[str, StoredMeta], bool]]:
        """The files of `target` among the `marked` paths (or under them), and which stored documents of
        `target` the marked paths stand for (removed when their file is no longer found)."""

        def touched(path: Path) -> bool:
            return any(path == m or path.is_relative_to(m) for m in marked)

        if not folder:
            path = target.resolve()
            jobs = (
                [_FileJob(path.name, path, "", _identify(path))]
                if target.is_file() and touched(target)
                else []
            )
            return (
                jobs,
                lambda src, meta: touched(target) and not meta.get("root") and meta.get("path") == str(path),
            )
        root = target.resolve()
        jobs = []
        for file, refused, file_id in _walk(root) if root.is_dir() else iter(()):
            if touched(file):
                rel = file.relative_to(root).as_posix()
                if refused:
                    report.skipped.append(SkippedFile(rel, refused))
                else:
                    jobs.append(_FileJob(rel, file, str(root), file_id))
        return jobs, lambda src, meta: meta.get("root") == str(root) and touched(root / src)

    # -- uploads ----------------------------------------------------------------------------------------
    def add_upload(
        self,
        filename: str,
        data: bytes,
        max_bytes: int | None = None,
        replace: bool = False,
        collection: str = DEFAULT_COLLECTION,
        progress: Progress | None = None,
        cancelled: Callable[[], bool] | None = None,
        stage: StageHook | None = None,
        pages: Pages | None = None,
        keep_written: Callable[[], bool] | None = None,
    ) -> IngestReport:
        """Saves an uploaded file under the uploads dir (never elsewhere) and ingests it.

        A document of the same name, uploaded or from an ingested folder (the seeds), is replaced only when
        `replace` is true; otherwise DocumentExistsError, and nothing is written. `progress`, `cancelled`,
        `stage` and `pages` as in `ingest`: a cancelled upload leaves the store and the uploads dir as they
        were.
        """
        name = safe_upload_name(filename)
        if max_bytes is not None and len(data) > max_bytes:
            raise UploadError(f"'{name}' is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB")
        with self._write_lock:  # checked under the lock: two uploads of one new name cannot both pass
            if not replace and self.has_document(name):
                raise DocumentExistsError(name)
            hooks = _Hooks(progress, cancelled, stage, pages, keep_written)
            return self._save_and_ingest(name, data, collection, hooks)

    def has_document(self, source: str) -> bool:
        """Whether a document of that name is stored (an early 409 before an upload is queued)."""
        return bool(self.store.metadatas(where={"source": source}))

    def _save_and_ingest(
        self,
        name: str,
        data: bytes,
        collection: str = DEFAULT_COLLECTION,
        hooks: _Hooks = NO_HOOKS,
    ) -> IngestReport:
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        target = self.uploads_dir / name
        tmp = self.uploads_dir / f".{name}.part"
        previous = self.uploads_dir / f".{name}.previous"  # the replaced upload, until the new one is in
        tmp.write_bytes(data)
        had_previous = target.exists()
        if had_previous:
            os.replace(target, previous)
        os.replace(tmp, target)

        def put_back() -> None:  # the store still holds the previous version (or nothing): so does the disk
            if had_previous:
                os.replace(previous, target)
            else:
                target.unlink(missing_ok=True)

        try:
            report = self._ingest([target], False, collection, hooks, select=_as_listed)
        except JobCancelled:
            put_back()
            raise
        if report.skipped:  # keep no file we could not read
            put_back()
        else:
            previous.unlink(missing_ok=True)
        return report

    # -- listing and deletion ---------------------------------------------------------------------------
    def list_documents(self) -> list[DocumentInfo]:
        docs = []
        for source, chunks in sorted(self._by_source().items()):
            meta = next(iter(chunks.values()))
            docs.append(
                DocumentInfo(
                    source=source,
                    chunks=len(chunks),
                    chars=int(meta.get("chars", 0)),
                    path=str(meta.get("path", "")),
                    ingested_at=float(meta.get("ingested_at", 0.0)),
                    collection=str(meta.get("collection", DEFAULT_COLLECTION)),
                    title=str(meta.get("title", "")),
                    size=_size(meta.get("size")),
                )
            )
        return docs

    def delete(self, source: str) -> int:
        with self._write_lock:
            return self._delete(source)

    def _delete(self, source: str) -> int:
        chunks = self.store.metadatas(where={"source": source})
        if not chunks:
            raise UnknownDocumentError(source)
        self.store.delete(list(chunks))
        path = Path(str(next(iter(chunks.values())).get("path", "")))
        if path.parent == self.uploads_dir.resolve() or path.parent == self.uploads_dir:
            path.unlink(missing_ok=True)
        self.keyword_index.ensure_current()
        return len(chunks)

    def reindex(self, progress: bool = False) -> IngestReport:
        """Drops the collection and ingests every known document again (after an embedding model change)."""
        with self._write_lock:
            docs = self._by_source()
            self.store.drop()
            by_collection: dict[str, dict[str, dict[str, StoredMeta]]] = defaultdict(dict)
            for source, chunks in docs.items():
                named = next((m.get("collection") for m in chunks.values()), None)
                by_collection[DEFAULT_COLLECTION if named is None else str(named)][source] = chunks
            total = IngestReport()
            for collection, group in sorted(by_collection.items()) or [(DEFAULT_COLLECTION, {})]:
                paths = self._known_paths(group)
                report = self._ingest(paths, progress, collection, select=_recorded(group))
                for name in ("files_seen", "files_changed", "files_unchanged", "chunks_added", "chunks_kept"):
                    setattr(total, name, getattr(total, name) + getattr(report, name))
                total.chunks_removed += report.chunks_removed
                total.documents_removed += report.documents_removed
                total.skipped += report.skipped
                total.seconds += report.seconds
            return total

    @staticmethod
    def _known_paths(docs: dict[str, dict[str, StoredMeta]]) -> list[str]:
        roots = sorted({m.get("root", "") for c in docs.values() for m in c.values()} - {""})
        files = sorted(
            {m.get("path", "") for c in docs.values() for m in c.values() if not m.get("root")} - {""}
        )
        return [*roots, *files]


def _size(value: Any) -> int | None:
    """A chunk's recorded file size; None when it has none (ingested before sizes were recorded)."""
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def safe_upload_name(filename: str) -> str:
    """The bare file name, or UploadError: '../../x', absolute paths and hidden files are refused."""
    name = (filename or "").replace("\\", "/")
    base = name.rsplit("/", 1)[-1]
    if base != name or not SAFE_NAME.match(base) or ".." in base:
        raise UploadError(
            f"invalid file name {filename!r}: use a plain name such as 'report.pdf' "
            "(letters, digits, spaces, '.', '-', '_', no folders)"
        )
    if len(base.encode("utf-8")) > MAX_NAME_BYTES:  # checked before anything touches the disk
        raise UploadError(
            f"invalid file name: {len(base.encode('utf-8'))} bytes of UTF-8; the limit is {MAX_NAME_BYTES} "
            "(use a shorter name)"
        )
    if not is_supported(Path(base)):
        raise UploadError(f"unsupported file type for {base!r} (supported: {', '.join(SUPPORTED_SUFFIXES)})")
    return base
