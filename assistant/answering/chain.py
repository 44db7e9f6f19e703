"""The LCEL pipeline: condense → retrieve → (gate) → generate, as runnables the service composes.

Two runnables, so the service can stream the second one and still know the passages it was given:
- `prepare`: {question, history, k, scope?} → adds `query` (standalone) and `passages` (numbered, best first);
- `generate`: the prepared dict → streamed answer text with `[n]` markers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from assistant.answering.budget import TokenCounter, fit_to_window
from assistant.answering.extractive import ExtractiveAnswerer
from assistant.answering.prompts import ANSWER_PROMPT, ANSWER_SYSTEM, CONDENSE_PROMPT, format_passages
from vectorstore.retrievers import HybridRetriever

# Words that make a follow-up depend on the conversation ("And what did they sign there?").
_DEPENDENT = re.compile(
    r"^\s*(and|but|also|so|then|what about|how about)\b|\b(it|its|they|them|their|theirs|there|that|this|"
    r"those|these|he|him|his|she|her|hers|the same|such|former|latter|then)\b",
    re.I,
)


def to_messages(history: Sequence[dict[str, str]]) -> list[BaseMessage]:
    messages: list[BaseMessage] = []
    for turn in history:
        role, content = turn.get("role"), str(turn.get("content", ""))
        if role == "user":
            messages.append(HumanMessage(content))
        elif role == "assistant":
            messages.append(AIMessage(content))
    return messages


def heuristic_condense(inputs: dict[str, Any]) -> str:
    """Without a model: a question that leans on the conversation gets the previous exchange as context.

    The previous answer matters as much as the previous question: "Which areas does it cover?" refers to
    what the assistant just said.
    """
    question, history = inputs["question"], inputs.get("history") or []
    if not history or not _DEPENDENT.search(question):
        return question
    last_user = next((str(m.content) for m in reversed(history) if isinstance(m, HumanMessage)), "")
    last_answer = next((str(m.content) for m in reversed(history) if isinstance(m, AIMessage)), "")
    last_answer = re.sub(r"\s*\[\d+\]", "", last_answer)[:400]
    return " ".join(part for part in (last_user, last_answer, question) if part)


def build_condenser(chat_model: BaseChatModel | None) -> Runnable:
    """The standalone-query step: the model rewrites follow-ups; a first question passes unchanged."""
    if chat_model is None:
        return RunnableLambda(heuristic_condense, name="condense")
    rewrite = CONDENSE_PROMPT | chat_model | StrOutputParser()

    def condense(inputs: dict[str, Any]) -> str:
        if not inputs.get("history"):
            return inputs["question"]
        standalone = rewrite.invoke({"question": inputs["question"], "history": inputs["history"][-6:]})
        standalone = standalone.strip().strip('"').splitlines()[0].strip() if standalone.strip() else ""
        # Small models sometimes answer instead of rewriting: keep the heuristic as the floor.
        return f"{standalone} {heuristic_condense(inputs)}" if standalone else heuristic_condense(inputs)

    return RunnableLambda(condense, name="condense")


def build_prepare(retriever: HybridRetriever, condenser: Runnable, fit: Runnable | None = None) -> Runnable:
    """`fit` (for generative models) trims passages and history to the context window, so the passages
    the service resolves markers against are exactly the ones the model saw."""

    def retrieve(inputs: dict[str, Any]) -> list[Document]:
        # `scope`: a Chroma metadata filter (collections, documents) that both retrievers honour
        scope = {"where": inputs["scope"]} if inputs.get("scope") else {}
        return retriever.retrieve(
            inputs["query"], retriever.embeddings.embed_query(inputs["query"]), k=inputs.get("k"), **scope
        )

    chain = RunnablePassthrough.assign(query=condenser).assign(
        passages=RunnableLambda(retrieve, name="retrieve")
    )
    return chain | fit if fit is not None else chain


def build_fit(count_tokens: TokenCounter, context_window: int, max_tokens: int) -> Runnable:
    def fit(inputs: dict[str, Any]) -> dict[str, Any]:
        fitted = fit_to_window(
            inputs["passages"],
            inputs.get("history") or [],
            ANSWER_SYSTEM + inputs["question"],
            count_tokens,
            context_window,
            reserve=max_tokens,
        )
        return {**inputs, "passages": fitted.passages, "history": fitted.history}

    return RunnableLambda(fit, name="fit_context")


def build_generate(chat_model: BaseChatModel | None, answerer: ExtractiveAnswerer | None) -> Runnable:
    if chat_model is None:
        assert answerer is not None

        def extract(inputs: dict[str, Any]) -> Iterator[str]:
            follow_up = inputs["query"] != inputs["question"]
            # A follow-up wants something new: the sentences the assistant already said are not repeated.
            said = [str(m.content) for m in inputs.get("history") or [] if isinstance(m, AIMessage)]
            decision = answerer.decide(
                inputs["question"], inputs["passages"], inputs["query"], said if follow_up else ()
            )
            # The service reads why it refused from the same inputs dict (a stream yields text only).
            inputs["refusal_reason"] = decision.refusal
            yield from answerer.render(decision)

        return RunnableLambda(extract, name="extractive_answer")

    def to_prompt_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
        return {
            "context": format_passages(inputs["passages"]),
            "history": inputs.get("history") or [],
            "question": inputs["question"],
        }

    return RunnableLambda(to_prompt_inputs, name="format") | ANSWER_PROMPT | chat_model | StrOutputParser()
