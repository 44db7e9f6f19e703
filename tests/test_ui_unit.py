"""The UI's own logic, without a browser: history hygiene, highlighting, error messages, upload reports."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from assistant.answering.citations import Citation, RetrievedPassage
from assistant.answering.service import Answer, Done, TextDelta
from assistant.errors import ModelUnavailableError
from assistant.ui import chat as ui
from assistant.ui import documents
from assistant.ui import sources as ui_sources
from tests.fakes import FakeChat
from vectorstore.errors import UnknownDocumentError, UploadError
from vectorstore.ingest import IngestReport, SkippedFile

PASSAGE = (
    "ASEAN is a solid foundation.\n\n \n\nIn conjunction with Cambodia, we are now chairing the Mine Action "
    "Centre. We proposed to Vietnam jointly heading the group."
)
SENTENCE = "In conjunction with Cambodia, we are now chairing the Mine Action Centre."


def _answer(text: str, n: int = 2, refused: bool = False) -> Answer:
    citation = Citation(n=n, source="a.txt", start=100, end=100 + len(PASSAGE), text=PASSAGE)
    retrieved = [
        RetrievedPassage(
            n=i,
            source="a.txt" if i == n else "b.txt",
            start=0,
            end=10,
            text=PASSAGE,
            score=0.1,
            similarity=0.5,
        )
        for i in (1, 2, 3)
    ]
    return Answer(text=text, citations=[] if refused else [citation], retrieved=retrieved, refused=refused)


# -- history ---------------------------------------------------------------------------------------------


def test_history_for_service_reads_gradio6_messages_and_drops_failed_turns() -> None:
    history = [
        {"role": "user", "content": [{"type": "text", "text": "Q1"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A1 [1]" + ui.UNGROUNDED_NOTE}]},
        {"role": "user", "content": "Q2"},
        {
            "role": "assistant",
            "content": ui.ERROR_PREFIX + "**The language model is not available right now.**",
        },
        {"role": "user", "content": "Q3"},
        {"role": "assistant", "content": "partial" + ui.STOPPED_NOTE},
        {"role": "user", "content": "Q4"},
        {"role": "assistant", "content": "A4 [2]"},
    ]
    assert ui.history_for_service(history) == [
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1 [1]"},
        {"role": "user", "content": "Q4"},
        {"role": "assistant", "content": "A4 [2]"},
    ]


def test_last_question_and_the_history_before_it() -> None:
    history = [
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": [{"type": "text", "text": "Q2"}]},
        {"role": "assistant", "content": "A2"},
    ]
    assert ui.last_question(history) == ("Q2", history[:2])
    assert ui.last_question([]) == ("", [])


# -- highlighting ----------------------------------------------------------------------------------------


def test_cited_segments_pair_text_with_its_markers() -> None:
    assert ui_sources.cited_segments("A b c. [1] D e f [2][3]. G [1]") == [
        ("A b c.", [1]),
        ("D e f", [2, 3]),
        ("G", [1]),
    ]


def test_highlight_finds_a_quoted_sentence_across_line_breaks_and_initials() -> None:
    passage = "Intro.\nThe minister of Foreign\nAffairs, S. Kommasith, met him. Then more."
    spans = ui_sources.highlight_spans(passage, ["The minister of Foreign Affairs, S. Kommasith, met him."])
    assert [passage[s:e] for s, e in spans] == ["The minister of Foreign\nAffairs, S. Kommasith, met him."]


def test_highlight_finds_the_sentence_a_paraphrase_comes_from() -> None:
    spans = ui_sources.highlight_spans(
        PASSAGE, ["Russia jointly chairs the Mine Action Centre with Cambodia"]
    )
    assert [PASSAGE[s:e] for s, e in spans] == [SENTENCE]
    assert ui_sources.highlight_spans(PASSAGE, ["Something about apples and pears entirely"]) == []


def test_source_card_escapes_and_marks_the_cited_sentence() -> None:
    citation = Citation(n=1, source="<evil>.txt", start=5, end=50, text="Before <b>. " + SENTENCE)
    card = ui_sources.source_card(3, citation, SENTENCE + " [1]", 0.42, open_=True)
    assert "id='source-3-1'" in card and " open" in card
    assert f"<mark>{SENTENCE}</mark>" in card
    assert "&lt;evil&gt;.txt" in card and "&lt;b&gt;" in card and "<b>" not in card
    assert "characters 5–50 · relevance 0.42" in card


def test_sources_panel_shows_only_the_current_answer() -> None:
    groups = {
        0: ui_sources.source_group(0, "Q1", _answer(SENTENCE + " [2]")),
        1: ui_sources.source_group(1, "Q2", None, "x"),
    }
    html = ui_sources.sources_html(groups)
    assert "<section hidden class='source-group' data-turn='0'" in html
    assert "<section class='source-group' data-turn='1'" in html
    assert "Also searched, not cited (2)" in html


def test_cards_follow_the_answers_reading_order_and_the_rest_its_relevance() -> None:
    def passage(n: int, similarity: float) -> RetrievedPassage:
        return RetrievedPassage(
            n=n, source=f"doc{n}.txt", start=0, end=10, text=PASSAGE, score=0.1, similarity=similarity
        )

    cited = [Citation(n=n, source=f"doc{n}.txt", start=0, end=10, text=PASSAGE) for n in (1, 2)]
    retrieved = [passage(1, 0.9), passage(2, 0.8), passage(3, 0.2), passage(4, 0.7)]
    answer = Answer(text="First fact. [2] Second fact. [1]", citations=cited, retrieved=retrieved)
    html = ui_sources.source_group(0, "Q", answer)
    assert html.index("id='source-0-2'") < html.index("id='source-0-1'"), "[2] is read first"
    assert html.index("doc4.txt") < html.index("doc3.txt"), "not cited: the most relevant first"


# -- answering -------------------------------------------------------------------------------------------


def test_answer_turn_streams_then_shows_sources_and_keeps_plain_text() -> None:
    text = SENTENCE + " [2]"
    chat = FakeChat([TextDelta(SENTENCE), TextDelta(" [2]"), Done(_answer(text))])
    prior = [{"role": "user", "content": "Q0"}, {"role": "assistant", "content": "A0 [1]"}]
    steps = list(ui.answer_turn(chat, "  Who?  ", prior, 4, {}))  # type: ignore[arg-type]
    assert chat.calls == [("Who?", prior, 4)]
    history, sources, box, groups = steps[-1]
    assert history[-2:] == [{"role": "user", "content": "Who?"}, {"role": "assistant", "content": text}]
    assert box == "" and set(groups) == {1}
    assert "Searching the documents" in steps[0][1]
    assert "id='source-1-2'" in sources and f"<mark>{SENTENCE}</mark>" in sources


def test_answer_turn_turns_a_model_outage_into_a_message_and_never_raises() -> None:
    chat = FakeChat(ModelUnavailableError("cannot reach the model server at http://x/v1: is it running?"))
    history, sources, _, _ = list(ui.answer_turn(chat, "Q", [], 6, {}))[-1]  # type: ignore[arg-type]
    reply = history[-1]["content"]
    assert reply.startswith(ui.ERROR_PREFIX) and "not available" in reply and "Retry" in reply
    assert "cannot reach the model server" in reply
    assert "the model is unavailable" in sources
    assert ui.history_for_service(history) == []  # the failed turn is not sent back as context

    chat = FakeChat(RuntimeError("boom"))
    history, _, _, _ = list(ui.answer_turn(chat, "Q", [], 6, {}))[-1]  # type: ignore[arg-type]
    assert "Something went wrong" in history[-1]["content"] and "request id" in history[-1]["content"]
    assert "boom" not in history[-1]["content"], "the details stay in the log"


def test_answer_turn_ignores_an_empty_question() -> None:
    chat = FakeChat([])
    steps = list(ui.answer_turn(chat, "   ", [], 6, {}))  # type: ignore[arg-type]
    assert len(steps) == 1 and steps[0][0] == [] and chat.calls == []


def test_stop_marks_the_partial_answer() -> None:
    history = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "Partial answer"}]
    stopped, sources = ui.mark_stopped(history, {})
    assert stopped[-1]["content"] == "Partial answer" + ui.STOPPED_NOTE
    assert "Stopped before the answer was complete" in sources
    again, _ = ui.mark_stopped(stopped, {})
    assert again[-1]["content"].count("(stopped)") == 1


def test_the_answer_bubble_shows_the_typing_indicator_until_the_first_words() -> None:
    chat = FakeChat([TextDelta(SENTENCE), Done(_answer(SENTENCE))])
    # each update as the browser got it (the turn reuses its history between updates)
    steps = [copy.deepcopy(step) for step in ui.answer_turn(chat, "Who?", [], 4, {})]  # type: ignore[arg-type]
    assert steps[0][0][-1] == {"role": "assistant", "content": ui.TYPING}
    assert all(ui.TYPING not in step[0][-1]["content"] for step in steps[1:])
    # a turn that never got past the dots is not sent back as context, and Stop leaves no dots behind
    assert ui.history_for_service(steps[0][0]) == []
    stopped, _ = ui.mark_stopped(steps[0][0], {})
    assert stopped[-1]["content"] == ui.STOPPED_NOTE.strip()


# -- documents -------------------------------------------------------------------------------------------


class FakeIngest:
    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome

    def add_upload(self, name: str, data: bytes, max_bytes: int, replace: bool = False) -> IngestReport:
        self.calls = [*getattr(self, "calls", []), (name, replace)]
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome

    def delete(self, source: str) -> int:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return 3


@pytest.fixture
def upload_file(tmp_path: Path) -> Path:
    path = tmp_path / "report.txt"
    path.write_text("hello", encoding="utf-8")
    return path


def test_upload_report_lines(upload_file: Path) -> None:
    added = IngestReport(files_seen=1, files_changed=1, chunks_added=1, seconds=0.2)
    text = documents.ingest_files(FakeIngest(added), [str(upload_file)], 100)  # type: ignore[arg-type]
    assert text.startswith("✓ **report.txt** added: 1 new chunk in 0.2 s")

    program = upload_file.with_name("run.exe")
    program.write_bytes(b"MZ")
    text = documents.ingest_files(FakeIngest(added), [str(program)], 100)  # type: ignore[arg-type]
    assert "was not added: files of type **.exe** cannot be read. Supported types:" in text

    bad_name = UploadError("invalid file name '.hidden.txt': use a plain name")
    text = documents.ingest_files(FakeIngest(bad_name), [str(upload_file)], 100)  # type: ignore[arg-type]
    assert "✗ **report.txt** was not added: Invalid file name '.hidden.txt': use a plain name." in text

    skipped = IngestReport(skipped=[SkippedFile("report.txt", "cannot read .pdf file: broken")])
    text = documents.ingest_files(FakeIngest(skipped), [str(upload_file)], 100)  # type: ignore[arg-type]
    assert "✗ **report.txt** could not be read: cannot read .pdf file: broken." in text

    text = documents.ingest_files(FakeIngest(added), [str(upload_file.with_name("gone.txt"))], 100)  # type: ignore[arg-type]
    assert "✗ **gone.txt** could not be read" in text
    assert documents.ingest_files(FakeIngest(added), [], 100).startswith("Choose")  # type: ignore[arg-type]


def test_delete_messages() -> None:
    assert documents.delete_document(FakeIngest(None), "a.txt").startswith("✓ Deleted **a.txt** (3 chunks)")  # type: ignore[arg-type]
    gone = documents.delete_document(FakeIngest(UnknownDocumentError("a.txt")), "a.txt")  # type: ignore[arg-type]
    assert "no longer in the library" in gone
    assert documents.delete_document(FakeIngest(None), None).startswith("Choose")  # type: ignore[arg-type]


def test_documents_table_formats_numbers_escapes_names_and_gives_admins_a_delete_per_row() -> None:
    from assistant.ui.documents_view import documents_summary, documents_table, format_size
    from vectorstore.ingest import DocumentInfo

    assert [format_size(n) for n in (None, 0, 999, 92_948, 1_234_567, 123_456_789)] == [
        "—",
        "0 B",
        "999 B",
        "92.9 KB",
        "1.2 MB",
        "123 MB",
    ]
    when = 1_764_706_500.0  # 2025-12-02 20:15 UTC
    report = DocumentInfo("report.pdf", 1_234, 90_000, "", when, "finance", "Annual report", 92_948)
    hostile = DocumentInfo("<img src=x onerror=alert(1)>.txt", 2, 10, "", 0.0, "default", "", None)
    admin = documents_table([report, hostile], can_delete=True)
    assert "<td data-label='Collection'>finance</td>" in admin
    assert "title='2025-12-02 20:15 UTC'>2 Dec 2025</span>" in admin
    assert ">92.9 KB</td>" in admin and ">1,234</td>" in admin
    assert "<span class='doc-title'>Annual report</span><span class='doc-file'>report.pdf</span>" in admin
    assert "<img" not in admin and "&lt;img src=x onerror=alert(1)&gt;.txt" in admin
    assert admin.count("<button type='button' class='delete-doc'") == 2
    hostile_row = admin.split("<tr ")[2]
    assert hostile_row.count(">—<") == 2, "no size, no date: an old document shows dashes"
    member = documents_table([report, hostile], can_delete=False)
    assert "delete-doc" not in member and "finance" in member
    assert documents_summary([report, hostile]) == "**2 documents**, 1,236 chunks searchable."


def test_upload_progress_says_the_stage_the_seconds_and_the_percentage() -> None:
    from assistant.ui.documents_view import job_progress

    def entry(name: str, state: str, **more: Any) -> dict[str, Any]:
        return {"name": name, "state": state, "chunks": 0, "chunks_total": None, "error": None} | more

    snapshot = {
        "state": "running",
        "cancel_requested": False,
        "files_done": 1,
        "files_total": 3,
        "chunks_done": 1_040,
        "chunks_total": 4_182,
        "percent": 41,
        "files": [
            entry("a.txt", "done", chunks=1_000, chunks_total=1_000),
            entry("b.pdf", "running", chunks=40, chunks_total=3_182, stage="embedding", stage_started_at=1.0),
            entry("<c>.md", "queued"),
        ],
    }
    text = job_progress(snapshot, now=10.0)
    head, *lines = text.split("\n\n")
    assert head == "**Adding 3 files: 41%** · file 2 of 3 · 1,040 of 4,182 chunks embedded"
    assert lines == [
        "✓ **a.txt**: done",
        "→ **b.pdf**: embedding 40 of 3,182 chunks (1%)",
        "· **&lt;c&gt;.md**: waiting",
    ]
    snapshot["files"][1] |= {"stage": "parsing", "stage_started_at": 3.5, "chunks_total": None}
    assert "→ **b.pdf**: extracting the text (6 s)" in job_progress(snapshot, now=10.0)
    assert "→ **b.pdf**: extracting the text…" in job_progress(snapshot, now=4.0)
    snapshot["files"][1] |= {"pages": 1_200, "pages_total": 4_000}
    assert "→ **b.pdf**: extracting the text: page 1,200 of 4,000 (30%)" in job_progress(snapshot, now=10.0)
