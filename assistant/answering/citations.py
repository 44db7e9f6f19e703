"""`[n]` markers: resolve them to passages, drop the ones that point nowhere, and number them in the order
a reader meets them ([1] first, whatever the passage's rank), also while streaming."""

from __future__ import annotations

import re
from collections.abc import Sequence

from langchain_core.documents import Document
from pydantic import BaseModel, Field

from vectorstore.metadata import ChunkMeta, StoredMeta, chunk_meta

MARKER = re.compile(r"\s?\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
_PARTIAL = re.compile(r"\s?\[[\d,; ]{0,12}$|\s$")


class Citation(BaseModel):
    """A passage the answer cites: `text == source_text[start:end]` (the source's extracted text)."""

    n: int = Field(description="The answer's marker: [1] is the first cited in reading order.")
    source: str
    start: int
    end: int
    text: str
    section: str = Field("", description="Heading path of the passage: 'Title > Section > Subsection'.")
    page: int | None = Field(None, description="1-based page of the cited text's start, for paged documents.")
    page_end: int | None = Field(None, description="The page the cited text ends on, if not its first.")
    ocr: bool = Field(False, description="The passage was read by OCR from a scanned page.")
    passage: int | None = Field(
        None, description="The retrieved passage it comes from: its `n` in `retrieved` (search rank)."
    )
    title: str = Field("", description="The document's title, first heading or first line, if it has one.")


class RetrievedPassage(Citation):
    score: float
    similarity: float
    id: str = Field("", description="The chunk's id in the store (kept in an answer's trace for feedback).")


def _last_page(meta: ChunkMeta) -> int | None:
    """The page a whole passage ends on, when a page break lies inside it."""
    try:
        length = int(meta["end"]) - int(meta["start"])
    except (KeyError, TypeError, ValueError):
        return None
    first, last = page_at(meta, 0), page_at(meta, length - 1)
    return last if last != first else None


def passage_of(n: int, doc: Document) -> Citation:
    meta = chunk_meta(doc)
    page = meta.get("page")
    return Citation(
        n=n,
        source=meta["source"],
        start=meta["start"],
        end=meta["end"],
        text=doc.page_content,
        section=str(meta.get("section", "")),
        page=int(page) if page is not None else None,
        page_end=_last_page(meta),
        ocr=bool(meta.get("ocr", False)),
        title=str(meta.get("title", "")),
    )


def page_at(meta: ChunkMeta | StoredMeta, offset: int) -> int | None:
    """The page of a passage's character `offset`: its start page, moved on by each page break recorded
    before it ("412:3" is page 3 from offset 412 of the passage)."""
    page = meta.get("page")
    if page is None:
        return None
    current = int(page)
    for pair in str(meta.get("page_breaks", "")).split(","):
        at, _, number = pair.partition(":")
        if at.isdigit() and number.isdigit() and int(at) <= offset:
            current = int(number)
    return current


def _located(quote: str, text: str) -> tuple[int, int] | None:
    """Where a quoted line is in the passage: as it is, or after the heading the answer put before it."""
    for candidate in (quote, quote.partition(": ")[2]):
        candidate = candidate.strip()
        if candidate and (at := text.find(candidate)) >= 0:
            return at, at + len(candidate)
    return None


def quoted_span(citation: Citation, doc: Document, quotes: Sequence[str]) -> Citation:
    """The citation narrowed to what the answer quotes from its passage: `text` stays exactly
    `source[start:end]`, without the heading lines above the quote (they are in `section`), and `page` is
    the quote's page (`page_end` when it runs onto the next)."""
    spans = [s for q in quotes for line in q.split("\n") if (s := _located(line, doc.page_content))]
    if not spans:
        return citation
    first, last = min(a for a, _ in spans), max(b for _, b in spans)
    meta = chunk_meta(doc)
    page, page_end = page_at(meta, first), page_at(meta, max(first, last - 1))
    return citation.model_copy(
        update={
            "start": citation.start + first,
            "end": citation.start + last,
            "text": doc.page_content[first:last],
            "page": page,
            "page_end": page_end if page_end != page else None,
        }
    )


_QUOTE = re.compile(r"\s*(.+?)\s*((?:\[\d+\])+)", re.S)


def quoted_spans(text: str, citations: Sequence[Citation], passages: Sequence[Document]) -> list[Citation]:
    """Each citation of an extractive answer narrowed to the snippets the answer quotes from it."""
    quotes: dict[int, list[str]] = {}
    for match in _QUOTE.finditer(text):
        for n in cited_numbers(match.group(2)):
            quotes.setdefault(n, []).append(match.group(1))
    return [quoted_span(c, passages[(c.passage or c.n) - 1], quotes.get(c.n, [])) for c in citations]


def retrieved_of(passages: Sequence[Document]) -> list[RetrievedPassage]:
    return [
        RetrievedPassage(
            **passage_of(n, doc).model_dump(),
            score=round(float(chunk_meta(doc).get("score", 0.0)), 6),
            similarity=round(float(chunk_meta(doc).get("similarity", 0.0)), 4),
            id=str(chunk_meta(doc).get("id") or doc.id or ""),
        )
        for n, doc in enumerate(passages, start=1)
    ]


class Numbering:
    """Markers in reading order: the first passage cited becomes [1], the next new one [2], whatever their
    search ranks; `passages` maps each marker back to its passage's rank."""

    def __init__(self) -> None:
        self.passages: dict[int, int] = {}  # marker -> passage rank
        self._markers: dict[int, int] = {}  # passage rank -> marker

    def marker(self, passage: int) -> int:
        if passage not in self._markers:
            self._markers[passage] = len(self._markers) + 1
            self.passages[self._markers[passage]] = passage
        return self._markers[passage]


def _rewrite(match: re.Match[str], count: int, numbering: Numbering) -> str:
    """`[7, 2]` with 9 passages, none cited before → ` [1][2]`; `[1, 12]` with 3 → ` [1]`; a marker citing
    nothing valid disappears with its space."""
    numbers = [int(x) for x in re.split(r"\s*[,;]\s*", match.group(1))]
    valid = [numbering.marker(n) for n in dict.fromkeys(numbers) if 1 <= n <= count]
    if not valid:
        return ""
    lead = " " if match.group(0).startswith((" ", "\n", "\t")) else ""
    return lead + "".join(f"[{n}]" for n in dict.fromkeys(valid))


def clean_markers(text: str, count: int, numbering: Numbering | None = None) -> str:
    numbering = numbering or Numbering()
    return MARKER.sub(lambda m: _rewrite(m, count, numbering), text)


def cited_numbers(text: str) -> list[int]:
    numbers: list[int] = []
    for match in MARKER.finditer(text):
        numbers.extend(int(x) for x in re.split(r"\s*[,;]\s*", match.group(1)))
    return list(dict.fromkeys(numbers))


def resolve(
    text: str, passages: Sequence[Document], numbering: Numbering | None = None
) -> tuple[str, list[Citation]]:
    """Clean text, its markers in reading order, and the passages it cites in that order. With the
    `numbering` a MarkerFilter streamed the text with, the text is already clean and numbered."""
    if numbering is None:
        numbering = Numbering()
        text = clean_markers(text, len(passages), numbering)
    ranks = numbering.passages
    citations = [
        passage_of(n, passages[ranks[n] - 1]).model_copy(update={"passage": ranks[n]})
        for n in cited_numbers(text)
        if n in ranks
    ]
    return text, citations


class MarkerFilter:
    """Streams text with invalid markers removed, so the streamed text equals the final answer text.

    Holds back only a possible marker in progress (`[`, `[1`, `[1,`) until it closes or cannot be one.
    """

    def __init__(self, count: int) -> None:
        self.count = count
        self.numbering = Numbering()
        self._pending = ""

    def feed(self, delta: str) -> str:
        text = self._pending + delta
        partial = _PARTIAL.search(text)
        cut = partial.start() if partial else len(text)
        self._pending = text[cut:]
        return clean_markers(text[:cut], self.count, self.numbering)

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        return clean_markers(rest, self.count, self.numbering)
