"""PDFs page by page: text as paragraphs, ruled tables as `| cell | cell |` rows, scanned pages through OCR.

pdfplumber (pdfminer.six) reads each page: tables found from their ruling lines become one `table` block
(header row first, one row per line), the rest of the page becomes text lines, grouped into paragraphs where
the vertical gap or the font size changes, and parsed like plain text (headings, lists, unwrapped
paragraphs). Tables and text keep their top-to-bottom order. Every block carries its 1-based page. Running
headers and footers (a line repeated at the top or bottom of most pages) and page numbers are left out.

A page without a text layer (under `MIN_TEXT_CHARS` characters, and mostly image) is rendered with pypdfium2
and OCR'd (`vectorstore.formats.ocr`, bounded per file; its images bounded in pixels before rendering); its
blocks are marked `ocr`.

If pdfplumber fails on a file, pypdf reads its text instead (no tables), page by page as before.
"""

from __future__ import annotations

import itertools
import logging
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vectorstore.document import Block, Outline, collapse
from vectorstore.formats import ocr
from vectorstore.formats.plain import parse_plain
from vectorstore.safety import check_pdf_images

log = logging.getLogger(__name__)

MIN_TEXT_CHARS = 30  # fewer non-space characters than this on a page that is mostly image: a scan
MIN_IMAGE_COVER = 0.25  # share of the page an image must cover for the page to count as a scan
# A gap wider than 0.15 em between two characters is a space. pdfplumber's default (3 pt whatever the size)
# glues the words of tightly set, justified text that positions words instead of writing spaces.
TEXT_OPTIONS: dict[str, Any] = {"x_tolerance_ratio": 0.15}
# pdfminer writes "(cid:12)" for a glyph its font does not map to a character (music notation, symbol and
# dingbat fonts): no reader can use it, and runs of it quoted in an answer or embedded with a chunk are noise.
_UNMAPPED_GLYPH = re.compile(r"\(cid:\d+\)")
_LIGATURE = re.compile(r"(?<=[^\W\d_])\(cid:\d+\)(?=[^\W\d_])")


@dataclass
class _Piece:
    kind: str  # "text" (lines, paragraphs separated by blank lines), "table" (rendered rows) or "ocr"
    text: str


@dataclass
class _Page:
    number: int
    pieces: list[_Piece]
    scanned: bool = False
    lines: list[dict[str, Any]] = field(default_factory=list)  # text, top, bottom, size (pdfplumber only)
    tables: list[tuple[float, list[list[str]]]] = field(default_factory=list)  # (top, rows)


# `on_page(done, total)`: pages read so far of the file's pages (an upload's progress while it is parsed).
PageProgress = Callable[[int, int], None]


def _no_progress(done: int, total: int) -> None:
    pass


def parse_pdf(path: Path, on_page: PageProgress | None = None) -> list[Block]:
    on_page = on_page or _no_progress
    try:
        pages = _read_pdfplumber(path, on_page)
    except Exception as exc:  # pdfminer raises anything on a malformed file; pypdf is more forgiving
        log.warning(
            "pdfplumber failed on %s (%s: %s); reading it with pypdf", path.name, type(exc).__name__, exc
        )
        pages = _read_pypdf(path, on_page)
    _ocr_scans(path, pages)
    return _blocks(pages)


# -- pdfplumber --------------------------------------------------------------------------------------------
def _read_pdfplumber(path: Path, on_page: PageProgress) -> list[_Page]:
    import pdfplumber

    pages: list[_Page] = []
    with pdfplumber.open(str(path)) as pdf:
        total = len(pdf.pages)
        for page in pdf.pages:
            try:
                pages.append(_read_page(page))
            finally:
                page.close()  # frees the page's parsed objects: memory stays flat over long files
            on_page(len(pages), total)
    _drop_running_lines(pages)
    for read in pages:
        if not read.scanned:
            read.pieces = _compose(read)
    return pages


def _readable(text: str) -> str:
    """The text without unmapped glyphs; nothing when they were all a line held besides spaces and
    punctuation (a staff of music, a row of symbols)."""
    if "(cid:" not in text:
        return text
    text = _LIGATURE.sub("", text)  # "con(cid:415)guration": a ligature glyph, one word either side
    left = collapse(_UNMAPPED_GLYPH.sub(" ", text))
    return left if re.search(r"\w", left) else ""


def _inside(obj: dict[str, Any], bbox: tuple[float, float, float, float]) -> bool:
    x = (obj["x0"] + obj["x1"]) / 2
    y = (obj["top"] + obj["bottom"]) / 2
    return bbox[0] <= x <= bbox[2] and bbox[1] <= y <= bbox[3]


def _read_page(page: Any) -> _Page:
    tables = []
    for table in page.find_tables():
        rows = _table_rows(table.extract(**TEXT_OPTIONS))
        if len(rows) >= 2 and max(len(r) for r in rows) >= 2:  # a box drawn round a paragraph is no table
            tables.append((table.bbox, rows))
    boxes = [bbox for bbox, _ in tables]

    def outside_tables(obj: dict[str, Any]) -> bool:
        return obj.get("object_type") != "char" or not any(_inside(obj, box) for box in boxes)

    text_page = page.filter(outside_tables) if boxes else page
    lines = [
        {"text": _readable(line["text"]), "top": line["top"], "bottom": line["bottom"], "size": _size(line)}
        for line in text_page.extract_text_lines(layout=False, strip=True, return_chars=True, **TEXT_OPTIONS)
    ]  # without their chars: a long PDF's pages are all held until the running headers are known
    lines = [line for line in lines if line["text"]]
    chars = sum(len(line["text"].replace(" ", "")) for line in lines)
    if chars < MIN_TEXT_CHARS and not tables and _image_cover(page) >= MIN_IMAGE_COVER:
        return _Page(page.page_number, [], scanned=True)
    return _Page(page.page_number, [], lines=lines, tables=[(bbox[1], rows) for bbox, rows in tables])


_PAGE_NUMBER = re.compile(
    r"(?:page\s*)?[-–(]?\s*(?:\d{1,5}|[ivx]{1,5})\s*[-–)]?(?:\s*(?:/|of)\s*\d{1,5})?", re.I
)


def _drop_running_lines(pages: list[_Page]) -> None:
    """Running headers and footers (the same line at the top or bottom of most pages, numbers aside) and bare
    page numbers are dropped: they would cut sentences that run on across pages and read as headings."""
    texts = [page for page in pages if page.lines]
    counts: dict[str, int] = {}
    for page in texts:
        for key in {_edge_key(page.lines[0]), _edge_key(page.lines[-1])}:
            counts[key] = counts.get(key, 0) + 1
    running = {key for key, n in counts.items() if n >= 3 and n >= 0.5 * len(texts)}
    for page in texts:
        for index in (-1, 0):
            if page.lines and (
                _edge_key(page.lines[index]) in running or _PAGE_NUMBER.fullmatch(page.lines[index]["text"])
            ):
                page.lines.pop(index)


def _edge_key(line: dict[str, Any]) -> str:
    return re.sub(r"\d+", "#", line["text"]).strip().lower()


def _compose(page: _Page) -> list[_Piece]:
    """Tables and runs of text lines, top to bottom."""
    items: list[tuple[float, int, Any]] = [(line["top"], 0, line) for line in page.lines]
    items += [(top, 1, rows) for top, rows in page.tables]
    items.sort(key=lambda item: (item[0], item[1]))
    pieces: list[_Piece] = []
    run: list[dict[str, Any]] = []
    for _, is_table, item in items:
        if is_table:
            if run:
                pieces.append(_Piece("text", _paragraphs(run)))
                run = []
            pieces.append(_Piece("table", "\n".join("| " + " | ".join(row) + " |" for row in item)))
        else:
            run.append(item)
    if run:
        pieces.append(_Piece("text", _paragraphs(run)))
    return pieces


def _image_cover(page: Any) -> float:
    area = float(page.width * page.height) or 1.0
    covered = sum(max(0.0, (im["x1"] - im["x0"]) * (im["bottom"] - im["top"])) for im in page.images)
    return min(1.0, covered / area)


def _table_rows(raw: list[list[str | None]]) -> list[list[str]]:
    rows = []
    for row in raw:
        cells = [_readable(collapse(cell or "")).replace("|", "/") for cell in row]
        if any(cells):
            rows.append(cells)
    if not rows:
        return []
    # Columns empty in every row (merged cells leave them) are dropped.
    keep = [i for i in range(max(len(r) for r in rows)) if any(i < len(r) and r[i] for r in rows)]
    return [[row[i] if i < len(row) else "" for i in keep] for row in rows]


def _size(line: dict[str, Any]) -> float:
    sizes = [c.get("size", 0.0) for c in line.get("chars", []) if c.get("text", "").strip()]
    return statistics.median(sizes) if sizes else line["bottom"] - line["top"]


def _paragraphs(lines: list[dict[str, Any]]) -> str:
    """Lines joined, with a blank line where a paragraph ends: a gap wider than the usual line spacing, or a
    change of font size (a heading)."""
    gaps = [b["top"] - a["bottom"] for a, b in itertools.pairwise(lines)]
    usual = statistics.median(gaps) if gaps else 0.0
    out = [lines[0]["text"]]
    for previous, line, gap in zip(lines, lines[1:], gaps, strict=False):
        size, before = line["size"], previous["size"]
        wide = gap > max(1.5 * usual, 0.3 * min(size, before)) + 0.5
        resized = abs(size - before) > 0.15 * max(size, before)
        out.append(("\n\n" if wide or resized else "\n") + line["text"])
    return "".join(out)


# -- pypdf fallback ----------------------------------------------------------------------------------------
def _read_pypdf(path: Path, on_page: PageProgress) -> list[_Page]:
    from pypdf import PdfReader

    pages = []
    read = PdfReader(str(path)).pages
    for number, page in enumerate(read, start=1):
        text = page.extract_text() or ""
        scanned = len("".join(text.split())) < MIN_TEXT_CHARS and bool(page.images)
        pages.append(_Page(number, [] if scanned else [_Piece("text", text)], scanned=scanned))
        on_page(number, len(read))
    return pages


# -- OCR and blocks ----------------------------------------------------------------------------------------
def _ocr_scans(path: Path, pages: list[_Page]) -> None:
    scans = [page for page in pages if page.scanned]
    if not scans:
        return
    ocr.check_budget(len(scans))
    check_pdf_images(path, [page.number for page in scans])  # before pdfium decodes them whole
    import pypdfium2

    reader = ocr.PageOcr()
    document = pypdfium2.PdfDocument(str(path))
    try:
        for page in scans:
            page.pieces = [_Piece("ocr", reader.pdf_page(document, page.number - 1))]
    finally:
        document.close()
    log.info("OCR: %d scanned page(s) of %s", reader.pages, path.name)


def _blocks(pages: list[_Page]) -> list[Block]:
    outline = Outline()
    blocks: list[Block] = []
    for page in pages:
        for piece in page.pieces:
            if piece.kind == "table":
                blocks.append(Block("table", piece.text, outline.path, page.number))
            elif piece.kind == "ocr":
                recognised = parse_plain(piece.text, page=page.number, outline=outline)
                blocks += [replace(block, ocr=True) for block in recognised]
            else:
                blocks += parse_plain(piece.text, page=page.number, outline=outline)
    return blocks
