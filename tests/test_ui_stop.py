"""Stop, without a browser: the stopped turn ends marked "(stopped)" whatever the stream does after the click
(tests/test_ui_browser.py drives the same through Chromium)."""

from __future__ import annotations

import threading
from typing import Any

from assistant.answering.service import Answer, Done, TextDelta
from assistant.ui import chat as ui
from tests.fakes import FakeChat

WORDS = ["The Mine Action Centre ", "is chaired ", "jointly ", "with Cambodia. [1]"]
EVENTS = [*(TextDelta(w) for w in WORDS), Done(Answer(text="".join(WORDS), model="fake"))]


def stop_in_a_thread(
    streaming: ui.Streaming, shown: list[dict[str, Any]]
) -> tuple[threading.Thread, list[Any]]:
    """Stop pressed: the handler runs in Gradio's thread pool while the stream goes on in another."""
    marked: list[Any] = []
    thread = threading.Thread(target=lambda: marked.append(ui.mark_stopped(streaming.stop(shown), {})[0]))
    thread.start()
    while not streaming.stopped and thread.is_alive():  # until the click has landed
        thread.join(0.01)
    return thread, marked


def test_an_update_after_stop_carries_the_mark_and_ends_the_stream() -> None:
    streaming = ui.Streaming()
    turn = streaming.guard(ui.answer_turn(FakeChat(EVENTS), "Who chairs it?", [], 6, {}))  # type: ignore[arg-type]
    next(turn)  # "Searching the documents…"
    history, *_ = next(turn)  # the first words
    browser_copy = [dict(m) for m in history]
    thread, marked = stop_in_a_thread(streaming, browser_copy)

    after = list(turn)  # what the cancelled stream still sends
    thread.join()
    assert len(after) == 1, "one last update, then the stream ends (no more words after Stop)"
    last = after[0][0][-1]["content"]
    assert last.endswith(ui.STOPPED_NOTE) and "Cambodia" not in last
    assert marked[0][-1]["content"] == last, "Stop marks the text the stream sent last, not an older copy"


def test_a_stream_closed_by_the_server_leaves_the_stop_handler_the_last_text() -> None:
    streaming = ui.Streaming()
    turn = streaming.guard(ui.answer_turn(FakeChat(EVENTS), "Who chairs it?", [], 6, {}))  # type: ignore[arg-type]
    next(turn)
    next(turn)
    history, *_ = next(turn)  # two pieces shown
    thread, marked = stop_in_a_thread(streaming, [])
    turn.close()  # Gradio's cancel closes the generator between two updates
    thread.join()
    assert marked[0][-1]["content"] == history[-1]["content"] + ui.STOPPED_NOTE
    assert streaming.ended.is_set()


def test_stop_with_nothing_being_written_marks_what_the_browser_shows_at_once() -> None:
    streaming = ui.Streaming()
    for _ in streaming.guard(ui.answer_turn(FakeChat(EVENTS), "Who chairs it?", [], 6, {})):  # type: ignore[arg-type]
        pass
    shown = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "Partial"}]
    assert streaming.stop(shown) is shown and not streaming.stopped
    history, _ = ui.mark_stopped(streaming.stop(shown), {})
    assert history[-1]["content"] == "Partial" + ui.STOPPED_NOTE


def test_each_browser_session_gets_its_own_streaming_state() -> None:
    import copy

    state = ui.Streaming()
    state.stopped = True
    fresh = copy.deepcopy(state)  # what gr.State does once per session
    assert fresh is not state and not fresh.stopped and fresh.ended.is_set()
