"""`assistant ingest --watch`: keep the store in step with folders (or files) as they change.

`watchfiles` reports what changed; each changed path is handed to `IngestService.sync`, which ingests files
added or modified (idempotent by sha256: a touch that changes nothing costs one hash) and removes the
documents of files deleted, under the same names and filters as a full `ingest` of the folder. One line per
change is reported, until the stop event is set (Ctrl-C in the CLI).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import watchfiles

from vectorstore.ingest import DEFAULT_COLLECTION, IngestReport, IngestService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """A path given to `--watch`: a folder (watched recursively) or a file (watched through its folder)."""

    path: Path
    folder: bool

    @classmethod
    def of(cls, path: Path | str) -> Target:
        resolved = Path(path).expanduser().resolve()
        return cls(resolved, resolved.is_dir())

    def owns(self, changed: Path) -> bool:
        """Whether a change at `changed` concerns this target (hidden files and folders never do)."""
        if not self.folder:
            return changed == self.path
        if changed == self.path or not changed.is_relative_to(self.path):
            return False
        return not any(part.startswith(".") for part in changed.relative_to(self.path).parts)

    @property
    def watched(self) -> Path:
        return self.path if self.folder else self.path.parent


def _chunks(count: int) -> str:
    return f"{count} chunk{'' if count == 1 else 's'}"


def describe(name: str, report: IngestReport) -> str | None:
    """One line for one change; None when it touched no document (e.g. an empty folder appeared)."""
    if report.skipped:
        return f"skipped {name}: {report.skipped[0].reason}"
    if report.documents_removed:
        return f"removed {', '.join(report.documents_removed)} ({_chunks(report.chunks_removed)})"
    if report.files_changed:
        replaced = f", {report.chunks_removed} removed" if report.chunks_removed else ""
        return f"ingested {name}: {_chunks(report.chunks_added)} added{replaced}"
    if report.files_unchanged:
        return f"unchanged {name}"
    return None


def apply_changes(
    ingest: IngestService,
    targets: Sequence[Target],
    changes: Iterable[tuple[watchfiles.Change, str]],
    collection: str = DEFAULT_COLLECTION,
) -> list[str]:
    """Ingests or removes what each changed path stands for; the lines to show, one per change."""
    kinds: dict[Path, set[watchfiles.Change]] = defaultdict(set)
    for change, raw in changes:
        kinds[Path(raw)].add(change)
    lines = []
    for path in sorted(kinds):
        if kinds[path] == {watchfiles.Change.modified} and path.is_dir():
            continue  # a folder's own timestamp: its files report their changes themselves
        for target in (t for t in targets if t.owns(path)):
            name = path.relative_to(target.path).as_posix() if target.folder else path.name
            try:
                line = describe(name, ingest.sync(target.path, [path], target.folder, collection))
            except Exception as exc:  # one bad change must not end the watch
                log.warning("watch: %s failed", path, exc_info=exc)
                line = f"error {name}: {exc}"
            if line:
                lines.append(line)
    return lines


def watch(
    ingest: IngestService,
    paths: Sequence[Path | str],
    stop: threading.Event,
    emit: Callable[[str], None] = print,
    collection: str = DEFAULT_COLLECTION,
    ready: threading.Event | None = None,
    tick_ms: int = 1000,
) -> None:
    """Watches `paths` until `stop` is set, emitting one line per change. `ready` is set once the watch is
    in place (changes made before that may be missed): what a test or a caller waits for."""
    targets = [Target.of(p) for p in paths]
    watched = sorted({t.watched for t in targets})

    def wanted(_change: watchfiles.Change, raw: str) -> bool:
        return any(t.owns(Path(raw)) for t in targets)

    for changes in watchfiles.watch(
        *watched,
        watch_filter=wanted,
        stop_event=stop,
        rust_timeout=tick_ms,
        yield_on_timeout=True,  # an empty set every tick: `ready` is set once the watchers exist
        raise_interrupt=False,
        debounce=800,
    ):
        if ready is not None:
            ready.set()
        for line in apply_changes(ingest, targets, changes, collection):
            emit(line)
