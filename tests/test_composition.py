"""Answers composed from the evidence a question asks for: each part of a two-part question gets its own
sentence, a value asked for is reached within its paragraph, a sentence two versions of a document share is
quoted once (real model, real store)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

HARBOUR = """# Harbour handbook

## Berths

Kessa harbour has berths on both banks of the river. The smallest berth the harbour guarantees to any
visiting barge is 12 metres long. Berths are assigned by the harbour master in order of arrival.

## Queue

The night queue holds barges that arrive after the last lock closes. Tide tables of the season decide
its real size. By default the berth master allows 40.

## Pilots

Pilots board at the outer lock and leave at the inner quay. A pilot is paid by the barge, never by the
harbour.

## Fees

Every barge that takes a pilot is billed by the harbour office at the end of the month. The pilotage fee is
30 crowns a passage.

## Refusals

A barge longer than its assigned berth is turned away at the outer lock and must wait for a larger one.
"""

RULES_V1 = """# Lock rules (1998)

## Tolls

Tolls are paid in crowns at the first lock a barge passes. The lock keeper writes a receipt for every toll.
"""

RULES_V2 = """# Lock rules (2024)

## Tolls

Tolls are paid in crowns at the first lock a barge passes. The lock keeper writes a receipt for every toll.

## Records

Receipts are kept by the harbour office for seven years.
"""


@pytest.fixture(scope="module")
def harbour(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from assistant.settings import Settings
    from tests.conftest import build_shared

    base = tmp_path_factory.mktemp("harbour")
    docs = base / "docs"
    docs.mkdir()
    (docs / "harbour.md").write_text(HARBOUR)
    (docs / "rules-1998.md").write_text(RULES_V1)
    (docs / "rules-2024.md").write_text(RULES_V2)
    container = build_shared(Settings(data_dir=base / "data", docs_dir=docs))
    container.ingest.ingest([docs])
    yield container


def test_each_part_of_a_two_part_question_gets_its_sentence(harbour) -> None:
    answer = harbour.chat.answer(
        "What is the smallest berth the harbour guarantees, and what happens to a barge longer than "
        "its berth?"
    )
    assert "12 metres" in answer.text, answer.text
    assert "turned away at the outer lock" in answer.text, answer.text
    assert "Pilots board" not in answer.text, "only the sentences that answer"
    assert "The passages quoted give no" not in answer.text, "both parts are answered"


def test_citations_read_one_two_in_the_order_of_the_answer(harbour) -> None:
    """Whatever the passages' search ranks, the reader meets [1] first, and each citation still quotes
    the passage its marker stands for."""
    import re

    answer = harbour.chat.answer("Where are tolls paid, and how long are the receipts kept?")
    markers = [int(n) for n in re.findall(r"\[(\d+)\]", answer.text)]
    assert markers and markers[0] == 1
    assert [c.n for c in answer.citations] == sorted(dict.fromkeys(markers))
    for c in answer.citations:
        assert c.passage is not None and c.text in answer.retrieved[c.passage - 1].text
        assert c.title in ("Lock rules (1998)", "Lock rules (2024)"), "the document's title, not its file"


def test_a_number_asked_for_is_reached_within_its_paragraph(harbour) -> None:
    """The sentence that matches ("the night queue holds barges") lacks the number; the one that gives it
    shares no word with the question: the paragraph is followed to it instead of refusing."""
    answer = harbour.chat.answer("How many barges does the night queue hold?")
    assert "allows 40" in answer.text, answer.text
    assert not answer.refusal_reason


def test_a_question_whose_second_part_asks_an_amount_is_not_refused_for_its_first(harbour) -> None:
    """Only the second part asks for a number: the sentence that answers the first need not hold one, so
    the question is answered, not refused as if the whole of it asked "how much"."""
    answer = harbour.chat.answer("Who pays the pilot who boards at the outer lock, and how much is charged?")
    assert not answer.refusal_reason, answer.refusal_reason
    assert "paid by the barge" in answer.text, answer.text


def test_a_part_the_passages_give_no_answer_to_is_said_to_be_missing(harbour) -> None:
    """The first part is answered and quoted; no passage gives a year for the second, and the answer says
    so instead of passing it over in silence."""
    answer = harbour.chat.answer(
        "Who pays the pilot who boards at the outer lock, and in what year was the harbour built?"
    )
    assert not answer.refusal_reason, answer.refusal_reason
    assert "paid by the barge" in answer.text, answer.text
    assert answer.text.endswith("The passages quoted give no year for the rest of the question."), answer.text


def test_a_sentence_in_two_versions_of_a_document_is_quoted_once(harbour) -> None:
    answer = harbour.chat.answer("Where are tolls paid, and how long are the receipts kept?")
    assert answer.text.count("Tolls are paid in crowns at the first lock") == 1, answer.text
    assert "seven years" in answer.text, answer.text
