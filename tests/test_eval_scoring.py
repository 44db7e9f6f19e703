"""How the eval scores an answer: what a reader of the figures in docs/quality.md takes on trust."""

from __future__ import annotations

from assistant.answering.service import Answer
from assistant.evaluation.scoring import EvalItem, score_item


def test_a_citation_marker_is_not_the_number_the_question_asks_for() -> None:
    """ "How many threads?" with must "4": an answer citing passage [4] without saying 4 is wrong, as a
    reader would judge it; the same answer saying "4 threads" is right."""
    item = EvalItem("x1", "How many threads does the pool have?", [], True, [["4", "four"]], [], "factoid")
    vague = Answer(text="The pool's size is set by UV_THREADPOOL_SIZE. [4]")
    assert not score_item(item, vague, 1.0).correct
    said = Answer(text="The pool has 4 threads by default. [1]")
    assert score_item(item, said, 1.0).correct


def test_an_index_in_code_is_not_taken_for_a_citation_marker() -> None:
    """Only the " [n]" written after a quoted snippet is a marker: "sys.argv[1]" in the answer stays."""
    item = EvalItem("x2", "Where is the script's first argument?", [], True, [["sys.argv[1]"]], [], "factoid")
    assert score_item(item, Answer(text="Read sys.argv[1] for the first argument. [2]"), 1.0).correct


def test_a_marker_before_a_full_stop_is_stripped_so_a_rejected_answer_is_recognised() -> None:
    """A generated answer writes "Cambodia [1]." and the 👎 one "Cambodia [2].": the same answer again; and
    a marker before the full stop is no more the number asked for than one at the end."""
    from assistant.evaluation.scoring import repeats

    assert repeats("Russia chairs it with Cambodia [2].", ["Russia chairs it with Cambodia [1]."])
    item = EvalItem("x3", "How many threads does the pool have?", [], True, [["4", "four"]], [], "factoid")
    assert not score_item(item, Answer(text="The pool is sized by UV_THREADPOOL_SIZE [4]."), 1.0).correct
