"""The LCEL pipeline: condense → retrieve → (gate) → generate, as runnables the service composes.

Two runnables, so the service can stream the second one and still know the passages it was given:
- `prepare`: a `Request` → `Prepared`: the request with its standalone `query` and `passages` (numbered,
  best first);
- `generate`: the `Prepared` → streamed answer text with `[n]` markers.

The steps pass these dataclasses, not dicts: a misspelt field is a type error, not a silent `None`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from assistant.answering.budget import TokenCounter, fit_to_window
from assistant.answering.compose import read_parts
from assistant.answering.extractive import ExtractiveAnswerer
from assistant.answering.prompts import ANSWER_PROMPT, ANSWER_SYSTEM, CONDENSE_PROMPT, format_passages
from assistant.answering.question import Question
from vectorstore.retrievers import HybridRetriever

# Words that make a follow-up depend on the conversation ("And what did they sign there?").
_DEPENDENT = re.compile(
    r"^\s*(and|but|also|so|then|what about|how about)\b|\b(it|its|they|them|their|theirs|there|that|this|"
    r"those|these|he|him|his|she|her|hers|the same|such|former|latter|then)\b",
    re.I,
)


@dataclass(frozen=True)
class Request:
    """What the service asks the chain: the question, the conversation before it, how many passages, and
    `scope`, a Chroma metadata filter (collections, documents) that both retrievers honour."""

    question: str
    history: list[BaseMessage] = field(default_factory=list)
    k: int | None = None
    scope: dict[str, Any] | None = None


@dataclass
class Prepared:
    """What `prepare` hands `generate`, and the service resolves citations against: the request (its history
    trimmed to the context window for a generative model), the standalone query and the passages.

    `refusal_reason` is the one field a step writes back: the extractive answerer says there why it refused
    (a stream yields text only)."""

    request: Request
    query: str
    passages: list[Document] = field(default_factory=list)
    refusal_reason: str = ""


def to_messages(history: Sequence[dict[str, str]]) -> list[BaseMessage]:
    messages: list[BaseMessage] = []
    for turn in history:
        role, content = turn.get("role"), str(turn.get("content", ""))
        if role == "user":
            messages.append(HumanMessage(content))
        elif role == "assistant":
            messages.append(AIMessage(content))
    return messages


def names_nothing(question: str) -> bool:
    """No pronoun pointing back and no name of its own ("What happens if nobody puts themselves forward?"):
    its subject is the conversation's, unless it opens a new topic in everyday words."""
    return not _DEPENDENT.search(question) and not Question.read(question).specific


def leans_on_conversation(question: str) -> bool:
    """A pronoun or a leading "and" points back; so does a question that names nothing of its own."""
    return bool(_DEPENDENT.search(question)) or names_nothing(question)


def heuristic_condense(request: Request) -> str:
    """Without a model: a question that leans on the conversation gets the previous exchange as context.

    The previous answer matters as much as the previous question: "Which areas does it cover?" refers to
    what the assistant just said.
    """
    question, history = request.question, request.history
    if not history or not leans_on_conversation(question):
        return question
    last_user = next((str(m.content) for m in reversed(history) if isinstance(m, HumanMessage)), "")
    last_answer = next((str(m.content) for m in reversed(history) if isinstance(m, AIMessage)), "")
    last_answer = re.sub(r"\s*\[\d+\]", "", last_answer)[:400]
    return " ".join(part for part in (last_user, last_answer, question) if part)


def build_condenser(chat_model: BaseChatModel | None) -> Runnable[Request, str]:
    """The standalone-query step: the model rewrites follow-ups; a first question passes unchanged."""
    if chat_model is None:
        return RunnableLambda(heuristic_condense, name="condense")
    rewrite = CONDENSE_PROMPT | chat_model | StrOutputParser()

    def condense(request: Request) -> str:
        if not request.history:
            return request.question
        standalone = rewrite.invoke({"question": request.question, "history": request.history[-6:]})
        standalone = standalone.strip().strip('"').splitlines()[0].strip() if standalone.strip() else ""
        # Small models sometimes answer instead of rewriting: keep the heuristic as the floor.
        return f"{standalone} {heuristic_condense(request)}" if standalone else heuristic_condense(request)

    return RunnableLambda(condense, name="condense")


def with_query(condenser: Runnable[Request, str]) -> Runnable[Request, Prepared]:
    """The condense step, its standalone query kept with the request it came from."""

    def condensed(request: Request, config: RunnableConfig) -> Prepared:
        return Prepared(request, condenser.invoke(request, config))

    return RunnableLambda(condensed, name="with_query")


def part_queries(retriever: HybridRetriever, question: str) -> list[tuple[str, list[float]]]:
    """Each part of a question that asks two or more things, with its vector, for per-part retrieval
    (`RAG_PART_PASSAGES`); none for a one-part question or with the setting off, so no embedding is spent.
    A follow-up's condensed query is not split: its parts would lean on the conversation."""
    if not retriever.part_passages:
        return []
    parts = read_parts(question)
    if len(parts) < 2:
        return []
    return [(p.text, retriever.embeddings.embed_query(p.text)) for p in parts]


def build_prepare(
    retriever: HybridRetriever,
    condenser: Runnable[Request, str],
    fit: Runnable[Prepared, Prepared] | None = None,
) -> Runnable[Request, Prepared]:
    """`fit` (for generative models) trims passages and history to the context window, so the passages
    the service resolves markers against are exactly the ones the model saw."""

    def retrieve(prepared: Prepared) -> Prepared:
        request, query = prepared.request, prepared.query
        scope = {"where": request.scope} if request.scope else {}
        vector = retriever.embeddings.embed_query(query)
        parts = part_queries(retriever, request.question) if query == request.question else []
        if query != request.question and retriever.part_passages:
            # a follow-up's own words search beside the conversation's: its ask ("can I go back?") may be
            # answered by a passage the conversation's topic does not rank, or it may open a new topic
            own = retriever.embeddings.embed_query(request.question)
            parts = [(request.question, own), (query, vector)]
        found = retriever.retrieve(query, vector, k=request.k, parts=parts, **scope)
        return replace(prepared, passages=found)

    chain = with_query(condenser) | RunnableLambda(retrieve, name="retrieve")
    return chain | fit if fit is not None else chain


def build_fit(
    count_tokens: TokenCounter, context_window: int, max_tokens: int
) -> Runnable[Prepared, Prepared]:
    def fit(prepared: Prepared) -> Prepared:
        request = prepared.request
        fitted = fit_to_window(
            prepared.passages,
            request.history,
            ANSWER_SYSTEM + request.question,
            count_tokens,
            context_window,
            reserve=max_tokens,
        )
        trimmed = replace(request, history=fitted.history)
        return replace(prepared, request=trimmed, passages=fitted.passages)

    return RunnableLambda(fit, name="fit_context")


def build_generate(
    chat_model: BaseChatModel | None, answerer: ExtractiveAnswerer | None
) -> Runnable[Prepared, str]:
    if chat_model is None:
        assert answerer is not None

        def extract(prepared: Prepared) -> Iterator[str]:
            request = prepared.request
            follow_up = prepared.query != request.question
            # A follow-up wants something new: the sentences the assistant already said are not repeated.
            said = [str(m.content) for m in request.history if isinstance(m, AIMessage)]
            decision = answerer.decide(
                request.question, prepared.passages, prepared.query, said if follow_up else ()
            )
            prepared.refusal_reason = decision.refusal
            yield from answerer.render(decision)

        return RunnableLambda(extract, name="extractive_answer")

    def to_prompt_inputs(prepared: Prepared) -> dict[str, Any]:
        """The prompt template's variables: LangChain's prompts take a dict, so the dataclass ends here."""
        return {
            "context": format_passages(prepared.passages),
            "history": prepared.request.history,
            "question": prepared.request.question,
        }

    return RunnableLambda(to_prompt_inputs, name="format") | ANSWER_PROMPT | chat_model | StrOutputParser()
