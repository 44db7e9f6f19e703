"""A document as the format means it: blocks with a kind and a heading path, rendered into one text.

Every format parser (plain text, Markdown, reST, HTML, PDF) produces `Block`s; `render` joins them into the
document's extracted text and remembers where each block lies in it, so chunks and citations stay exact
spans of that text while knowing their section and page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

BlockKind = Literal["heading", "paragraph", "list", "code", "table"]

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")


@dataclass(frozen=True)
class Block:
    kind: BlockKind
    text: str
    path: tuple[str, ...] = ()  # heading path; for a heading, it ends with the heading itself
    page: int | None = None  # 1-based page (PDF) or slide/sheet number
    ocr: bool = False  # the text was recognised from an image (a scanned page), not read from the file


@dataclass(frozen=True)
class Span:
    """Where a block lies in the rendered text: `text[start:end]` is the block."""

    start: int
    end: int
    kind: BlockKind
    path: tuple[str, ...]
    page: int | None = None
    ocr: bool = False

    @property
    def section(self) -> str:
        return " > ".join(self.path)


@dataclass
class StructuredText:
    text: str
    spans: list[Span] = field(default_factory=list)
    title: str = ""


TITLE_CHARS = 160  # a first line longer than this is a paragraph, not a title


def display_title(document: StructuredText, name: str) -> str:
    """What a person calls the document: its own title (HTML <title>, PDF metadata), else its first
    heading, else a short first line ("Discussing a pan-Eurasian security architecture ..."), else the
    file name. Seed files are named by hash; their first line says what they are."""
    if document.title.strip():
        return collapse(document.title)[:TITLE_CHARS]
    opening = document.spans[0] if document.spans else None
    if opening is not None and opening.kind == "heading" and opening.path:
        return opening.path[-1][:TITLE_CHARS]
    first = document.text.strip().split("\n", 1)[0].lstrip("# ").strip()
    if first and len(first) <= TITLE_CHARS and not first.endswith((".", ":", ";", ",")):
        return first
    return name


def collapse(text: str) -> str:
    """Inline whitespace as a reader sees it: runs of spaces, tabs and line breaks become one space."""
    return _SPACES.sub(" ", text.replace("\r", " ").replace("\n", " ")).strip()


def heading_line(level: int, title: str) -> str:
    return f"{'#' * max(1, min(level, 6))} {title}"


def render(blocks: list[Block], title: str = "") -> StructuredText:
    """Blocks joined by blank lines; consecutive blocks never merge, so a sentence never spans two."""
    parts: list[str] = []
    spans: list[Span] = []
    offset = 0
    for block in blocks:
        body = block.text.strip("\n")
        if not body.strip():
            continue
        if parts:
            parts.append("\n\n")
            offset += 2
        parts.append(body)
        spans.append(Span(offset, offset + len(body), block.kind, block.path, block.page, block.ocr))
        offset += len(body)
    return StructuredText("".join(parts), spans, title)


class Outline:
    """The heading path as a parser walks a document: a heading closes every deeper or equal one."""

    def __init__(self, root: str = "") -> None:
        self._stack: list[tuple[int, str]] = [(0, root)] if root else []

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(title for _, title in self._stack)

    @property
    def depth(self) -> int:
        return self._stack[-1][0] if self._stack else 0

    def enter(self, level: int, title: str) -> tuple[str, ...]:
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, title))
        return self.path

    def snapshot(self) -> list[tuple[int, str]]:
        return list(self._stack)

    def restore(self, saved: list[tuple[int, str]]) -> None:
        self._stack = list(saved)
