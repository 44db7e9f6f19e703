"""A passage cut into the pieces an answer can quote: sentences, list items, table rows, code blocks.

Passages are slices of the extracted text (see `vectorstore.document`): one paragraph per line, headings as
`# ...` lines, list items as `- ...` lines, tables as `| ... |` rows, code between ``` fences. So a line
break always ends a unit, and only paragraph lines are cut further into sentences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

UnitKind = Literal["sentence", "question", "heading", "item", "row", "code"]

# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) before whitespace and an
# upper-case letter, digit or opening quote.
_BOUNDARY = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_ABBREVIATION = re.compile(
    r"(?:\b[A-Z]|\bMr|\bMrs|\bMs|\bDr|\bSt|\be\.g|\bi\.e|\bvs|\bNo|\betc|\bcf|\bFig)\.$"
)
_HEADING = re.compile(r"^#{1,6} ")
_ITEM = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")
_ROW = re.compile(r"^\s*\|")


@dataclass
class Unit:
    kind: UnitKind
    start: int  # offset in the passage text
    text: str
    block: int  # units of one paragraph, list, table or code block share a block number

    @property
    def end(self) -> int:
        return self.start + len(self.text)


def split_sentences(text: str) -> list[tuple[int, str]]:
    """(offset, sentence) pairs of one line of prose; every sentence is exactly `text[offset:offset+len]`."""
    spans: list[tuple[int, str]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        piece = text[start : match.start()]
        if _ABBREVIATION.search(piece):
            continue  # "J.R. Smith", "e.g. this": not a sentence end
        spans.append((start, piece))
        start = match.end()
    spans.append((start, text[start:]))
    out = []
    for offset, piece in spans:
        stripped = piece.strip()
        if stripped:
            out.append((offset + piece.index(stripped), stripped))
    return out


def _line_kind(line: str) -> UnitKind | None:
    if _HEADING.match(line):
        return "heading"
    if _ITEM.match(line):
        return "item"
    if _ROW.match(line):
        return "row"
    return None


def _starts_inside_code(lines: list[str]) -> bool:
    """A passage cut from inside a code block has an odd number of fences, the first one closing: the
    lines before it read as code (no line ends like a sentence)."""
    fences = [i for i, line in enumerate(lines) if line.strip().startswith("```")]
    if len(fences) % 2 == 0 or fences[0] == 0:
        return False
    before = [line.strip() for line in lines[: fences[0]] if line.strip()]
    return not any(line.endswith((".", "!", "?", ":")) and " " in line for line in before)


def split_units(text: str) -> list[Unit]:
    """Every unit of a passage, in order. A passage cut inside a code block still keeps that code whole."""
    units: list[Unit] = []
    block, offset, code_start = 0, 0, -1
    previous_kind: str | None = None
    lines = text.split("\n")
    in_code = _starts_inside_code(lines)
    if in_code:
        code_start = 0
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("```"):
            if in_code:
                units.append(Unit("code", code_start, text[code_start : offset + len(line)], block))
                block += 1
            else:
                code_start = offset
            in_code = not in_code
        elif in_code:
            pass
        elif not stripped:
            block += 1
            previous_kind = None
        else:
            kind = _line_kind(line)
            if kind and previous_kind and kind != previous_kind:
                block += 1
            if kind in ("heading", "item", "row"):
                units.append(Unit(kind, offset + line.index(stripped), stripped, block))
                if kind == "heading":
                    block += 1
            else:
                for start, sentence in split_sentences(line):
                    sentence_kind: UnitKind = "question" if sentence.endswith("?") else "sentence"
                    units.append(Unit(sentence_kind, offset + start, sentence, block))
            previous_kind = kind or "sentence"
        offset += len(line) + 1
    if in_code and code_start >= 0 and text[code_start:].strip():
        units.append(Unit("code", code_start, text[code_start:].rstrip(), block))
    return units
