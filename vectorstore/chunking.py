"""Split a document into chunks that keep to its sections and remember where they came from.

A chunk never mixes two sections: it carries its heading path (`section`), which is embedded and indexed
with it, so a passage deep inside a function's entry still says which function it documents. Blocks are
packed whole up to the chunk size; a block larger than that is split on sentence boundaries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter

from vectorstore.document import Span, StructuredText
from vectorstore.metadata import chunk_meta

# Bump when parsing or chunking changes what a file turns into: stored chunks of another layout are redone.
# 7: indented prose; 8: indented bullets; 9: 8 with a first-line bullet only; 10: PDFs without unmapped
# glyphs; 11: a word broken at a line end rejoined without its hyphen when whole it is an everyday word;
# 12: a .txt with underlined titles and no other reST markup read as plain text; 13: an indented line that
# goes on with its prose is no heading; 14: a line set left of an indented body is a heading. A stored chunk's
# stamp is `Chunker.layout`: this version with the chunk size and overlap.
LAYOUT_VERSION = "14"


@dataclass(frozen=True)
class Chunk:
    """A slice `text == source_text[start:end]`, with an id that changes only when its content does."""

    id: str
    source: str
    text: str
    start: int
    end: int
    section: str = ""
    page: int | None = None
    ocr: bool = False  # some of the text was recognised from a scanned page
    table_header: str = ""  # the header row of the table this chunk starts inside, when it is not in it
    page_breaks: str = ""  # pages that begin inside the chunk: "offset:page,..." (offsets in `text`)

    @property
    def contextual_text(self) -> str:
        """What is embedded and keyword-indexed: the heading path, a table's header, then the passage."""
        return with_context(self.text, self.section, self.table_header)


def with_context(text: str, section: str, table_header: str) -> str:
    """A passage as the index sees it: "Taxi | 40 EUR" means something under "Expense | Limit"."""
    head = "\n".join(part for part in (section, table_header) if part)
    return f"{head}\n\n{text}" if head else text


def passage_context(passage: Document, section: bool = True) -> str:
    """A retrieved passage as the index saw it (its section and table header above its text): what the
    answerer's name check, the support check and the prompt read."""
    meta = chunk_meta(passage)
    heading = str(meta.get("section", "")) if section else ""
    return with_context(passage.page_content, heading, str(meta.get("table_header", "")))


def content_id(source: str, text: str, occurrence: int = 0) -> str:
    """Content-derived id: re-ingesting an unchanged chunk finds it already stored, wherever it moved."""
    digest = hashlib.sha256(f"{source}\0{text}".encode()).hexdigest()[:32]
    return digest if occurrence == 0 else f"{digest}-{occurrence}"


def make_splitter(chunk_size: int, chunk_overlap: int) -> RecursiveCharacterTextSplitter:
    # Lines, then sentences, then words: a long block is cut where a reader would pause.
    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=min(chunk_overlap, chunk_size // 2),
        separators=["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""],
        keep_separator="end",
        add_start_index=True,
    )


def _sections(spans: list[Span]) -> list[list[Span]]:
    """Consecutive spans under one heading path; a lone heading joins the section that follows it."""
    groups: list[list[Span]] = []
    for span in spans:
        if groups and span.kind != "heading" and span.path == groups[-1][-1].path:
            groups[-1].append(span)
        elif groups and all(s.kind == "heading" for s in groups[-1]):
            groups[-1].append(span)  # "# Title" then "## Intro": one section, the deeper path
        else:
            groups.append([span])
    return groups


def _common(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _merge_siblings(groups: list[list[Span]], limit: int) -> list[tuple[list[Span], tuple[str, ...]]]:
    """Small neighbouring sections under one parent share a chunk (several short function entries); their
    headings stay in the chunk's text, its section is their common parent."""
    out: list[tuple[list[Span], tuple[str, ...]]] = []
    for group in groups:
        path = group[-1].path
        if out:
            prev, prev_path = out[-1]
            parent = _common(prev_path, path)
            close = len(parent) >= 1 and len(parent) >= max(len(prev_path), len(path)) - 1
            close = close and prev[-1].page == group[0].page  # a chunk's page is where it starts
            if close and group[-1].end - prev[0].start <= limit:
                out[-1] = (prev + group, parent)
                continue
        out.append((group, path))
    return out


def _page_breaks(group: list[Span], start: int, end: int, page: int | None) -> str:
    """Where a new page begins inside the chunk [start, end), as "offset:page" pairs: a citation of a
    sentence deep in the chunk names that sentence's page, not the chunk's first."""
    breaks, current = [], page
    for span in group:
        if start < span.start < end and span.page is not None and span.page != current:
            breaks.append(f"{span.start - start}:{span.page}")
            current = span.page
    return ",".join(breaks)


def layout_stamp(chunk_size: int, chunk_overlap: int, merge_sections: bool = True) -> str:
    """A stored chunk's `layout`: the parsing and chunking code's version and the chunker's sizes, so a
    changed `RAG_CHUNK_SIZE` re-chunks a file as a new version does, and a trace names what cut its chunks."""
    return f"{LAYOUT_VERSION}/{chunk_size}/{chunk_overlap}/{int(merge_sections)}"


class Chunker:
    """Packs a section's blocks into chunks of at most `chunk_size` characters."""

    def __init__(self, chunk_size: int, chunk_overlap: int, merge_sections: bool = True) -> None:
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.merge_sections = merge_sections
        self.splitter = make_splitter(chunk_size, chunk_overlap)

    @property
    def layout(self) -> str:
        """What a stored chunk's `layout` says it was cut by (`layout_stamp`)."""
        return layout_stamp(self.chunk_size, self.chunk_overlap, self.merge_sections)

    def pieces(self, group: list[Span], text: str) -> list[tuple[int, int, str]]:
        """(start, end, table header) of each chunk of one section; the header is set for a chunk that
        starts inside a table below its first row."""
        out: list[tuple[int, int, str]] = []
        current: list[Span] = []
        for span in group:
            if span.end - span.start > self.chunk_size:
                parts = self._split_block(span, text)
                if current and all(s.kind == "heading" for s in current) and parts:
                    parts[0] = (current[0].start, parts[0][1], parts[0][2])  # a heading stays with its block
                elif current:
                    out.append((current[0].start, current[-1].end, ""))
                current = []
                out += parts
            elif current and span.end - current[0].start > self.chunk_size:
                out.append((current[0].start, current[-1].end, ""))
                last = current[-1]
                small = last.kind != "heading" and last.end - last.start <= self.chunk_overlap
                current = [last, span] if small and span.end - last.start <= self.chunk_size else [span]
            else:
                current.append(span)
        if current:
            out.append((current[0].start, current[-1].end, ""))
        return out

    def _split_block(self, span: Span, text: str) -> list[tuple[int, int, str]]:
        body = text[span.start : span.end]
        header = body.split("\n", 1)[0] if span.kind == "table" else ""
        out = []
        for doc in self.splitter.create_documents([body]):
            offset = doc.metadata["start_index"]
            if offset < 0 or body[offset : offset + len(doc.page_content)] != doc.page_content:
                offset = body.find(doc.page_content)
                if offset < 0:
                    continue
            start = span.start + offset
            out.append((start, start + len(doc.page_content), header if start > span.start else ""))
        return out

    def split(self, source: str, document: StructuredText) -> list[Chunk]:
        chunks: list[Chunk] = []
        seen: dict[str, int] = {}
        text = document.text
        sections = _sections(document.spans)
        if self.merge_sections:
            groups = _merge_siblings(sections, self.chunk_size)
        else:
            groups = [(group, group[-1].path) for group in sections]
        for group, path in groups:
            section = " > ".join(p for p in path if p)
            for start, end, table_header in self.pieces(group, text):
                body = text[start:end]
                if not body.strip():
                    continue
                page = next((s.page for s in group if s.start <= start < s.end or s.start >= start), None)
                ocr = any(s.ocr and s.start < end and start < s.end for s in group)
                breaks = _page_breaks(group, start, end, page)
                key = f"{section}\0{body}"
                occurrence = seen.get(key, 0)
                seen[key] = occurrence + 1
                chunks.append(
                    Chunk(
                        content_id(source, key, occurrence),
                        source,
                        body,
                        start,
                        end,
                        section,
                        page,
                        ocr,
                        table_header,
                        breaks,
                    )
                )
        return chunks


def split_text(source: str, text: str, splitter: RecursiveCharacterTextSplitter) -> list[Chunk]:
    """Plain recursive splitting of an unstructured text (benchmarks and baselines)."""
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for doc in splitter.create_documents([text]):
        start = doc.metadata["start_index"]
        body = doc.page_content
        if start < 0 or text[start : start + len(body)] != body:  # never trust an offset we did not check
            start = text.find(body)
            if start < 0:
                continue
        occurrence = seen.get(body, 0)
        seen[body] = occurrence + 1
        chunks.append(Chunk(content_id(source, body, occurrence), source, body, start, start + len(body)))
    return chunks
