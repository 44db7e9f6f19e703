"""The grounded chain end to end: real embeddings, real Chroma, the offline extractive answerer."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from assistant.answering.chain import Request
from assistant.answering.citations import MarkerFilter, resolve
from assistant.answering.prompts import REFUSAL
from assistant.answering.service import Done, TextDelta
from tests.conftest import SEEDS
from vectorstore.loaders import load_text
from vectorstore.metadata import ChunkMeta, StoredMeta

QUESTIONS = [
    "With which country is Russia jointly chairing the Mine Action Centre?",
    "What did Lavrov thank Malaysia for regarding the conflict in Ukraine?",
    "When did the Eurasian Economic Union and China sign their agreement on trade and economic cooperation?",
    "What documents were signed in Vientiane?",
]


def _folder(tmp_path: Path, **files: str) -> Path:
    """A folder of small documents, `name_md="text"` written as name.md."""
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    for name, text in files.items():
        (docs / name.replace("_md", ".md")).write_text(text)
    return docs


def _ingested(tmp_path: Path, name: str, docs: Path, **settings: Any) -> Any:
    """A container of its own (data dir `name`) with the folder ingested, under these settings."""
    from assistant.container import build_container
    from assistant.settings import Settings

    container = build_container(Settings(data_dir=tmp_path / name, **settings))
    container.ingest.ingest([docs])
    return container


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_marker_resolves_to_a_cited_passage_found_in_the_source_at_its_offsets(
    components, question
) -> None:
    answer = components.chat.answer(question)
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    assert markers, f"no citation in {answer.text!r}"
    assert markers == {c.n for c in answer.citations}
    for citation in answer.citations:
        source = load_text(SEEDS / citation.source)  # offsets index the file's extracted text
        assert source[citation.start : citation.end] == citation.text
        assert citation.passage and citation.text in answer.retrieved[citation.passage - 1].text  # its span


@pytest.mark.parametrize("question", QUESTIONS)
def test_extractive_answers_only_quote_the_cited_passages(components, question) -> None:
    answer = components.chat.answer(question)
    cited = {c.n: c for c in answer.citations}
    for snippet, n in re.findall(r"\s*(.+?)\s*\[(\d+)\]", answer.text, re.S):
        citation = cited[int(n)]
        leaf = citation.section.rsplit(" > ", 1)[-1]
        if leaf and snippet.startswith(f"{leaf}: "):  # the heading that names what the snippet is about
            snippet = snippet[len(leaf) + 2 :]
        assert snippet in citation.text, f"{snippet!r} is not in passage [{n}]"


def test_answers_the_seed_questions_correctly(components) -> None:
    assert "Cambodia" in components.chat.answer(QUESTIONS[0]).text
    assert "balanced position" in components.chat.answer(QUESTIONS[1]).text
    assert "May 2018" in components.chat.answer(QUESTIONS[2]).text


@pytest.mark.parametrize(
    "question", ["How do I bake sourdough bread at home?", "What is the boiling point of liquid nitrogen?"]
)
def test_a_question_far_from_the_documents_gets_the_refusal_without_citations(components, question) -> None:
    answer = components.chat.answer(question)
    assert answer.text == REFUSAL and answer.refused
    assert answer.citations == []


def test_follow_up_retrieves_from_the_conversation_context(components) -> None:
    history = [
        {
            "role": "user",
            "content": "What happened during Lavrov's meeting in Vientiane with the Lao minister?",
        },
        {"role": "assistant", "content": "The ministers met like old friends in Vientiane on July 25. [1]"},
    ]
    answer = components.chat.answer("And what did they sign there?", history)
    assert "Vientiane" in answer.query, "the follow-up was made standalone before retrieval"
    assert any("signed three strategically important bilateral documents" in c.text for c in answer.citations)
    alone = components.chat.answer("And what did they sign there?")
    assert not any("signed three strategically" in c.text for c in alone.citations), (
        "context made the difference"
    )


def test_a_follow_up_that_names_nothing_of_its_own_takes_the_conversations_subject(components) -> None:
    history = [
        {"role": "user", "content": "What happened during Lavrov's meeting in Vientiane?"},
        {"role": "assistant", "content": "The ministers met like old friends in Vientiane on July 25. [1]"},
    ]
    answer = components.chat.answer("What was signed during the visit?", history)  # no pronoun, no name
    assert "Vientiane" in answer.query, "the conversation supplied the subject"
    assert any("signed three strategically important bilateral documents" in c.text for c in answer.citations)
    switched = "What did Lavrov say about relations with Malaysia?"  # names its own subject
    assert components.chat.answer(switched, history).query == switched
    # naming nothing, it may also be a new topic: its own words still search beside the conversation's
    moved = components.chat.answer("What was agreed about trade turnover?", history)
    assert "Vientiane" in moved.query
    assert any("increase in trade turnover" in p.text for p in moved.retrieved), [
        p.text for p in moved.retrieved
    ]


def test_a_follow_up_with_a_pronoun_also_searches_its_own_words(tmp_path: Path) -> None:
    """The conversation's words find the server advice; the follow-up's ask ("go back") is answered in
    another document's entry, which only the follow-up's own words rank."""
    docs = _folder(
        tmp_path,
        servers_md="# Servers\n\nFor a server that faces the internet, the stable distribution is by far the "
        "safest choice. Stable servers get security updates for the whole life of a release.\n",
        switching_md="# Switching\n\nCan I go back after changing to another distribution? Yes, but it is a "
        "one way process: going back down is not supported.\n",
    )
    history = [
        {"role": "user", "content": "Which distribution should I put on a server that faces the internet?"},
        {"role": "assistant", "content": "Stable: by far the safest choice for a server. [1]"},
    ]
    for part_passages in (0, 2):
        container = _ingested(
            tmp_path, f"data{part_passages}", docs, section_leads=0, part_passages=part_passages
        )
        answer = container.chat.answer("If I switch it to unstable later on, can I go back?", history, k=1)
        assert "server" in answer.query, "a pronoun: condensed with the conversation"
        found = " ".join(p.text for p in answer.retrieved)
        assert ("one way process" in found) == bool(part_passages), found


def test_streamed_text_equals_the_final_answer(components) -> None:
    events = list(components.chat.stream(QUESTIONS[1]))
    streamed = "".join(e.text for e in events if isinstance(e, TextDelta))
    final = events[-1]
    assert isinstance(final, Done) and streamed == final.answer.text
    assert len([e for e in events if isinstance(e, TextDelta)]) >= 1


def test_k_controls_how_many_passages_are_retrieved(components) -> None:
    leads = components.settings.section_leads  # the top passages may bring their section's opening
    for k in (3, 9):
        assert k <= len(components.chat.answer(QUESTIONS[0], k=k).retrieved) <= k + leads


def test_a_passage_deep_in_a_section_brings_the_sections_opening(tmp_path: Path) -> None:
    opening = "The tidewell is a brass pump that lifts harbour water into the town cisterns."
    filler = " ".join(f"Gasket {i} of the tidewell is checked each spring for salt." for i in range(60))
    docs = _folder(
        tmp_path,
        pumps_md=f"# Pumps\n\n## Tidewell\n\n{opening}\n\n{filler}\n\n"
        "The tidewell gaskets come from the Kessa foundry.\n",
    )
    for leads in (0, 1):
        container = _ingested(tmp_path, f"data{leads}", docs, section_leads=leads)
        got = container.chat.answer("Where do the tidewell gaskets come from?", k=1).retrieved
        assert ("lifts harbour water" in " ".join(p.text for p in got)) == bool(leads), [p.text for p in got]


def test_a_two_part_question_finds_the_passage_of_each_part(tmp_path: Path) -> None:
    """Per-part retrieval (`RAG_PART_PASSAGES`): the whole question's words are mostly about the pump, so its
    best passage is the pump's; the lighthouse's passage is found by the second part's own search, and its
    sentence, the best against its own part, is quoted with the pump's (`part_scoring`)."""
    docs = _folder(
        tmp_path,
        pumps_md="# Pumps\n\n## Tidewell\n\nThe brass gaskets that seal the tidewell harbour pump are cast "
        "by the Kessa foundry.\n\n## Saltworks\n\nThe saltworks pump runs on a windmill beside the quay.\n",
        lighthouse_md="# Lighthouse\n\nThe lighthouse on the north mole was built in 1871 by the "
        "stonemasons of Orvik.\n",
    )
    question = (
        "Which foundry casts the brass gaskets of the tidewell harbour pump, "
        "and when was the lighthouse built?"
    )
    for part_passages in (0, 1):
        container = _ingested(
            tmp_path, f"data{part_passages}", docs, section_leads=0, part_passages=part_passages
        )
        answer = container.chat.answer(question, k=1)
        found = " ".join(p.text for p in answer.retrieved)
        assert "Kessa" in found
        assert ("1871" in found) == bool(part_passages), [p.text for p in answer.retrieved]
        assert "Kessa" in answer.text, answer.text
        assert ("built in 1871" in answer.text) == bool(part_passages), answer.text
    one_part = container.chat.answer("Which foundry casts the brass gaskets of the tidewell pump?", k=1)
    assert len(one_part.retrieved) == 1, "a one-part question is searched once, as before"


def test_a_document_kept_in_two_versions_does_not_crowd_out_another(tmp_path: Path) -> None:
    """Copies of a document (a reworded version, a draft) rank side by side; with `duplicate_overlap`
    their places go to the next documents' passages, which answer the rest of the question, and k
    passages still come back. Versions that differ in a number both stay: the value changed."""
    rule = (
        "# Harbour rules\n\nA harbour pilot must board every ship longer than forty metres before it "
        "passes the north mole. The pilot is chosen by the harbour master from the pilots on duty.\n"
    )
    docs = _folder(
        tmp_path,
        rules_md=rule,
        rules_reworded_md=rule.replace("must board", "shall board"),
        rules_draft_md=rule,
        fees_md="# Fees\n\nA harbour pilot is paid 90 crowns per ship by the owner of the ship.\n",
    )
    question = (
        "Which ships must a harbour pilot board before they pass the north mole, "
        "and how much is a harbour pilot paid per ship?"
    )
    for bar in (1.0, 0.9):
        container = _ingested(
            tmp_path, f"data{bar}", docs, section_leads=0, part_passages=0, duplicate_overlap=bar
        )
        answer = container.chat.answer(question, k=2)
        got = [p.source for p in answer.retrieved]
        assert len(got) == 2
        assert ("fees.md" in got) == (bar < 1.0), got
        assert ("90 crowns" in answer.text) == (bar < 1.0), answer.text
    _folder(tmp_path, rules_draft_md=rule.replace("forty metres", "forty-five metres"))
    container.ingest.ingest([docs])
    got = [p.source for p in container.chat.answer("Which ships must a harbour pilot board?", k=3).retrieved]
    assert "rules_draft.md" in got and len(got) == 3, got


def _docs(n: int):
    from langchain_core.documents import Document

    return [
        Document(page_content=f"passage {i}", metadata={"source": "s.txt", "start": 0, "end": 9})
        for i in range(1, n + 1)
    ]


def test_markers_pointing_nowhere_are_dropped() -> None:
    text, citations = resolve("Alpha [1]. Beta [7]. Gamma [2, 9]. Delta [3][1].", _docs(3))
    assert text == "Alpha [1]. Beta. Gamma [2]. Delta [3][1]."
    assert [c.n for c in citations] == [1, 2, 3]


def test_markers_are_numbered_in_reading_order_and_keep_their_passage() -> None:
    """A reader meets [1] first: "[7] ... [2]" from the model reads "[1] ... [2]", each citation still
    pointing at the passage the model cited."""
    text, citations = resolve("Alpha [3]. Beta [1, 3]. Gamma [2]. Delta [9].", _docs(3))
    assert text == "Alpha [1]. Beta [2][1]. Gamma [3]. Delta."
    assert [(c.n, c.passage) for c in citations] == [(1, 3), (2, 1), (3, 2)]
    assert [c.text for c in citations] == ["passage 3", "passage 1", "passage 2"]


def test_marker_filter_streams_the_same_text_as_resolve_whatever_the_chunking() -> None:
    raw = "Alpha [2]. Beta [12]. Gamma [3, 1, 9] and [x] stays. End [3"
    expected, _ = resolve(raw, _docs(3))
    for size in (1, 2, 3, 5, 8):
        f = MarkerFilter(3)
        out = "".join(f.feed(raw[i : i + size]) for i in range(0, len(raw), size)) + f.flush()
        assert out == expected, size


def test_a_clear_keyword_winner_is_not_buried_by_rank_fusion(components) -> None:
    # The evidence ranks 2nd by BM25 but ~20th by the small embedding model; plain RRF dropped it.
    question = "How long does Lavrov expect today's period of global turbulence to go on?"
    docs = components.retriever.invoke(question)
    assert any("period of perturbation which will eventually end" in d.page_content for d in docs)


def test_a_follow_up_answer_does_not_repeat_what_was_just_said(components) -> None:
    first_question = "What happened during Lavrov's meeting in Vientiane with the Lao minister?"
    first = components.chat.answer(first_question)
    said = re.sub(r"\s*\[\d+\]", "", first.text).strip()
    history = [{"role": "user", "content": first_question}, {"role": "assistant", "content": first.text}]
    follow_up = components.chat.answer("And what did they sign there?", history)
    assert "signed three strategically important bilateral documents" in follow_up.text
    assert said not in follow_up.text


def test_an_answer_embeds_its_question_once(components, monkeypatch) -> None:
    calls: list[str] = []
    cls = type(components.embeddings.model)
    original = cls.embed_query
    monkeypatch.setattr(cls, "embed_query", lambda self, text: calls.append(text) or original(self, text))
    components.chat.answer("Which memorandum concerns teaching Russian in schools in Laos?")
    assert calls == ["Which memorandum concerns teaching Russian in schools in Laos?"]
    # a follow-up: its condensed query and its own words, once each (retrieval and answerer share them)
    calls.clear()
    history = [
        {"role": "user", "content": "Which memorandum concerns teaching Russian in schools in Laos?"},
        {"role": "assistant", "content": "A memorandum on teaching Russian in Lao schools. [1]"},
    ]
    answer = components.chat.answer("When was it signed?", history)
    assert answer.query != "When was it signed?", "condensed with the conversation"
    assert sorted(calls) == sorted([answer.query, "When was it signed?"]), calls


def test_stored_and_retrieved_metadata_keep_to_their_typed_keys(components) -> None:
    """What the store writes (StoredMeta) and the retriever hands the answerer (ChunkMeta) has exactly the
    keys the types name: a key outside them would be read by an unchecked string somewhere, and a missing
    one would cite a passage without its place in the source."""
    stored = components.store.metadatas()
    assert stored
    for meta in stored.values():
        assert (
            StoredMeta.__required_keys__
            <= set(meta)
            <= StoredMeta.__required_keys__ | StoredMeta.__optional_keys__
        )
    question = QUESTIONS[0]
    passages = components.retriever.retrieve(question, components.embeddings.embed_query(question))
    assert passages
    for passage in passages:
        keys = set(passage.metadata)
        assert {"id", "score", "similarity", "section"} | ChunkMeta.__required_keys__ <= keys
        assert keys <= ChunkMeta.__required_keys__ | ChunkMeta.__optional_keys__, keys


def test_the_chain_steps_pass_the_request_and_its_passages_along(components) -> None:
    """`prepare` keeps the request it was given (scope and k included) with the standalone query and the
    passages; the extractive `generate` writes why it refused into the same object."""
    request = Request(QUESTIONS[0], k=2, scope={"source": "003_50dedbe65a896504.txt"})
    prepared = components.chat.prepare.invoke(request)
    assert prepared.request == request and prepared.query == QUESTIONS[0]
    assert 1 <= len(prepared.passages) <= 2 + components.retriever.section_leads
    assert {p.metadata["source"] for p in prepared.passages} == {"003_50dedbe65a896504.txt"}
    near = components.chat.prepare.invoke(Request(QUESTIONS[0]))
    answered = "".join(components.chat.generate.stream(near))
    assert "Cambodia" in answered and near.refusal_reason == ""
    far = components.chat.prepare.invoke(Request("What is the boiling point of liquid nitrogen?"))
    assert "".join(components.chat.generate.stream(far)) == ""
    assert far.refusal_reason, "the refusal says why"
