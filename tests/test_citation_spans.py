"""An extractive answer's citations are the spans it quotes: exact slices of the source, on their page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vectorstore.loaders import load_text

NOTE = """# Expense policy

Expense reports are due by the 5th working day of the following month. Late reports are paid a month later.

| Category | Limit |
| --- | --- |
| Hotel | 150 EUR |
| Taxi | 40 EUR |
| Meals | 35 EUR |

Receipts are kept for seven years. The finance desk answers questions at 9:15 on working days.
"""
TIDE_FACT = "The highest spring tide at Quellport reached 6.4 metres in the winter of 1953."


def make_tides_pdf(path: Path) -> None:
    """Three pages: a title page, then one section whose text runs from page 2 onto page 3 with no heading
    in between, so one chunk starts on page 2 and holds the page-3 fact."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

    styles = getSampleStyleSheet()
    story = [
        Paragraph("Quellport tide book", styles["Title"]),
        PageBreak(),
        Paragraph("Tides", styles["Heading2"]),
        Paragraph(
            "The tide gauge sits at the end of the north pier and is read twice a day.", styles["BodyText"]
        ),
        PageBreak(),
        Paragraph(TIDE_FACT, styles["BodyText"]),
    ]
    SimpleDocTemplate(str(path), pagesize=A4).build(story)


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from assistant.settings import Settings
    from tests.conftest import build_shared

    root = tmp_path_factory.mktemp("spans")
    docs = root / "docs"
    docs.mkdir()
    (docs / "expenses.md").write_text(NOTE, encoding="utf-8")
    make_tides_pdf(docs / "tides.pdf")
    built = build_shared(Settings(data_dir=root / "data", docs_dir=docs))
    report = built.ingest.ingest([docs])
    assert not report.skipped, report.skipped
    built.docs = docs  # type: ignore[attr-defined]
    yield built


def _exact(answer, docs: Path) -> None:
    assert answer.citations, answer.text
    for citation in answer.citations:
        source = load_text(docs / citation.source)
        assert source[citation.start : citation.end] == citation.text
        assert not citation.text.startswith("#"), citation.text  # the heading is the citation's section


def test_a_fact_on_page_three_of_a_chunk_from_page_two_is_cited_on_page_three(container) -> None:
    answer = container.chat.answer("How high did the highest spring tide at Quellport reach?")
    assert "6.4 metres" in answer.text, answer.text
    chunk = next(c for c in container.store.all_chunks() if "6.4 metres" in c.text)
    assert chunk.metadata["page"] == 2  # the chunk starts on page 2 ...
    citation = next(c for c in answer.citations if c.source.endswith("tides.pdf"))
    assert citation.page == 3 and "6.4 metres" in citation.text  # ... the quoted span is on page 3
    _exact(answer, container.docs)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("When are expense reports due?", "5th working day"),
        ("What is the taxi expense limit?", "40 EUR"),
        ("When does the finance desk answer questions?", "9:15"),  # a clock time answers "when" too
    ],
)
def test_a_short_notes_facts_are_answered_and_cited_as_exact_spans(container, question, expected) -> None:
    answer = container.chat.answer(question)
    assert expected in answer.text and not answer.refused, answer.text
    _exact(answer, container.docs)
    assert any(expected in c.text for c in answer.citations)


def test_a_refusal_says_why(container) -> None:
    answer = container.chat.answer("What is the expense limit for helicopter flights to Zanzibar?")
    assert answer.refused and not answer.citations
    assert answer.refusal_reason, answer


def test_a_time_of_day_does_not_answer_when_something_happened(container) -> None:
    """ "When does the desk answer questions?" is answered by "at 9:15" (above); "When did it first ...?" asks
    for a date the note does not give, and a time of day, a frequency or an event word does not stand in."""
    answer = container.chat.answer("When did the finance desk first answer questions on working days?")
    assert answer.refused and not answer.citations, answer.text
