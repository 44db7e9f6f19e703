"""Extractive answers that read like answers, and refusals that hold: real model, real store, own corpus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.answering.prompts import EMPTY_STORE, REFUSAL

VISITS = """# Field notes

## Visits

On July 11 the envoy arrived in Kessa for two days of talks on river transport.
There he met the harbour master, Ilona Varga, and signed a water treaty with
the town council.

The weather stayed mild all week and the ferries ran on time.

## Charter

The Kessa charter lists these principles:

- equal access to the river for every town
- shared upkeep of the locks and the towpaths
- open publication of every toll

## FAQ

### How do I reset the tide gauge?

Hold the red button for ten seconds. The gauge then restarts and reads zero.
"""


CARGO = (
    "grain timber coal wool salt iron copper tin lead zinc clay sand gravel lime chalk peat hay flax hemp "
    "cotton silk tea coffee sugar rice wheat barley oats rye malt hops wine beer cider oil tar resin slate"
)
FEES = (
    "<?xml version='1.0'?><html><body><div class='toc'><a href='#f'>Fees</a></div><h1>Lock fees</h1>"
    "<p>Every barge pays at the first lock it passes.</p><table><tr><th>Cargo</th><th>Fee per tonne</th>"
    "<th>Season</th></tr>"
    + "".join(
        f"<tr><td>{c}</td><td>{3 + i % 9} crowns</td><td>all year</td></tr>"
        for i, c in enumerate(CARGO.split())
    )
    + "</table><h2>Functions</h2><p><code>lock_schedule</code> ( day ) → list</p>"
    "<p>This function returns the opening times of every lock on the given day.</p>"
    "<p>The locks offer one function to report the water:</p><pre>water_level ( lock ) → metres</pre>"
    "<p>This function returns the depth at the lower gate.</p><h2>Counters</h2>"
    "<p>The types tinycount, midcount and bigcount store whole counts of various ranges.</p><table>"
    "<tr><th>Name</th><th>Storage Size</th><th>Range</th></tr><tr><td>tinycount</td><td>1 byte</td>"
    "<td>0 to 255</td></tr><tr><td>midcount</td><td>2 bytes</td><td>0 to 65535</td></tr>"
    "<tr><td>bigcount</td><td>8 bytes</td><td>0 to 2^64</td></tr></table></body></html>"
)


@pytest.fixture(scope="module")
def notes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from assistant.settings import Settings
    from tests.conftest import build_shared

    base = tmp_path_factory.mktemp("notes")
    docs = base / "docs"
    docs.mkdir()
    (docs / "field-notes.md").write_text(VISITS)
    (docs / "fees.html").write_text(FEES)
    container = build_shared(Settings(data_dir=base / "data"))
    container.ingest.ingest([docs])
    yield container


def test_the_sentence_that_completes_the_answer_comes_with_it(notes) -> None:
    answer = notes.chat.answer("Whom did the envoy meet in Kessa?")
    assert "Ilona Varga" in answer.text and "July 11" in answer.text, answer.text
    assert "weather" not in answer.text


def test_a_list_question_gets_the_whole_list(notes) -> None:
    answer = notes.chat.answer("Which principles does the Kessa charter list?")
    for item in ("equal access", "shared upkeep", "open publication"):
        assert item in answer.text, answer.text


def test_a_question_line_or_heading_is_never_quoted_as_the_answer(notes) -> None:
    answer = notes.chat.answer("How do I reset the tide gauge?")
    assert "Hold the red button for ten seconds." in answer.text
    assert "How do I reset" not in answer.text and "#" not in answer.text


def test_citations_and_passages_carry_their_section(notes) -> None:
    answer = notes.chat.answer("How do I reset the tide gauge?")
    assert answer.citations[0].section == "Field notes > FAQ > How do I reset the tide gauge?"
    assert all(p.section.startswith(("Field notes", "Lock fees")) for p in answer.retrieved)


def test_a_question_about_something_the_documents_never_name_is_refused(notes) -> None:
    answer = notes.chat.answer("What toll does the Zorbatron ferry charge at the Kessa locks?")
    assert answer.text == REFUSAL and answer.refused and not answer.citations


def test_a_when_question_without_a_date_in_the_documents_is_refused(notes) -> None:
    answer = notes.chat.answer("When was the tide gauge installed?")
    assert answer.refused, answer.text


def test_an_empty_store_says_nothing_is_ingested_and_how_to_ingest(tmp_path: Path) -> None:
    from assistant.settings import Settings
    from tests.conftest import build_shared

    answer = build_shared(Settings(data_dir=tmp_path / "data")).chat.answer("Anything?")
    assert answer.text == EMPTY_STORE and answer.empty_store and answer.refused
    assert "assistant ingest" in answer.text


def _passage(text: str, start: int, source: str = "treaty.txt") -> object:
    from langchain_core.documents import Document

    meta = {"source": source, "start": start, "end": start + len(text), "section": "", "similarity": 0.7}
    return Document(page_content=text, metadata=meta)


def _answer(notes, question: str, passages: list[object]) -> str:
    from assistant.answering.extractive import ExtractiveAnswerer

    answerer = ExtractiveAnswerer(notes.embeddings)
    return "".join(answerer.stream(question, passages))


def test_a_list_question_is_answered_by_the_sentence_that_lists(notes) -> None:
    text = (
        "The pact between the two coastal states covers cooperation in all areas of common interest. "
        "In practice the pact covers cooperation in trade, fishing rights, shipping lanes and joint research."
    )
    answer = _answer(notes, "Which areas does the pact cover?", [_passage(text, 0)])
    assert "fishing rights, shipping lanes" in answer, answer


def test_a_paragraph_cut_between_two_passages_goes_on_into_the_next(notes) -> None:
    first = "After the talks, the towns of Kessa and Lind adopted a joint statement on the river."
    second = "The statement stresses open locks, equal tolls for barges and shared dredging."
    passages = [_passage(first, 100), _passage(second, 100 + len(first) + 1)]
    answer = _answer(notes, "What did the joint statement of Kessa and Lind on the river stress?", passages)
    assert first in answer and "equal tolls" in answer, answer
    assert "[1]" in answer and "[2]" in answer  # each part cites the passage it comes from


def test_a_capitalised_word_after_a_slash_is_a_name_the_documents_must_hold() -> None:
    from assistant.answering.question import Question

    question = Question.read("How do I convert a UTC time to Europe/Paris time?")
    assert {"europe", "paris"} <= set(question.specific)
    assert question.missing_names(["Convert a UTC time to the Europe zone of your choice."]) == ["paris"]


# What a question asks for, read from its words: a clause opened by "when" asks no date; a price or a cost
# asks a number ("the cost model" does not); an e-mail address and a command-line option are asked for by
# name (a bare "which flag" is not: `re.IGNORECASE` answers it); a wh-word with a plural noun asks a list.
ANSWER_TYPES = [
    ("When did the envoy arrive in Kessa?", "date"),
    ("In what year did the envoy arrive?", "year"),
    ("And when and where was the next meeting due?", "date"),
    ("And when writing, what compression level does it use?", "other"),
    ("When I call open(), which encoding does it use?", "other"),
    ("What would it cost us?", "number"),
    ("What does the upgrade cost?", "number"),
    ("What is the fee for a late return?", "number"),
    ("What's the annual fee?", "number"),
    ("What does the cost model describe?", "other"),
    ("What is the cost model?", "other"),
    ("What is the fee schedule format?", "other"),
    ("What address should I email to report a bug privately?", "email"),
    ("Which e-mail address do new reports go to?", "email"),
    ("Which command-line option makes the output unbuffered?", "option"),
    ("What flag do I pass on the command line to keep going?", "option"),
    ("Which address family does the socket use?", "other"),
    ("What address does the mail server listen on?", "other"),
    ("What email address validation does Django use?", "other"),
    ("Which flag makes the pattern ignore case?", "other"),  # re.I, no dash
    ("Which command-line option parser does it use?", "other"),
    ("Which option do I set on the command line or in the file?", "other"),
    ("What habits does the manual recommend?", "list"),
    ("In which years has the club met?", "list"),
    ("Which locks does the barge pass?", "list"),
    ("What status does it return?", "other"),  # -us is no plural
    ("What does the gauge show?", "other"),
]


@pytest.mark.parametrize(("question", "kind"), ANSWER_TYPES)
def test_a_question_asks_for_the_kind_of_answer_its_words_name(question: str, kind: str) -> None:
    from assistant.answering.question import Question

    assert Question.read(question).answer_type == kind


def test_an_address_or_an_option_asked_for_must_be_in_the_answer(notes) -> None:
    """A passage that only talks about the matter does not answer "what address" or "which option": the
    answer is refused with the kind it lacks named; a passage that gives one answers."""
    from assistant.answering.extractive import ExtractiveAnswerer

    answerer = ExtractiveAnswerer(notes.embeddings)
    email = "What address should I email to report a broken lock gate privately?"
    talk = _passage("A broken lock gate is reported privately to the lock wardens, who reply in a week.", 0)
    given = _passage("A broken lock gate is reported privately to the wardens at wardens@kessa.example.", 0)
    assert answerer.decide(email, [talk]).refusal == "no e-mail address in the passages' best answer"
    assert "wardens@kessa.example" in _answer(notes, email, [given])
    option = "Which command-line option makes the gauge tool print depths in metres?"
    talk = _passage("The gauge tool prints depths in feet, and in metres when it is told to.", 0)
    given = _passage("The gauge tool prints depths in feet; run it with --metres to print metres.", 0)
    lacking = "no command-line option in the passages' best answer"
    assert answerer.decide(option, [talk]).refusal == lacking
    assert "--metres" in _answer(notes, option, [given])


def test_a_table_row_is_answered_under_its_header_without_the_rest_of_the_table(notes) -> None:
    """The slate row sits in a chunk that starts inside the table; its header still says what 4 crowns is."""
    answer = notes.chat.answer("What is the fee per tonne for slate?")
    assert "| slate | 4 crowns | all year |" in answer.text, answer.text
    assert "| Cargo | Fee per tonne | Season |" in answer.text
    assert "grain" not in answer.text and "resin" not in answer.text


def test_this_function_brings_the_signature_line_above_it(notes) -> None:
    answer = notes.chat.answer("Which function gives the opening times of the locks on a given day?")
    assert "lock_schedule ( day ) → list" in answer.text, answer.text
    assert "This function returns" in answer.text
    answer = notes.chat.answer("Which function tells the depth at the lower gate?")
    signature = "to report the water:\n\n```\nwater_level ( lock ) → metres\n```\n\nThis function"
    assert signature in answer.text, answer.text


def test_a_sentence_is_scored_the_same_whatever_it_was_embedded_with(notes) -> None:
    """The int8 model quantizes per batch: vectors must not depend on the batch, or answers would depend
    on what was asked before."""
    import numpy as np

    from assistant.answering.extractive import _VectorCache

    text = "Hold the red button for ten seconds."
    alone = _VectorCache(notes.embeddings, 100).get([text])[0]
    others = [f"| {cargo} | {len(cargo)} crowns | all year |" for cargo in CARGO.split()[:20]]
    mixed = _VectorCache(notes.embeddings, 100).get([*others, text])[-1]
    assert float(np.dot(alone, mixed)) > 0.99999


def test_a_question_naming_a_rows_key_and_a_column_looks_the_cell_up(notes) -> None:
    answer = notes.chat.answer("What is the range of values a midcount can hold?")
    assert "| midcount | 2 bytes | 0 to 65535 |" in answer.text, answer.text
    assert "| Name | Storage Size | Range |" in answer.text and "tinycount | 1 byte" not in answer.text


def test_an_in_what_year_question_is_not_answered_by_a_day_without_a_year(notes) -> None:
    answer = notes.chat.answer("In what year did the envoy arrive in Kessa?")
    assert answer.refused and not answer.citations, answer.text  # the notes say "On July 11", no year
    founded = _passage("The Kessa charter was drawn up in 1887 by the four river towns.", 0)
    assert "1887" in _answer(notes, "In which year was the Kessa charter drawn up?", [founded])
    ancient = _passage("The first Kessa lock was built in 988 by the river monks.", 0)
    assert "988" in _answer(notes, "In what year was the first Kessa lock built?", [ancient])


def test_a_name_few_chunks_hold_must_be_in_the_answers_passage(notes) -> None:
    """The gauge passage answers "how do I reset" but says nothing of the Lindholm ferry, which only another
    passage names: quoting it would answer another question."""
    from assistant.answering.extractive import ExtractiveAnswerer

    answerer = ExtractiveAnswerer(notes.embeddings, corpus=notes.keyword_index)
    ferry = _passage("The Lindholm ferry carries forty passengers between the two towns.", 0, "ferry.txt")
    gauge = _passage("To reset the tide gauge, hold the red button for ten seconds.", 0, "gauge.txt")
    question = "How do I reset the gauge on the Lindholm ferry?"
    assert "".join(answerer.stream(question, [gauge, ferry])) == ""
    named = _passage("To reset the gauge on the Lindholm ferry, hold the red button.", 0, "gauge.txt")
    assert "red button" in "".join(answerer.stream(question, [named, ferry]))


def test_a_name_in_the_first_half_of_a_cut_paragraph_places_the_second(notes) -> None:
    from assistant.answering.extractive import ExtractiveAnswerer

    first = "After the talks, the towns of Kessa and Lindholm adopted a joint statement on the river."
    second = "The statement stresses open locks, equal tolls for barges and shared dredging of the channel."
    answerer = ExtractiveAnswerer(notes.embeddings, corpus=notes.keyword_index)
    question = "Which tolls for barges does the Lindholm statement stress?"
    right_after = [_passage(second, 100 + len(first) + 1), _passage(first, 100)]
    overlapping = [_passage(second, 100 + len(first) - 40), _passage(first, 100)]  # the chunker's overlap
    for passages in (right_after, overlapping):
        assert "equal tolls" in "".join(answerer.stream(question, passages))
    apart = [_passage(second, 900), _passage(first, 100)]
    assert "".join(answerer.stream(question, apart)) == ""  # nothing joins them: Lindholm is elsewhere


def test_a_name_in_the_documents_opening_frames_every_passage_of_it(notes) -> None:
    """ "At the Valdorn Club" names where the speech was given, which only its opening says."""
    from assistant.answering.extractive import ExtractiveAnswerer

    answerer = ExtractiveAnswerer(notes.embeddings, corpus=notes.keyword_index)
    opening = _passage("Speech of the spring session at the Valdorn Club. The text follows.", 0, "speech.txt")
    said = "On the river locks, the minister said that the tolls must stay equal for every barge and season."
    body = _passage(said, 900, "speech.txt")
    question = "What did the minister say at the Valdorn Club about the tolls on the river locks?"
    assert "must stay equal" in "".join(answerer.stream(question, [body, opening]))
    later = _passage("The Valdorn Club was founded by ferrymen of the lower river.", 300, "speech.txt")
    assert "".join(answerer.stream(question, [body, later])) == ""  # not its opening: says nothing of it


def test_names_are_matched_as_words_and_acronyms_as_spelled_out() -> None:
    from assistant.answering.question import Question

    https = Question.read("How do I serve files over HTTPS with the Tornado server?")
    assert https.missing_names(["The Tornado server, HTTPServer, is a TCPServer subclass."]) == ["https"]
    ict = Question.read("Who co-chaired the meetings on ICT security?")
    assert ict.missing_names(["security of information and communication technologies"]) == []
    assert ict.missing_names(["strict security rules"]) == ["ict"]
    assert ict.missing_names(["it is called to check the security"]) == ["ict"]
    hashing = Question.read("Which SHA functions does Python 3.8 offer?")
    assert hashing.missing_names(["python3.8 has sha256() and friends"]) == []
    assert hashing.missing_names(["python 13.8 has blake2b()"]) == ["sha", "3.8"]
    assert "na" not in Question.read("Can a JSON number be NaN?").specific


def test_names_the_question_writes_apart_are_mentioned_written_as_one() -> None:
    """ "CR LF" is what "CRLF" and the option "crlfDelay" are about; the two names scattered, or another word
    that starts like them, are not."""
    from assistant.answering.question import Question

    line_ends = Question.read("How do I make the reader treat CR LF as one line break?")
    assert line_ends.specific == ["cr", "lf"]
    assert line_ends.missing_names(["crlfDelay: the delay between \\r and \\n"]) == []
    assert line_ends.missing_names(["Lines end in CRLF on Windows."]) == []
    assert line_ends.missing_names(["A crossfade lasts LF seconds."]) == ["cr"]


def test_a_cut_paragraph_goes_on_after_the_chunks_overlap(notes) -> None:
    """The chunker's overlap repeats the last sentence of a chunk at the start of the next: the answer goes on
    with the sentence after the repeat."""
    intro = "The river towns met in spring."
    first = "After the talks, the towns of Kessa and Lind adopted a joint statement on the river."
    second = "The statement stresses open locks, equal tolls for barges and shared dredging."
    before = _passage(f"{intro} {first}", 100)
    after = _passage(f"{first} {second}", 100 + len(intro) + 1)
    question = "What did the joint statement of Kessa and Lind on the river stress?"
    answer = _answer(notes, question, [before, after])
    assert first in answer and "equal tolls" in answer, answer
    assert answer.count("adopted a joint statement") == 1  # the repeated sentence is quoted once


def test_a_unit_is_also_read_with_the_next_unit_of_its_paragraph_or_list() -> None:
    from assistant.answering.extractive import _window
    from assistant.answering.units import split_units

    text = "The gauge is no safety device. Do not trust it in a storm.\n\n- one item\n- two item"
    units = split_units(text)
    assert _window(units, 0) == "The gauge is no safety device. Do not trust it in a storm."
    assert _window(units, 1) == ""  # the paragraph ends there: a list is another block
    assert _window(units, 2) == "- one item - two item" and _window(units, 3) == ""


def test_a_units_cosine_is_the_better_of_its_own_and_its_windows(notes) -> None:
    """ "Do not use it ..." says little alone; read with the sentence before it, it answers."""
    import numpy as np

    from assistant.answering.compose import read_parts
    from assistant.answering.extractive import ExtractiveAnswerer, ExtractiveConfig, _VectorCache
    from assistant.answering.question import Question

    text = "The tide gauge is not a safety device. Do not use it to decide whether a barge may pass."
    question = "Can I rely on the tide gauge to decide if it is safe for a barge to pass?"
    cache = _VectorCache(notes.embeddings, 100)
    q = np.asarray(cache.query(question))
    own = cache.get(["The tide gauge is not a safety device."])[0] @ (q / np.linalg.norm(q))
    for window in (True, False):
        answerer = ExtractiveAnswerer(notes.embeddings, ExtractiveConfig(window_semantic=window))
        ranked = answerer.score(
            Question.read(question), answerer.candidates([_passage(text, 0)]), None, read_parts(question)
        )
        first = next(c for c in ranked if c.index == 0)
        assert first.window == text
        assert (first.semantic > own + 1e-4) if window else abs(first.semantic - own) < 1e-4


def test_a_paragraph_two_versions_word_differently_is_quoted_once(notes) -> None:
    """The same paragraph in an old and a new version of a document, one word apart: quoting both says
    the same thing twice (`repeat_overlap`)."""
    from assistant.answering.extractive import ExtractiveAnswerer, ExtractiveConfig

    old = "The river pact binds the towns of Kessa and Lind to keep the locks open for barges all year."
    new = old.replace("towns", "harbour towns")
    passages = [_passage(old, 0, "pact-1998.txt"), _passage(new, 0, "pact.txt")]
    for bar in (1.0, 0.9):
        answerer = ExtractiveAnswerer(notes.embeddings, ExtractiveConfig(repeat_overlap=bar))
        answer = "".join(answerer.stream("What does the river pact bind Kessa and Lind to?", passages))
        assert answer.count("keep the locks open") == (1 if bar < 1.0 else 2), answer
    changed = [_passage(old, 0, "pact-1998.txt"), _passage(old.replace("all year", "300 days a year"), 0)]
    answer = "".join(answerer.stream("What does the river pact bind Kessa and Lind to?", changed))
    assert "all year" in answer and "300 days a year" in answer, "a changed value is no repeat"


def test_the_rest_of_a_short_paragraph_comes_with_its_sentence(notes) -> None:
    """A parameter's entry is one short paragraph: its later sentences complete the answer even when
    the one right after the answering sentence adds nothing the question asked."""
    from assistant.answering.extractive import ExtractiveAnswerer, ExtractiveConfig

    entry = (
        "The berth option names the quay a barge is sent to. Night arrivals are not affected. "
        "Barges over forty metres always go to the east quay."
    )
    text = f"{entry}\n\nThe tide_window option sets how long a barge may wait at the outer lock."
    for short in (0, 200):
        answerer = ExtractiveAnswerer(notes.embeddings, ExtractiveConfig(short_paragraph=short))
        answer = "".join(answerer.stream("What does the berth option name?", [_passage(text, 0)]))
        assert "names the quay a barge is sent to" in answer, answer
        assert ("always go to the east quay" in answer) == bool(short), answer
        assert "tide_window" not in answer, "the paragraph, not the next one"
    announcing = f"{entry} The quays are:\n\n- East quay\n- West quay"
    answerer = ExtractiveAnswerer(notes.embeddings, ExtractiveConfig(short_paragraph=200))
    answer = "".join(answerer.stream("What does the berth option name?", [_passage(announcing, 0)]))
    assert "always go to the east quay" in answer and "The quays are:" not in answer, answer


def test_near_ties_of_the_best_unit_are_quoted_with_it() -> None:
    """Units scoring within tie_ratio of the best are quoted (up to max_ties), not one quoted twice."""
    from typing import Any, cast

    from assistant.answering.extractive import Candidate, ExtractiveAnswerer, Snippet
    from assistant.answering.units import Unit

    def cand(passage: int, text: str, score: float) -> Candidate:
        return Candidate(passage, 0, Unit("sentence", 0, text, 0), "", score=score)

    ranked = [
        cand(1, "The ferry leaves at nine.", 0.90),
        cand(2, "The ferry leaves at nine.", 0.89),  # the same words from another passage
        cand(3, "Ferries depart at nine from the north quay.", 0.85),
        cand(4, "The first boat sails at nine sharp.", 0.83),
        cand(5, "Boats also leave at noon.", 0.82),  # a third tie: over max_ties
        cand(6, "The quay opens at eight.", 0.70),  # below 0.9 of the best
    ]
    answerer = ExtractiveAnswerer(cast(Any, None))
    chosen = [Snippet("", 1, 0, 25, "The ferry leaves at nine.", 0.9, "", set())]
    assert [c.passage for c in answerer._near_ties(ranked, chosen)] == [3, 4]


def test_each_part_of_a_question_is_answered_by_its_own_best_sentence(notes) -> None:
    """The lighthouse sentence says nothing of pumps: on the whole question it ranks below a dozen pump
    sentences, but read against its own part ("when was the lighthouse built?") it is the answer."""
    from assistant.answering.extractive import ExtractiveAnswerer, ExtractiveConfig

    pumps = (
        "The tidewell harbour pump lifts sea water into the drying pans. Its brass gaskets are cast by the "
        "Kessa foundry every spring. The harbour pump was rebuilt after the storm of 1902. The gaskets of "
        "the harbour pump wear out within a year. A harbour pump of brass needs new gaskets after each "
        "winter."
    )
    foundry = (
        "The brass of the harbour pump comes from the foundry at Kessa. Each foundry in the harbour town "
        "casts brass for pumps and gaskets. The tidewell pump's gaskets are brass rings sealing the harbour "
        "pump. Brass gaskets for the tidewell pump are cast in sand moulds at the foundry. The foundry casts "
        "gaskets, valves and pump wheels of brass. Harbour pumps along the coast all use brass gaskets from "
        "one foundry. The tidewell harbour pump stands beside the foundry on the quay. Casting brass gaskets "
        "for the harbour pump takes the foundry two days. Old gaskets of the tidewell pump are melted down "
        "at the foundry."
    )
    lighthouse = "The lighthouse on the north mole was built in 1871 by the stonemasons of Orvik."
    passages = [_passage(pumps, 0, "pumps.md"), _passage(foundry, 0, "foundry.md")]
    passages.append(_passage(lighthouse, 0, "lighthouse.md"))
    question = (
        "Which foundry casts the brass gaskets of the tidewell harbour pump, "
        "and when was the lighthouse built?"
    )
    for on in (True, False):
        answerer = ExtractiveAnswerer(notes.embeddings, ExtractiveConfig(part_scoring=on))
        answer = "".join(answerer.stream(question, passages))
        assert "foundry" in answer, answer
        assert ("built in 1871 by the stonemasons of Orvik. [3]" in answer) == on, answer


def test_a_part_whose_best_sentence_answers_another_part_takes_its_runner_up(notes) -> None:
    """Both parts ask for a majority to overrule: the 3:1 rule answers the second and also scores best for
    the first, whose own answer (the 2:1 rule) scores nearly as well for it. With `part_ties` the first
    part is answered too; without it, and with the other ways in switched off, only the 3:1 rule is."""
    from assistant.answering.extractive import ExtractiveAnswerer, ExtractiveConfig

    assembly = (
        "The Assembly elects the Warden of the harbour every spring.\n\n"
        "The Assembly may override any decision of the Harbour Council, provided they agree with a 2:1 "
        "majority.\n\nThe Assembly sets the dues paid by each ship.\n"
    )
    council = (
        "The Harbour Council may overrule a Member, which requires a 3:1 majority of the Council.\n\n"
        "The Council offers advice on any matter of the harbour.\n"
    )
    passages = [_passage(council, 0, "council.txt"), _passage(assembly, 0, "assembly.txt")]
    question = (
        "What majority do Assembly members need to overrule the Harbour Council, "
        "and what majority must the Council reach to overrule a Member?"
    )
    for on in (True, False):
        config = ExtractiveConfig(part_ties=on, max_ties=0, select_ratio=1.0)
        answer = "".join(ExtractiveAnswerer(notes.embeddings, config).stream(question, passages))
        assert "3:1 majority" in answer, answer
        assert ("2:1 majority" in answer) == on, answer


def test_a_sentence_that_opens_as_the_one_before_goes_on_with_it(notes) -> None:
    """A sentence "For the short berths, ..." then "For the long berths, ...": the second case of a series
    told in prose comes with the first (`parallel_words`), though it holds no word of the question the
    snippet lacks; the sentence after the series, which opens otherwise, does not."""
    from assistant.answering.extractive import ExtractiveAnswerer, ExtractiveConfig

    text = (
        "The harbour rents berths of two kinds: short berths by the quay and long berths on the outer "
        "mole. For the short berths, the fee is 20 EUR a night and boats must leave by noon. For the long "
        "berths, the fee is 35 EUR a night, water included. For boats longer than twenty metres, ask the "
        "master. The harbour office opens at eight.\n\n"
        "The harbour master keeps a list of waiting boats. Fishing boats are moored by the ice house."
    )
    question = "What kinds of berths does the harbour rent, and what does a short berth cost?"
    for words in (2, 0):
        config = ExtractiveConfig(parallel_words=words, max_ties=0, select_ratio=1.0)
        answer = "".join(ExtractiveAnswerer(notes.embeddings, config).stream(question, [_passage(text, 0)]))
        assert "the fee is 20 EUR a night" in answer, answer
        assert ("the fee is 35 EUR a night" in answer) == bool(words), answer
        assert "twenty metres" not in answer and "office opens" not in answer, answer  # "For boats": one word


def test_a_sentence_that_points_ahead_brings_the_entries_after_it(notes) -> None:
    """A sentence "... distributed through these mailing lists." names no list: the entries after it do, as
    a colon's list would. With `announced_series` they are quoted, up to the next heading; "these" that
    points back (prose goes on after it) brings nothing."""
    from assistant.answering.extractive import ExtractiveAnswerer, ExtractiveConfig
    from assistant.answering.units import split_units

    lists = (
        "The harbour office sends out a lot of notices. Boat owners can read them, so they are distributed "
        "through these mailing lists.\n\nharbour-news@lists.example.org\n\nDescription : Opening hours, "
        "fees and works on the quays.\n\nharbour-alerts@lists.example.org\n\nDescription : Storm warnings "
        "and closures of the harbour mouth.\n\n## Moorings\n\nMoorings are let by the season."
    )
    question = "Which mailing lists carry the harbour office's notices?"
    for on in (True, False):
        answerer = ExtractiveAnswerer(notes.embeddings, ExtractiveConfig(announced_series=on))
        answer = "".join(answerer.stream(question, [_passage(lists, 0, "lists.txt")]))
        assert "distributed through these mailing lists." in answer, answer
        assert ("harbour-news@" in answer and "harbour-alerts@" in answer) == on, answer
        assert "let by the season" not in answer, answer
    answerer = ExtractiveAnswerer(notes.embeddings)
    back = split_units("Old notices are kept for a year on these mailing lists.\n\nThe office prints none.")
    assert not answerer._announces(back[0], back[1])
    same = split_units("Notices go out through these mailing lists. See the board by the quay for more")
    assert not answerer._announces(same[0], same[1])  # the same paragraph goes on: no block announced
    for sentence in ("The museum moved in the following year.", "These are deprecated.", "In these cases."):
        units = split_units(f"{sentence}\n\n```\nopen 9-17\n```")
        assert not answerer._announces(units[0], units[1]), sentence  # a time, a reference back
    code = split_units("Hours are kept in these files.\n\n```\nopen 9-17\n```\n\nThe cafe sells soup.")
    assert answerer._announces(code[0], code[1])
    assert answerer._series_end(code, 0, 1, 2000) == 1  # the file, not the prose after a single entry


def test_a_second_question_may_open_with_its_preposition() -> None:
    from assistant.answering.compose import read_parts

    question = "Which engraver draws the stems, and in which context does it live?"
    assert [p.text for p in read_parts(question)] == [
        "Which engraver draws the stems",
        "in which context does it live?",
    ]
    assert len(read_parts("Which towns signed in spring and in autumn?")) == 1  # no wh-word after it


def test_a_list_the_layout_cut_into_two_blocks_is_quoted_whole() -> None:
    """A PDF's extraction may start a new block between two bullets: the lead-in still brings every item,
    and an item still brings its whole list."""
    from typing import Any, cast

    from assistant.answering.extractive import Candidate, ExtractiveAnswerer, ExtractiveConfig
    from assistant.answering.question import Question
    from assistant.answering.units import split_units

    text = "Some faults remain:\n\n- the first fault is here\n\n- the second fault is here\n- the third one"
    units = split_units(text)
    assert [u.block for u in units[1:4]] == [1, 2, 2]
    passage = _passage(text, 0)
    question = Question.read("Which faults remain?")
    for runs, lead_in, item in ((True, "the third one", "the first fault"), (False, "the first fault", "")):
        answerer = ExtractiveAnswerer(cast(Any, None), ExtractiveConfig(list_runs=runs))
        quoted = answerer.snippet(Candidate(1, 0, units[0], ""), passage, question).text
        assert lead_in in quoted and ("the third one" in quoted) == runs, quoted
        second = answerer.snippet(Candidate(1, 2, units[2], ""), passage, question).text
        assert (item in second) if item else ("the first fault" not in second), second


def test_an_acronyms_plural_is_the_acronym() -> None:
    from assistant.answering.question import Question

    asked = Question.read("How do I merge two PDFs into one?")
    assert "pdf" in asked.specific and asked.missing_names(["Merge a PDF file with another."]) == []
    situation = Question.read("I made some PDFs with the tool. How do I make them smaller?")
    assert "pdf" not in situation.specific and "pdfs" not in situation.specific


def test_a_name_in_the_chunk_that_goes_on_from_the_answer_places_it(notes) -> None:
    from assistant.answering.extractive import ExtractiveAnswerer, ExtractiveConfig

    first = "The statement stresses open locks, equal tolls for barges and shared dredging of the channel."
    second = "It was adopted by the towns of Kessa and Lindholm after the talks."
    question = "Which tolls for barges does the Lindholm statement stress?"
    passages = [_passage(first, 100), _passage(second, 100 + len(first) + 1)]
    for after in (True, False):
        config = ExtractiveConfig(context_after=after)
        answerer = ExtractiveAnswerer(notes.embeddings, config, corpus=notes.keyword_index)
        answer = "".join(answerer.stream(question, passages))
        assert ("equal tolls" in answer) == after, answer


def test_a_sentence_whose_first_clause_refers_back_brings_the_sentence_before() -> None:
    from typing import Any, cast

    from assistant.answering.extractive import Candidate, ExtractiveAnswerer, ExtractiveConfig
    from assistant.answering.question import Question
    from assistant.answering.units import split_units

    text = "Levels are NONE, INFO (default) and DEBUG. If this option is not set, the variable is read."
    units = split_units(text)
    passage, question = _passage(text, 0), Question.read("Which level is used when the option is not set?")
    for clauses in (True, False):
        config = ExtractiveConfig(clause_reference=clauses, lead_in=False)  # "Levels" would lead in too
        answerer = ExtractiveAnswerer(cast(Any, None), config)
        quoted = answerer.snippet(Candidate(1, 1, units[1], ""), passage, question).text
        assert quoted.startswith("Levels are") == clauses, quoted


def test_an_adjective_of_an_everyday_noun_is_no_name() -> None:
    from assistant.answering.question import Question

    assert "pointy" not in Question.read("Why do the tips of the glyphs look blunt, not pointy?").specific
    assert "zorbatron" in Question.read("What toll does the zorbatron ferry charge?").specific


def test_every_ablation_names_a_setting_the_answerer_has() -> None:
    """`assistant eval --variants` offers these; one naming a removed setting failed only when run."""
    from assistant.evaluation.variants import VARIANTS, with_answerer

    assert "ours without near-ties" in VARIANTS
    with pytest.raises(TypeError, match="no code_factor"):
        with_answerer(code_factor=1.0)


def test_any_answerer_or_retriever_setting_is_an_eval_variant(tmp_path: Path) -> None:
    """`assistant eval --variants "answerer NAME=VALUE"` tries a tuning number without editing code; a
    misspelt or mistyped setting is refused before any corpus is ingested, naming the settings there are."""
    import json

    from assistant.evaluation import evaluate_sets, parse_set
    from assistant.settings import Settings

    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "ferry.md").write_text(
        "# Ferry\n\nThe ferry to Vlieland leaves at 9:15 every morning.\n\nA return ticket costs 12 EUR.\n"
    )
    item = {"id": "q1", "question": "How much does a return ticket for the Vlieland ferry cost?"}
    item |= {"answerable": True, "must": [["12 EUR"]], "evidence": ["costs 12 EUR"], "type": "factoid"}
    questions = tmp_path / "ferry.jsonl"
    questions.write_text(json.dumps(item) + "\n")
    evalset = parse_set(f"{questions}={corpus}", corpus)

    data_dir = tmp_path / "data"
    for bad, says in [("answerer min_gian=0.1", "min_gain"), ("answerer max_ties=two", "integer")]:
        with pytest.raises(ValueError, match=says):
            evaluate_sets(Settings(data_dir=data_dir), [evalset], ["hybrid (ours)", bad])
        assert not data_dir.exists() or not any(data_dir.iterdir())  # nothing was ingested
    with pytest.raises(ValueError, match="sets k, and so does the run"):  # the run's k would win silently
        evaluate_sets(Settings(data_dir=data_dir), [evalset], ["retriever k=1"], k=3)

    never = "answerer min_score=1.01"  # no unit's probability reaches it: every question is refused
    report = evaluate_sets(
        Settings(data_dir=data_dir), [evalset], ["hybrid (ours)", never, "retriever k=1 mode=dense"]
    )
    variants = report["sets"]["ferry"]["variants"]
    assert variants["hybrid (ours)"]["items"][0]["correct"] is True
    assert variants[never]["items"][0]["refused"] is True
    assert variants["retriever k=1 mode=dense"]["items"][0]["correct"] is True


def test_a_sentence_that_answers_the_last_thing_asked_is_quoted_too(notes) -> None:
    """The first sentence answers five of the six things asked; the fog horn's sentence adds only the
    sixth (a small share of the question's terms), and is still quoted: the answer leaves nothing asked out.
    With the earlier bar (`min_gain` 0.15) it was dropped."""
    from assistant.answering.extractive import ExtractiveAnswerer, ExtractiveConfig

    tides = (
        "In 1903 the harbour master of Tidewell recorded that the spring tide flooded the north mole and "
        "swamped the pilot boats at the beacon, so the ferry timetable was cut. The water stood a metre deep "
        "on the quay for two days."
    )
    quay = "The harbour of Tidewell was dredged again in 1911, and the quay was raised by half a metre."
    horn = "That spring the fog horn of Tidewell stayed silent for a week."
    passages = [_passage(tides, 0, "tides.md"), _passage(quay, 0, "quay.md"), _passage(horn, 0, "horn.md")]
    question = (
        "What did the harbour master of Tidewell record in 1903 about the spring tide, the north mole, "
        "the pilot boats, the beacon, the fog horn and the ferry timetable?"
    )
    for config, quoted in ((ExtractiveConfig(), True), (ExtractiveConfig(min_gain=0.15), False)):
        answer = "".join(ExtractiveAnswerer(notes.embeddings, config).stream(question, passages))
        assert answer.startswith("In 1903 the harbour master"), answer
        assert ("fog horn of Tidewell stayed silent for a week. [3]" in answer) == quoted, answer


def test_a_release_the_documents_never_give_is_refused_by_its_number(notes) -> None:
    """A name followed by a number asks about that release ("Quillpad 7" is not "Quillpad 5"): the
    passages must give the number as the name's version (after it, or as "version 3.2"). A question about a
    release they never mention is refused with the release named, not answered from another release's line;
    a numbered place in the documents ("Step 2") is not a release."""
    from assistant.answering.extractive import ExtractiveAnswerer

    names = (
        "Quillpad 4 is code-named Heron and is the stable release. Quillpad 5, the development release, is "
        "code-named Osprey."
    )
    changes = "Changed in version 3.2: the default theme of the editor is dark."
    passages = [_passage(names, 0, "releases.md"), _passage(changes, 0, "changes.md")]
    answerer = ExtractiveAnswerer(notes.embeddings)
    refused = answerer.decide("What is the code name of Quillpad 7?", passages)
    assert not refused.snippets and "quillpad 7" in refused.refusal, refused
    answered = "".join(answerer.stream("What is the code name of Quillpad 5?", passages))
    assert "code-named Osprey" in answered, answered
    themed = "".join(answerer.stream("Which default did Quillpad 3.2 change?", passages))
    assert "default theme of the editor is dark" in themed, themed
    # "Step 2" is a place in the documents, not a release: a numbered list gives it without the word
    steps = (
        "Follow these steps to set up Quillpad:\n\n1. Download the archive.\n2. Run quillpad --init to begin."
    )
    step = "".join(
        answerer.stream("What do I run in Step 2 of setting up Quillpad?", [_passage(steps, 0, "setup.md")])
    )
    assert "2. Run quillpad --init" in step, step


def test_a_paragraph_that_stops_mid_sentence_brings_the_line_it_announces(notes) -> None:
    """Hard-wrapped text often drops the colon: "..., run the command" then the command on a line of its
    own. The answer must hold the command, not stop at "run the command"; a list asked for comes with the
    paragraph that announces it even when that paragraph ends with a full stop."""
    guide = (
        "Quillpad keeps its settings in one file.\n\n"
        "To show which profile Quillpad opens at start, run the command\n\n"
        "quillpad profile --show-default\n\n"
        "Profiles are stored in the home directory."
    )
    answer = _answer(notes, "Which command shows the profile Quillpad opens at start?", [_passage(guide, 0)])
    assert "run the command\n\nquillpad profile --show-default" in answer, answer
    colon = "To show the default Quillpad profile, run:\n\nqp pf -d\n\nProfiles are kept at home."
    ran = _answer(notes, "How do I show the default Quillpad profile?", [_passage(colon, 0)])
    assert "run:\n\nqp pf -d" in ran, ran
    # a line ending in a code span says all it has to say: the next paragraph is another matter
    port = "The default port of the Quillpad server is `8080`\n\nThe mobile app can pair over Bluetooth."
    said = _answer(notes, "What is the default port of the Quillpad server?", [_passage(port, 0)])
    assert "`8080`" in said and "Bluetooth" not in said, said
    themes = (
        "Quillpad can be built with three colour themes. They are chosen when building.\n\n"
        "- dusk\n- harbour\n- paper\n\n"
        "The theme can be changed later in the settings."
    )
    listed = _answer(notes, "Which colour themes can Quillpad be built with?", [_passage(themes, 0)])
    assert all(name in listed for name in ("dusk", "harbour", "paper")), listed


def test_a_contents_line_cut_into_numbered_entries_is_never_quoted(notes) -> None:
    """A FAQ's table of contents on one line numbers each question ("9.1. How can I ...? 9.1.1. ..."):
    it matches the question's words and answers nothing; the answer comes from the text itself."""
    contents = (
        "9. Keeping your Quillpad installation current and safe 9.1. How can I keep my Quillpad installation "
        "up to date? 9.1.1. The built-in updater 9.1.2. Manual downloads from the mirror sites 9.2. Must I "
        "close all my open notes and notebooks before I update? 9.3. How often is Quillpad updated by its "
        "authors? 9.4. Can I roll back an update that broke my notes or my plugins? 9.5. Can I update "
        "several machines at once from one download? 9.6. Where can I find the old versions released before?"
    )
    body = "Quillpad is updated twice a month, on the first and the third Monday."
    answer = _answer(
        notes, "How often is Quillpad updated?", [_passage(contents, 0), _passage(body, 0, "b.txt")]
    )
    assert "twice a month" in answer and "9.1.1" not in answer, answer
    # four addresses in a sentence are no contents line: only numbered titles are
    hosts = (
        "The mirror service in the north office rotates its download traffic every hour between four hosts, "
        "which are 10.0.0.1 and 10.0.0.2 in the first rack and 10.0.0.3 and 10.0.0.4 in the second rack of "
        "the same room."
    )
    rotated = _answer(
        notes, "Which hosts does the mirror service rotate its traffic between?", [_passage(hosts, 0)]
    )
    assert "10.0.0.3 and 10.0.0.4" in rotated, rotated


def test_a_fitted_refusal_model_still_refuses_a_name_no_passage_mentions(notes) -> None:
    """With fitted weights, a name the question gives and no retrieved passage holds refuses outright, as
    with the prior: a model that weighs it lightly would answer about another thing (`missing_refuses`)."""
    from dataclasses import replace

    from assistant.answering.compose import DECISION_FEATURES, Logistic, prior_weights
    from assistant.answering.extractive import ExtractiveAnswerer, ExtractiveConfig

    n = len(DECISION_FEATURES)
    never = Logistic(DECISION_FEATURES, (0.0,) * n, (1.0,) * n, (0.0,) * n, -9.0, threshold=0.99)
    weights = replace(prior_weights(), refusal=never)
    text = "Quillpad 5 is code-named Osprey. It keeps notes in plain text files."
    question = "What does Zephyrnote store its notes in?"
    answerer = ExtractiveAnswerer(notes.embeddings, ExtractiveConfig(weights=weights))
    refused = answerer.decide(question, [_passage(text, 0)])
    assert not refused.snippets and "zephyrnote" in refused.refusal, refused
    lenient = ExtractiveAnswerer(notes.embeddings, ExtractiveConfig(weights=weights, missing_refuses=False))
    assert lenient.decide(question, [_passage(text, 0)]).snippets  # the rule, not the model, refused


def test_the_documents_own_subject_need_not_be_repeated_by_the_sentence_that_answers(tmp_path: Path) -> None:
    """ "Quill.js" in the Quill.js docs is what every page is about, not an API the answer must name: the
    sentence that answers ("The trace timestamps are expressed in microseconds") does not repeat it, and
    must not lose to one that does but answers nothing."""
    from assistant.answering.extractive import ExtractiveAnswerer
    from assistant.settings import Settings
    from tests.conftest import build_shared

    docs = tmp_path / "docs"
    docs.mkdir()
    pages = {
        "intro.md": "# Quill.js\n\nQuill.js is a note-taking engine that runs in the browser.",
        "sync.md": "# Sync\n\nQuill.js syncs notes between devices every minute.",
        "export.md": "# Export\n\nQuill.js exports notes as Markdown files.",
        "themes.md": "# Themes\n\nQuill.js ships three colour themes.",
    }
    for name, text in pages.items():
        (docs / name).write_text(text)
    container = build_shared(Settings(data_dir=tmp_path / "data"))
    container.ingest.ingest([docs])
    answerer = ExtractiveAnswerer(container.embeddings, corpus=container.keyword_index)
    tracing = (
        "Quill.js can record trace events while it saves notes.\n\n"
        "The trace timestamps are expressed in microseconds, unlike the editor's clock."
    )
    answer = "".join(
        answerer.stream("In what time unit are Quill.js trace timestamps recorded?", [_passage(tracing, 0)])
    )
    assert "microseconds" in answer, answer


def test_a_dotted_code_name_is_placed_by_its_member_not_by_scattered_parts() -> None:
    """ "import.meta.dirname" is not placed by "import", "meta" and "__dirname" here and there (an API the
    documents never give is asked about); "math.isclose()" is placed by "isclose(a, b)" in the math page."""
    from assistant.answering.question import Question

    question = Question.read("Can I use import.meta.dirname instead of import.meta.url?")
    scattered = ["Use import to load a module; meta data lives in __dirname and import.meta.url."]
    assert question.missing_names(scattered, identifiers=True) == ["import.meta.dirname"]
    close = Question.read("What tolerance does math.isclose() use by default?")
    assert close.missing_names(["math module: isclose(a, b, rel_tol=1e-09) compares"], identifiers=True) == []


def test_a_version_asked_for_is_not_answered_by_the_questions_own_number(notes) -> None:
    """ "Which kernel version ships with Quillpad 5?" asks for a number, and the "5" it gives is no answer:
    a passage that names Quillpad 5 but no kernel version is refused; one that gives the version answers.
    A version answered by words alone ("a predefined version") is refused too."""
    from assistant.answering.extractive import ExtractiveAnswerer

    answerer = ExtractiveAnswerer(notes.embeddings)
    question = "Which kernel version ships with Quillpad 5?"
    stable = _passage("Quillpad 5 is the stable release of the kernel project, code-named Osprey.", 0)
    refused = answerer.decide(question, [stable])
    assert not refused.snippets and "number" in refused.refusal, refused
    given = _passage("Quillpad 5 ships with kernel 6.1, patched for the Osprey boards.", 0)
    assert "kernel 6.1" in "".join(answerer.stream(question, [given]))
    vague = _passage("When run outside a notebook, the installer fetches a predefined Quillpad version.", 0)
    fetched = answerer.decide("Which exact Quillpad version does the installer fetch?", [vague])
    assert not fetched.snippets and "number" in fetched.refusal, fetched
    # a question that names the version it is about, or offers the numbers to choose from, is answered
    notes_312 = _passage("Quillpad version 3.12 adds a dark theme and a new outline view.", 0)
    assert "dark theme" in "".join(answerer.stream("What is new in version 3.12 of Quillpad?", [notes_312]))
    ports = _passage("The Quillpad server listens on port 443 for every connection.", 0)
    assert "port 443" in "".join(
        answerer.stream("What port does the Quillpad server use, 80 or 443?", [ports])
    )


def test_a_question_naming_an_api_in_each_part_is_answered_from_what_documents_each(notes) -> None:
    """Each part asks about its own API: the passages documenting one of them answer, not only the one
    that happens to name both."""
    passages = [
        _passage("gate.open() returns false when the lock chamber is full, and the barge waits.", 0),
        _passage("Calling gate.close() a second time does nothing: the call is ignored, no error.", 500),
        _passage("The gate object has two methods, gate.open() and gate.close(), both in the handbook.", 900),
    ]
    question = "What does gate.open() return when the lock is full? And if I call gate.close() twice?"
    answer = _answer(notes, question, passages)
    assert "returns false" in answer and "does nothing" in answer, answer


def test_a_short_lead_in_holding_what_was_asked_comes_with_the_answer(notes) -> None:
    """ "Is it a hard cap?" is answered by the short sentence before the one that scores best."""
    text = (
        "Each lock keeps a log of the barges it passes. "
        "By default a lock warns when more than ten barges queue at its gate. "
        "This is not a hard limit. "
        "The lock keeps admitting barges but writes a congestion warning to the harbour log, so the keeper "
        "can see that the queue may be stuck."
    )
    question = "My lock logs a congestion warning once an eleventh barge queues. Is that a hard cap?"
    answer = _answer(notes, question, [_passage(text, 0)])
    assert "not a hard limit" in answer and "congestion warning" in answer, answer


def test_a_lead_in_takes_no_room_from_the_value_the_answer_goes_on_to() -> None:
    """The snippet's length limit counts from the answering sentence, not from the lead-in before it."""
    from typing import Any, cast

    from assistant.answering.extractive import Candidate, ExtractiveAnswerer, ExtractiveConfig
    from assistant.answering.question import Question
    from assistant.answering.units import split_units

    lead = "Its default applies to every socket on every platform and host."
    best = (
        "The backlog argument of server.listen() sets the maximum length of the queue of pending "
        "connections, and a client that connects while that queue is full is refused or left waiting, "
        "depending on the platform, which matters for servers that accept bursts of connections at "
        "start-up, such as a proxy in front of many workers, or a test harness that opens a great many "
        "sockets together, where the queue fills before the accept loop runs and some clients see their "
        "first attempt fail even though the server is up."
    )
    mid = (
        "The actual length is determined by the operating system through its own settings and its sysctl "
        "values on the hosts that run the server."
    )
    text = " ".join([lead, best, mid, "The value is 511."])
    assert len(text) - len(lead) - 1 <= 700 < len(text)  # the value fits after the answer, not after both
    question = Question.read(
        "How many pending connections does the backlog of server.listen() allow by default?"
    )
    units = split_units(text)
    answerer = ExtractiveAnswerer(cast(Any, None), ExtractiveConfig())
    quoted = answerer.snippet(Candidate(1, 1, units[1], ""), _passage(text, 0), question).text
    assert quoted.startswith(lead) and quoted.endswith("The value is 511."), quoted


def test_each_part_names_its_own_api_even_when_one_name_starts_the_other() -> None:
    from assistant.answering.compose import read_parts
    from assistant.answering.extractive import _per_part

    parts = read_parts("Does fs.write block the event loop? And what about fs.writeSync?")
    assert _per_part(["fs.write", "fs.writesync"], parts) == [["fs.write"], ["fs.writesync"]]
