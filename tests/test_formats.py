"""Documents as people have them: paged PDFs with tables, scans, slide decks, spreadsheets and CSV files.

Every file is built at test time (reportlab, pypdfium2, python-pptx, openpyxl); one container ingests them all
once, with the real embedding model, and answers from them with the offline extractive answerer.
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from vectorstore.errors import LoadError
from vectorstore.loaders import load_document

KEEPER = "The Quellport lighthouse keeper is named Oswin Tarrant and has served there since 1987."
VAULT = "The storage vault at Brindlecombe holds exactly 4,312 sealed crates of winter barley."
SLIDE_FACT = "The robotics lab budget for next year is 87,500 crowns."


# -- builders ----------------------------------------------------------------------------------------------
def make_report_pdf(path: Path) -> None:
    """Three pages: prose on page 1, a ruled table on page 2, the keeper's name on page 3; a running header
    and a page number on every page."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Table, TableStyle

    styles = getSampleStyleSheet()
    body = styles["BodyText"]
    grid = TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black)])
    story = [
        Paragraph("Quellport harbour report", styles["Title"]),
        Paragraph(
            "The harbour of Quellport was founded by fishermen. Its docks were rebuilt twice after storms, "
            "and its fleet now counts forty trawlers.",
            body,
        ),
        PageBreak(),
        Paragraph("Cargo", styles["Heading2"]),
        Paragraph("The cargo table lists the monthly tonnage handled at the docks.", body),
        Table(
            [["Month", "Tonnage", "Ships"], ["January", "1,204", "31"], ["February", "987", "27"]], style=grid
        ),
        Paragraph("Tonnage fell in February because of the ice.", body),
        PageBreak(),
        Paragraph("Lighthouse", styles["Heading2"]),
        Paragraph(KEEPER, body),
    ]

    def running(canvas, document) -> None:
        canvas.setFont("Helvetica", 8)
        canvas.drawString(72, A4[1] - 40, "Quellport harbour authority, internal use")
        canvas.drawString(A4[0] / 2, 30, str(document.page))

    SimpleDocTemplate(str(path), pagesize=A4).build(story, onFirstPage=running, onLaterPages=running)


def make_scanned_pdf(path: Path) -> None:
    """A page of text rendered to an image, and a PDF holding only that image: no text layer at all."""
    import pypdfium2
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    styles = getSampleStyleSheet()
    page = io.BytesIO()
    SimpleDocTemplate(page, pagesize=A4).build(
        [Paragraph("Granary memo", styles["Heading1"]), Paragraph(VAULT, styles["BodyText"])]
    )
    document = pypdfium2.PdfDocument(page.getvalue())
    image = document[0].render(scale=200 / 72, grayscale=True).to_pil()
    document.close()
    scan = canvas.Canvas(str(path), pagesize=A4)
    scan.drawImage(ImageReader(image), 0, 0, *A4)
    scan.save()


def make_deck(path: Path) -> None:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Welcome"
    slide.placeholders[1].text_frame.text = "This deck presents the plans of the engineering school."
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Laboratory budgets"
    frame = slide.placeholders[1].text_frame
    frame.text = "Budgets are approved by the faculty board."
    item = frame.add_paragraph()
    item.text = SLIDE_FACT
    item.level = 1
    slide.notes_slide.notes_text_frame.text = "Mention that the auditors checked the figures."
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Teams"
    table = slide.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1)).table
    for (row, col), text in {(0, 0): "Team", (0, 1): "Members", (1, 0): "Rover", (1, 1): "12"}.items():
        table.cell(row, col).text = text
    deck.save(str(path))


def make_workbook(path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    summary = book.active
    summary.title = "Summary"
    summary.append(["Inventory of the northern depots"])
    summary.append([])
    summary.append(["Item", "Count", "Checked"])
    summary.append(["Anvils", 12, dt.datetime(2024, 3, 1)])
    depots = book.create_sheet("Warehouses")
    depots.append(["Warehouse", "City", "Capacity in pallets"])
    depots.append(["W-17", "Tromsdal", 4800])
    depots.append(["W-18", "Karvik", 1250])
    book.save(str(path))


CREW_CSV = "name;role;home port\nIlse Varga;harbour pilot;Pier Nine\nTomas Eke;ship archivist;Saltmarsh\n"


# -- one ingested store ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("formats") / "docs"
    folder.mkdir()
    make_report_pdf(folder / "report.pdf")
    make_scanned_pdf(folder / "granary-scan.pdf")
    make_deck(folder / "plans.pptx")
    make_workbook(folder / "depots.xlsx")
    (folder / "crew.csv").write_text(CREW_CSV, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def container(docs: Path) -> Iterator[object]:
    if shutil.which("tesseract") is None:
        pytest.fail(
            "Debian's tesseract-ocr is needed for scanned PDFs: `make ocr` (or apt-get install tesseract-ocr)"
        )
    from assistant.settings import Settings
    from tests.conftest import build_shared

    built = build_shared(Settings(data_dir=docs.parent / "data"))
    report = built.ingest.ingest([docs])
    assert not report.skipped, report.skipped
    assert report.files_seen == 5
    yield built


def cited(answer, source: str):
    matches = [c for c in answer.citations if c.source.endswith(source)]
    assert matches, (answer.text, [(c.source, c.page) for c in answer.citations])
    return matches[0]


# -- answered and cited with their page, slide or sheet ---------------------------------------------------
def test_a_page_three_fact_is_cited_with_page_three(container) -> None:
    answer = container.chat.answer("Who is the keeper of the Quellport lighthouse?")
    assert "Oswin Tarrant" in answer.text, answer.text
    citation = cited(answer, "report.pdf")
    assert citation.page == 3 and not citation.ocr
    assert citation.section.endswith("Lighthouse")
    assert all(p.page is not None for p in answer.retrieved if p.source.endswith(".pdf"))


def test_a_scanned_pdf_is_answered_from_its_ocr_text_and_marked_ocr(container) -> None:
    answer = container.chat.answer("How many sealed crates of barley does the Brindlecombe vault hold?")
    assert "4,312" in answer.text, answer.text
    citation = cited(answer, "granary-scan.pdf")
    assert citation.ocr is True and citation.page == 1
    stored = [c for c in container.store.all_chunks() if c.source.endswith("granary-scan.pdf")]
    assert stored and all(c.metadata.get("ocr") is True for c in stored)
    assert not any(
        c.metadata.get("ocr") for c in container.store.all_chunks() if c.source.endswith("report.pdf")
    )


def test_a_slide_fact_is_cited_with_its_slide_number(container) -> None:
    answer = container.chat.answer("What is the budget of the robotics lab next year?")
    assert "87,500 crowns" in answer.text, answer.text
    citation = cited(answer, "plans.pptx")
    assert citation.page == 2 and citation.section == "Laboratory budgets"


def test_a_sheet_fact_is_cited_with_its_sheet_number(container) -> None:
    answer = container.chat.answer("What is the capacity in pallets of warehouse W-18 in Karvik?")
    assert "1250" in answer.text, answer.text
    citation = cited(answer, "depots.xlsx")
    assert citation.page == 2 and citation.section == "Warehouses"
    assert "Warehouse: W-18; City: Karvik; Capacity in pallets: 1250" in citation.text


def test_a_csv_row_is_answered_with_its_header(container) -> None:
    answer = container.chat.answer("What is the role of Ilse Varga?")
    citation = cited(answer, "crew.csv")
    assert "name: Ilse Varga; role: harbour pilot; home port: Pier Nine" in citation.text
    assert "harbour pilot" in answer.text, answer.text


# -- structure of each format ------------------------------------------------------------------------------
def test_a_pdf_table_comes_out_as_rows_header_first_between_its_paragraphs(docs: Path) -> None:
    document = load_document(docs / "report.pdf")
    table = "| Month | Tonnage | Ships |\n| January | 1,204 | 31 |\n| February | 987 | 27 |"
    assert table in document.text
    before = document.text.index("The cargo table lists")
    after = document.text.index("Tonnage fell in February")
    assert before < document.text.index(table) < after
    spans = [s for s in document.spans if s.kind == "table"]
    assert len(spans) == 1 and spans[0].page == 2 and document.text[spans[0].start : spans[0].end] == table
    assert [s.page for s in document.spans if "Oswin Tarrant" in document.text[s.start : s.end]] == [3]
    headings = [document.text[s.start : s.end] for s in document.spans if s.kind == "heading"]
    assert headings == ["# Quellport harbour report", "## Cargo", "## Lighthouse"]
    assert "internal use" not in document.text  # the running header, and the page numbers, are left out
    assert document.text.endswith(KEEPER)


def test_pdfplumber_failing_falls_back_to_pypdf_with_pages(
    docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vectorstore.formats import pdf

    def broken(path: Path) -> list:
        raise ValueError("pdfminer could not parse it")

    monkeypatch.setattr(pdf, "_read_pdfplumber", broken)
    document = load_document(docs / "report.pdf")
    assert [s.page for s in document.spans if "Oswin Tarrant" in document.text[s.start : s.end]] == [3]


def glyph_pdf(path: Path, lines: list[list[tuple[str, str]]]) -> None:
    """A one-page PDF of lines of segments: ("text", s) in Helvetica, ("glyphs", hex codes) in a font
    without a ToUnicode map, as music and symbol fonts often are: pdfminer reads those "(cid:N)"."""
    ops = []
    for i, line in enumerate(lines):
        shown = " ".join(
            f"/F1 12 Tf ({value}) Tj" if kind == "text" else f"/F2 12 Tf <{value}> Tj" for kind, value in line
        )
        ops.append(f"BT 72 {720 - 20 * i} Td {shown} ET")
    content = "\n".join(ops).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 7 0 R"
        b" /Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Font /Subtype /Type0 /BaseFont /Glyphs /Encoding /Identity-H /DescendantFonts [6 0 R] >>",
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /Glyphs /DW 600"
        b" /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))


def test_glyphs_a_pdf_font_does_not_map_to_characters_are_left_out(tmp_path: Path) -> None:
    """A staff of music between two sentences is no "(cid:2)(cid:2)(cid:5)" in the text, and a symbol amid
    words leaves the words."""
    glyph_pdf(
        tmp_path / "fugue.pdf",
        [
            [("text", "The fugue opens in G minor.")],
            [("glyphs", "000200020005000300030003")],
            [("text", "Its subject has twelve notes.")],
            [("text", "Engraved by "), ("glyphs", "000D"), ("text", " Ada Quill.")],
            [("text", "See the con"), ("glyphs", "01A0"), ("text", "guration page.")],
        ],
    )
    document = load_document(tmp_path / "fugue.pdf")
    assert "cid" not in document.text, document.text
    assert "The fugue opens in G minor." in document.text
    assert "Its subject has twelve notes." in document.text
    assert "Engraved by Ada Quill." in document.text
    assert "See the conguration page." in document.text  # a ligature glyph: one word, if one letter short


def test_slides_are_headings_with_their_items_notes_and_tables(docs: Path) -> None:
    document = load_document(docs / "plans.pptx")
    text = document.text
    assert "# Laboratory budgets\n\n- Budgets are approved by the faculty board.\n  - " + SLIDE_FACT in text
    assert "Mention that the auditors checked the figures." in text
    assert "| Team | Members |\n| Rover | 12 |" in text
    assert {s.page for s in document.spans} == {1, 2, 3}


def test_sheets_keep_their_header_on_every_row(docs: Path) -> None:
    document = load_document(docs / "depots.xlsx")
    assert document.text.startswith(
        "# Summary\n\nInventory of the northern depots\n\nItem: Anvils; Count: 12;"
    )
    assert "Checked: 2024-03-01" in document.text
    assert "# Warehouses\n\nWarehouse: W-17; City: Tromsdal; Capacity in pallets: 4800\n" in document.text
    assert {s.page for s in document.spans if "W-17" in document.text[s.start : s.end]} == {2}


def test_a_csv_without_a_header_keeps_its_rows_as_table_rows(tmp_path: Path) -> None:
    (tmp_path / "numbers.csv").write_text("1,2,3\n4,5,6\n", encoding="utf-8")
    document = load_document(tmp_path / "numbers.csv")
    assert document.text == "# numbers.csv\n\n| 1 | 2 | 3 |\n| 4 | 5 | 6 |"


def test_a_csv_over_the_row_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vectorstore.formats import office

    monkeypatch.setattr(office, "MAX_ROWS", 3)
    (tmp_path / "big.csv").write_text("a,b\n" + "x,1\n" * 5, encoding="utf-8")
    with pytest.raises(LoadError, match="more than 3 rows"):
        load_document(tmp_path / "big.csv")


# -- OCR bounds --------------------------------------------------------------------------------------------
def test_a_scan_over_the_ocr_page_limit_is_refused_before_any_ocr(
    docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vectorstore.formats import ocr

    monkeypatch.setattr(ocr, "MAX_OCR_PAGES", 0)
    monkeypatch.setattr(ocr.PageOcr, "image", lambda *a: pytest.fail("OCR ran"))
    with pytest.raises(LoadError, match="OCR is limited to 0 pages"):
        load_document(docs / "granary-scan.pdf")


def test_ocr_stops_at_its_time_budget(docs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vectorstore.formats import ocr

    monkeypatch.setattr(ocr, "MAX_OCR_SECONDS", 0.0)
    with pytest.raises(LoadError, match="OCR stopped"):
        load_document(docs / "granary-scan.pdf")


def test_without_tesseract_a_scan_is_refused_with_how_to_install_it(
    docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vectorstore.formats import ocr

    monkeypatch.setattr(ocr, "available", lambda: False)
    with pytest.raises(LoadError, match="apt-get install tesseract-ocr"):
        load_document(docs / "granary-scan.pdf")
