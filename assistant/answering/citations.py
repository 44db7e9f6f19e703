"""`[n]` markers: resolve them to passages, drop the ones that point nowhere, also while streaming."""

from __future__ import annotations

import re
from collections.abc import Sequence

from langchain_core.documents import Document
from pydantic import BaseModel, Field

MARKER = re.compile(r"\s?\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
_PARTIAL = re.compile(r"\s?\[[\d,; ]{0,12}$|\s$")


class Citation(BaseModel):
    """A passage the answer cites: `text == source_text[start:end]` (the source's extracted text)."""

    n: int
    source: str
    start: int
    end: int
    text: str
    section: str = Field("", description="Heading path of the passage: 'Title > Section > Subsection'.")
    page: int | None = Field(None, description="1-based page of the passage's start, for paged documents.")
    ocr: bool = Field(False, description="The passage was read by OCR from a scanned page.")


class RetrievedPassage(Citation):
    score: float
    similarity: float


def passage_of(n: int, doc: Document) -> Citation:
    meta = doc.metadata
    page = meta.get("page")
    return Citation(
        n=n,
        source=meta["source"],
        start=meta["start"],
        end=meta["end"],
        text=doc.page_content,
        section=str(meta.get("section", "")),
        page=int(page) if page is not None else None,
        ocr=bool(meta.get("ocr", False)),
    )


def retrieved_of(passages: Sequence[Document]) -> list[RetrievedPassage]:
    return [
        RetrievedPassage(
            **passage_of(n, doc).model_dump(),
            score=round(float(doc.metadata.get("score", 0.0)), 6),
            similarity=round(float(doc.metadata.get("similarity", 0.0)), 4),
        )
        for n, doc in enumerate(passages, start=1)
    ]


def _rewrite(match: re.Match[str], count: int) -> str:
    """`[1, 7]` with 3 passages → ` [1]`; a marker citing nothing valid disappears with its space."""
    numbers = [int(x) for x in re.split(r"\s*[,;]\s*", match.group(1))]
    valid = [n for n in numbers if 1 <= n <= count]
    if not valid:
        return ""
    lead = " " if match.group(0).startswith((" ", "\n", "\t")) else ""
    return lead + "".join(f"[{n}]" for n in dict.fromkeys(valid))


def clean_markers(text: str, count: int) -> str:
    return MARKER.sub(lambda m: _rewrite(m, count), text)


def cited_numbers(text: str) -> list[int]:
    numbers: list[int] = []
    for match in MARKER.finditer(text):
        numbers.extend(int(x) for x in re.split(r"\s*[,;]\s*", match.group(1)))
    return list(dict.fromkeys(numbers))


def resolve(text: str, passages: Sequence[Document]) -> tuple[str, list[Citation]]:
    """Clean text and the passages it cites, in order of first citation."""
    clean = clean_markers(text, len(passages))
    citations = [passage_of(n, passages[n - 1]) for n in cited_numbers(clean) if 1 <= n <= len(passages)]
    return clean, citations


class MarkerFilter:
    """Streams text with invalid markers removed, so the streamed text equals the final answer text.

    Holds back only a possible marker in progress (`[`, `[1`, `[1,`) until it closes or cannot be one.
    """

    def __init__(self, count: int) -> None:
        self.count = count
        self._pending = ""

    def feed(self, delta: str) -> str:
        text = self._pending + delta
        partial = _PARTIAL.search(text)
        cut = partial.start() if partial else len(text)
        self._pending = text[cut:]
        return clean_markers(text[:cut], self.count)

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        return clean_markers(rest, self.count)
