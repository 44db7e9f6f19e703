"""Stand-ins shared by the test modules, for the parts a test is not about.

`FakeChat` replaces the chat service where a test checks what the UI or the API does around an answer (its
rendering, its errors, its streaming) and the answer's content does not matter. `HashEmbeddings` replaces
the embedding model where a test checks the store's bookkeeping; every test of what retrieval finds in real
text keeps the real model.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.embeddings import Embeddings

from assistant.answering.citations import Citation
from assistant.answering.service import Answer, Done, TextDelta

CAMBODIA = Answer(
    text="Cambodia. [1]",
    citations=[Citation(n=1, source="a.txt", start=0, end=8, text="Cambodia")],
    model="fake",
)


class FakeChat:
    """A chat service whose outcome is scripted: an Answer (streamed in two pieces, then Done), an exception
    (raised after the first piece, as a model failing mid-answer does), or the exact events to stream."""

    model_label = "fake"

    def __init__(self, outcome: Answer | Exception | Sequence[Any] = CAMBODIA) -> None:
        self.outcome = outcome
        self.calls: list[tuple[str, list[dict[str, str]], int | None]] = []

    def answer(self, question: str, history: Any = (), k: int | None = None) -> Answer:
        self.calls.append((question, list(history), k))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        if isinstance(self.outcome, Answer):
            return self.outcome
        done = [event.answer for event in self.outcome if isinstance(event, Done)]
        return done[-1] if done else Answer(text="", model="fake")

    def stream(self, question: str, history: Any = (), k: int | None = None) -> Iterator[Any]:
        self.calls.append((question, list(history), k))
        if not isinstance(self.outcome, (Answer, Exception)):
            yield from self.outcome
            return
        yield TextDelta("Camb")
        if isinstance(self.outcome, Exception):
            raise self.outcome
        if self.outcome.text.startswith("Camb"):
            yield TextDelta(self.outcome.text[4:])
        yield Done(self.outcome)


class HashEmbeddings(Embeddings):
    """16 floats from a text's SHA-256, so a process using it starts in a second instead of loading the model.
    For bookkeeping (ids, counts, locks, snapshots, interrupted runs), never for what retrieval finds.
    Optionally slow (`delay` seconds a batch), failing after `fail_after` batches like a killed process, or
    running `on_embed` before each batch (someone else acting on the files meanwhile)."""

    def __init__(
        self, delay: float = 0.0, fail_after: int | None = None, on_embed: Callable[[], None] | None = None
    ) -> None:
        self.delay = delay
        self.fail_after = fail_after
        self.on_embed = on_embed
        self.calls = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        if self.on_embed is not None:
            self.on_embed()
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("the process was killed here")
        time.sleep(self.delay)
        return [hash_vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return hash_vector(text)


def hash_vector(text: str) -> list[float]:
    """The vector HashEmbeddings gives `text`: deterministic, never all zeros."""
    digest = hashlib.sha256(text.encode()).digest()
    return [b / 255 + 0.01 for b in digest[:16]]
