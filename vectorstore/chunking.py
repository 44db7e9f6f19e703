"""Split a text into chunks that remember where they came from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter


@dataclass(frozen=True)
class Chunk:
    """A slice `text == source_text[start:end]`, with an id that changes only when its content does."""

    id: str
    source: str
    text: str
    start: int
    end: int


def content_id(source: str, text: str, occurrence: int = 0) -> str:
    """Content-derived id: re-ingesting an unchanged chunk finds it already stored, wherever it moved."""
    digest = hashlib.sha256(f"{source}\0{text}".encode()).hexdigest()[:32]
    return digest if occurrence == 0 else f"{digest}-{occurrence}"


def make_splitter(chunk_size: int, chunk_overlap: int) -> RecursiveCharacterTextSplitter:
    # Paragraphs, then lines, then sentences, then words: chunks end on natural boundaries where they can.
    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=min(chunk_overlap, chunk_size // 2),
        separators=["\n\n", "\n \n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""],
        keep_separator="end",
        add_start_index=True,
    )


def split_text(source: str, text: str, splitter: RecursiveCharacterTextSplitter) -> list[Chunk]:
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
