"""ChatService: the one place answers are made. The UI, the API and the CLI only adapt it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import Runnable
from pydantic import BaseModel, Field

from assistant.answering.chain import Prepared, Request, to_messages
from assistant.answering.citations import (
    Citation,
    MarkerFilter,
    Numbering,
    RetrievedPassage,
    quoted_spans,
    resolve,
    retrieved_of,
)
from assistant.answering.prompts import EMPTY_STORE, REFUSAL
from assistant.answering.support import SentenceSupport, check_support
from assistant.errors import ModelUnavailableError, model_error
from assistant.limits import Limits
from vectorstore.metadata import chunk_meta

log = logging.getLogger(__name__)


class Answer(BaseModel):
    text: str
    citations: list[Citation] = Field(default_factory=list)
    retrieved: list[RetrievedPassage] = Field(default_factory=list)
    query: str = ""
    model: str = ""
    refused: bool = False
    refusal_reason: str = Field("", description="Why the answer is a refusal, e.g. 'no passage mentions X'.")
    ungrounded: bool = Field(False, description="A generated answer that cites no passage.")
    unsupported: bool = Field(
        False, description="A generated answer with at least one sentence its cited passages do not hold."
    )
    support: list[SentenceSupport] = Field(
        default_factory=list, description="Generated answers: each sentence checked against what it cites."
    )
    empty_store: bool = Field(
        False, description="Nothing is ingested yet: the answer says how to add documents."
    )
    timings: dict[str, float] = Field(default_factory=dict)


@dataclass
class TextDelta:
    text: str


@dataclass
class Done:
    answer: Answer


StreamEvent = TextDelta | Done


class ChatService:
    """Answers a question with its history: condense, retrieve, gate, generate, resolve citations."""

    def __init__(
        self,
        prepare: Runnable[Request, Prepared],
        generate: Runnable[Prepared, str],
        model_label: str,
        min_relevance: float,
        generative: bool,
        model_endpoint: str = "",
        max_history_messages: int = 50,
        is_empty: Callable[[], bool] | None = None,
        limits: Limits | None = None,
        on_answer: Callable[[Answer], None] | None = None,
    ) -> None:
        self.prepare = prepare
        self.generate = generate
        self.model_label = model_label
        self.min_relevance = min_relevance
        self.generative = generative
        self.model_endpoint = model_endpoint
        self.max_history_messages = max_history_messages
        self.is_empty = is_empty
        # Every entry point (UI, API, CLI) asks through here: the limits hold for all of them (S3, S4).
        self.limits = limits or Limits(max_history_turns=max(0, max_history_messages // 2))
        self.on_answer = on_answer  # every answer, refusals included, as it is given (the metrics)

    def answer(
        self,
        question: str,
        history: Sequence[dict[str, str]] = (),
        k: int | None = None,
        scope: dict[str, Any] | None = None,
    ) -> Answer:
        """`scope`: a Chroma metadata filter retrieval keeps to, e.g. {"collection": "default"}; None: all."""
        for event in self.stream(question, history, k, scope):
            if isinstance(event, Done):
                return event.answer
        raise RuntimeError("the answer stream ended without an answer")  # pragma: no cover

    def stream(
        self,
        question: str,
        history: Sequence[dict[str, str]] = (),
        k: int | None = None,
        scope: dict[str, Any] | None = None,
    ) -> Iterator[StreamEvent]:
        for event in self._stream(question, history, k, scope):
            if isinstance(event, Done) and self.on_answer is not None:
                self.on_answer(event.answer)
            yield event

    def _stream(
        self,
        question: str,
        history: Sequence[dict[str, str]],
        k: int | None,
        scope: dict[str, Any] | None,
    ) -> Iterator[StreamEvent]:
        self.limits.check(question, history)  # before anything is embedded, tokenised or cached
        started = time.perf_counter()
        if self.is_empty is not None and self.is_empty():
            yield TextDelta(EMPTY_STORE)
            yield Done(Answer(text=EMPTY_STORE, model=self.model_label, refused=True, empty_store=True))
            return
        request = Request(
            question=question.strip(),
            history=to_messages(list(history)[-self.max_history_messages :]),
            k=k,
            scope=scope or None,
        )
        try:
            prepared = self.prepare.invoke(request)
        except Exception as exc:
            raise self._mapped(exc) from exc
        passages = prepared.passages
        timings = {"retrieve_ms": round((time.perf_counter() - started) * 1000, 1)}
        base = Answer(text="", query=prepared.query, model=self.model_label, retrieved=retrieved_of(passages))

        best = max((float(chunk_meta(p).get("similarity", 0.0)) for p in passages), default=0.0)
        if best < self.min_relevance:
            log.info("no passage relevant enough (best similarity %.3f): refusing", best)
            base.refusal_reason = f"no passage relevant enough (best similarity {best:.2f})"
            yield from self._refuse(base, timings, started)
            return
        yield from self._generated(base, prepared, timings, started)

    def _generated(
        self, base: Answer, prepared: Prepared, timings: dict[str, float], started: float
    ) -> Iterator[StreamEvent]:
        """The model's (or the answerer's) text as it comes, markers held back until they are whole; then
        the finished answer with its citations and timings."""
        retrieved_at = time.perf_counter()
        parts: list[str] = []
        markers = MarkerFilter(len(prepared.passages))
        first_token: float | None = None
        try:
            for delta in self.generate.stream(prepared):
                first_token = first_token or time.perf_counter()
                safe = markers.feed(delta)
                if safe:
                    parts.append(safe)
                    yield TextDelta(safe)
            tail = markers.flush()
        except Exception as exc:
            raise self._mapped(exc) from exc
        if tail:
            parts.append(tail)
            yield TextDelta(tail)

        if self.generative and not "".join(parts).strip():
            # llama.cpp's server answers an over-long streamed prompt with an empty stream, no error.
            raise ModelUnavailableError(
                f"the model at {self.model_endpoint or self.model_label} returned an empty answer; if the "
                "prompt is too long for its context window, set RAG_LLM_CONTEXT_WINDOW to the server's n_ctx"
            )
        self._finish(base, "".join(parts), prepared, markers.numbering)
        if base.refused and not "".join(parts).strip():
            yield TextDelta(REFUSAL)
        now = time.perf_counter()
        timings["first_token_ms"] = round(((first_token or now) - started) * 1000, 1)
        timings["generate_ms"] = round((now - retrieved_at) * 1000, 1)
        timings["total_ms"] = round((now - started) * 1000, 1)
        base.timings = timings
        yield Done(base)

    def _finish(self, base: Answer, raw: str, prepared: Prepared, numbering: Numbering) -> None:
        """The answer's text, citations and verdicts, or its refusal and why."""
        passages = prepared.passages
        text, citations = resolve(raw, passages, numbering)
        if not text.strip() or REFUSAL.rstrip(".").lower() in text.lower():
            # The answerer found nothing (extractive) or the model declined: no citations either way.
            base.text, base.refused = (text.strip() or REFUSAL), True
            base.refusal_reason = prepared.refusal_reason or "the model declined"
            return
        # An extractive answer quotes: its citations are the quoted spans, not the whole passages.
        base.citations = citations if self.generative else quoted_spans(text, citations, passages)
        base.text = text
        base.ungrounded = self.generative and not citations
        if self.generative:
            base.support = check_support(text, passages)
            base.unsupported = any(not s.supported for s in base.support)

    def _refuse(self, base: Answer, timings: dict[str, float], started: float) -> Iterator[StreamEvent]:
        yield TextDelta(REFUSAL)
        timings["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
        yield Done(base.model_copy(update={"text": REFUSAL, "refused": True, "timings": timings}))

    def _mapped(self, exc: Exception) -> Exception:
        if isinstance(exc, ModelUnavailableError):
            return exc
        return model_error(exc, self.model_endpoint or self.model_label) or exc
