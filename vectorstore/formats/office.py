"""Slide decks and spreadsheets: .pptx (python-pptx), .xlsx (openpyxl), .csv/.tsv (the csv module).

- A slide is a heading (its title, or "Slide N") followed by its text boxes top to bottom (a box of several
  paragraphs is a list, nested by indent level), its tables as `| cell | cell |` rows, then its speaker notes.
  `page` is the slide number.
- A sheet is a heading (the sheet name; for a csv, the file name) followed by its rows. When the first row
  is a header (distinct text cells), every row is written with it, one row a line: `Region: North; Q1: 1204;
  Q2: 1310`, so any chunk of the sheet says what its numbers are. Without a header, rows are `| a | b |`.
  Single-cell rows above the table (a title, a note) are paragraphs. `page` is the sheet's tab number.

Bounds: at most `MAX_ROWS` non-empty rows a file, `MAX_ROWS_WALKED` rows and `MAX_CELLS` cells a file counting
empty ones (a sheet whose only cell is in row 1,048,576 is a million empty rows to walk: N6), and
`MAX_CSV_BYTES` a csv (over them: LoadError); columns past `MAX_COLUMNS` are left out. A sheet whose declared
size is over the budget is refused before its rows are read.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vectorstore.document import Block, Outline, collapse, heading_line
from vectorstore.errors import LoadError

MAX_ROWS = 20_000  # non-empty rows a spreadsheet file may have (all sheets); ~1.5 MB of text, ~2k chunks
MAX_COLUMNS = 200
MAX_ROWS_WALKED = 200_000  # rows a file may span, empty ones included (openpyxl yields every one)
MAX_CELLS = 2_000_000  # cells walked a file, empty ones included (20,000 rows of 100 columns)
MAX_CSV_BYTES = 50 * 2**20  # read whole before parsing; an xlsx is bounded by vectorstore.safety
ROWS_PER_BLOCK_CHARS = 600  # rows grouped into blocks of about this size; the chunker packs blocks
CSV_SNIFF_BYTES = 64 * 1024

_NUMBER = re.compile(r"^[-+]?[$€£¥]?\s*[\d.,]+\s*%?$")


class TooManyRows(ValueError):
    pass


FAR_CELLS = (
    "a cell far down or to the right makes every row up to it count: delete the far cells, or keep the part "
    "you need"
)


@dataclass
class Budget:
    """What is left of one file's allowance while its sheets are read: rows with text, rows walked (empty
    ones too) and cells walked (empty ones too)."""

    rows: int
    walked: int
    cells: int

    def spend(self, cells: int, filled: bool) -> None:
        self.walked -= 1
        self.cells -= cells
        self.rows -= filled
        if self.walked < 0 or self.cells < 0:
            raise TooManyRows(
                f"it has more than {MAX_ROWS_WALKED:,} rows or {MAX_CELLS:,} cells counting empty ones (the "
                f"limit); {FAR_CELLS}"
            )
        if self.rows < 0:
            raise TooManyRows(
                f"it has more than {MAX_ROWS:,} rows (the limit); split it or keep the part you need"
            )


# -- pptx --------------------------------------------------------------------------------------------------
def parse_pptx(path: Path) -> tuple[list[Block], str]:
    from pptx import Presentation

    deck = Presentation(str(path))
    outline = Outline()
    blocks: list[Block] = []
    for number, slide in enumerate(deck.slides, start=1):
        title_shape = slide.shapes.title
        has_title = title_shape is not None and title_shape.has_text_frame
        title = _text(title_shape.text_frame.text) if has_title else ""
        heading = title or f"Slide {number}"
        where = outline.enter(1, heading)
        blocks.append(Block("heading", heading_line(1, heading), where, number))
        for shape in _ordered(slide.shapes):
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            blocks += _shape_blocks(shape, where, number)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            for line in slide.notes_slide.notes_text_frame.text.splitlines():
                if _text(line):
                    blocks.append(Block("paragraph", _text(line), where, number))
    return blocks, _text(deck.core_properties.title or "")


def _text(value: str) -> str:
    return collapse(value.replace("\v", " "))


def _ordered(shapes: Iterable[Any]) -> list[Any]:
    return sorted(shapes, key=lambda s: (s.top or 0, s.left or 0))


def _shape_blocks(shape: Any, path: tuple[str, ...], number: int) -> list[Block]:
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
        return [b for inner in _ordered(shape.shapes) for b in _shape_blocks(inner, path, number)]
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = [[_text(cell.text).replace("|", "/") for cell in row.cells] for row in shape.table.rows]
        rows = [row for row in rows if any(row)]
        if not rows:
            return []
        return [Block("table", "\n".join("| " + " | ".join(row) + " |" for row in rows), path, number)]
    if not getattr(shape, "has_text_frame", False) or not shape.has_text_frame:
        return []
    paragraphs = [(p.level, _text(p.text)) for p in shape.text_frame.paragraphs]
    paragraphs = [(level, text) for level, text in paragraphs if text]
    if not paragraphs:
        return []
    if len(paragraphs) == 1:
        return [Block("paragraph", paragraphs[0][1], path, number)]
    items = ["  " * min(level, 4) + "- " + text for level, text in paragraphs]
    return [Block("list", "\n".join(items), path, number)]


# -- spreadsheets ------------------------------------------------------------------------------------------
def parse_xlsx(path: Path) -> tuple[list[Block], str]:
    from openpyxl import load_workbook

    book = load_workbook(str(path), read_only=True, data_only=True)
    try:
        blocks: list[Block] = []
        budget = Budget(MAX_ROWS, MAX_ROWS_WALKED, MAX_CELLS)
        for sheet in book.worksheets:
            number = book.sheetnames.index(sheet.title) + 1
            width = min(MAX_COLUMNS, sheet.max_column or MAX_COLUMNS)  # rows are padded to this width
            _check_declared_size(sheet, width, budget)
            rows = sheet.iter_rows(max_col=width, values_only=True)
            blocks += sheet_blocks(sheet.title, number, rows, budget, letters=True)
        return blocks, _text(book.properties.title or "")
    except TooManyRows as exc:
        raise _load_error(path, exc) from exc
    finally:
        book.close()


def parse_csv(path: Path) -> list[Block]:
    size = path.stat().st_size
    if size > MAX_CSV_BYTES:
        raise _load_error(
            path,
            ValueError(f"it is {size / 2**20:.1f} MB, more than the limit of {MAX_CSV_BYTES // 2**20} MB"),
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")  # what spreadsheet programs write when not UTF-8
    sample = text[:CSV_SNIFF_BYTES]
    default = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel_tab if default == "\t" else csv.excel
    rows = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        budget = Budget(MAX_ROWS, MAX_ROWS_WALKED, MAX_CELLS)
        return sheet_blocks(path.name, 1, (row[:MAX_COLUMNS] for row in rows), budget, letters=False)
    except TooManyRows as exc:
        raise _load_error(path, exc) from exc


def _check_declared_size(sheet: Any, width: int, budget: Budget) -> None:
    """TooManyRows before any row is read when the sheet's declared size (its `<dimension>`) is over the
    cells left: reading would walk every empty row up to the last one."""
    height = sheet.max_row or 0
    if height > budget.walked or height * width > budget.cells:
        raise TooManyRows(
            f"its sheet '{_text(sheet.title)}' spans {height:,} rows of {width:,} column(s), more than the "
            f"limit of {MAX_ROWS_WALKED:,} rows or {MAX_CELLS:,} cells counting empty ones; {FAR_CELLS}"
        )


def _load_error(path: Path, exc: Exception) -> Exception:
    return LoadError(f"refused {path.suffix.lower()} file: {exc}")


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="minutes" if value.second == 0 else "seconds")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return _text(str(value)).replace("|", "/")


def _column_name(index: int, letters: bool) -> str:
    if not letters:
        return f"Column {index + 1}"
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return f"Column {name}"


def _is_header(raw: tuple[Any, ...] | list[Any], cells: list[str]) -> bool:
    filled = [(value, text) for value, text in zip(raw, cells, strict=False) if text]
    if len(filled) < 2 or len(filled) < len(cells) / 2:
        return False
    texts = [text for _, text in filled]
    words = [isinstance(value, str) and not _NUMBER.match(text) for value, text in filled]
    # Distinct labels, mostly words: "Region, 2021, 2022" is a header, "North, 1204, 1310" is not.
    return words[0] and sum(words) >= 0.6 * len(words) and len(set(texts)) == len(texts)


def _rows(rows: Iterable[Any], budget: Budget) -> Iterator[tuple[Any, list[str]]]:
    for raw in rows:
        if all(value is None or value == "" for value in raw):  # an empty row costs its cells, no text
            budget.spend(max(len(raw), 1), filled=False)
            continue
        cells = [cell_text(value) for value in raw]
        while cells and not cells[-1]:
            cells.pop()
        budget.spend(max(len(raw), 1), filled=bool(cells))
        if cells:
            yield raw, cells


def sheet_blocks(
    name: str, number: int, rows: Iterable[Any], budget: Budget, letters: bool = True
) -> list[Block]:
    """One sheet: a heading, leading one-cell rows as paragraphs, then the rows, with their header if any."""
    title = _text(name) or f"Sheet {number}"
    path = (title,)
    blocks = [Block("heading", heading_line(1, title), path, number)]
    header: list[str] | None = None
    started = False
    lines: list[str] = []
    size = 0

    def flush() -> None:
        nonlocal lines, size
        if lines:
            blocks.append(Block("table", "\n".join(lines), path, number))
        lines, size = [], 0

    for raw, cells in _rows(rows, budget):
        if not started:
            if sum(1 for c in cells if c) == 1 and len(cells) == 1:
                blocks.append(Block("paragraph", cells[0], path, number))  # a title or note above the table
                continue
            started = True
            if _is_header(raw, cells):
                header = [c or _column_name(i, letters) for i, c in enumerate(cells)]
                continue
        if header is not None:
            names = header + [_column_name(i, letters) for i in range(len(header), len(cells))]
            line = "; ".join(f"{names[i]}: {c}" for i, c in enumerate(cells) if c)
        else:
            line = "| " + " | ".join(cells) + " |"
        if lines and size + len(line) > ROWS_PER_BLOCK_CHARS:
            flush()
        lines.append(line)
        size += len(line) + 1
    flush()
    if header is not None and len(blocks) == 1:  # only a header row: keep it
        blocks.append(Block("table", "| " + " | ".join(header) + " |", path, number))
    return blocks if len(blocks) > 1 else []
