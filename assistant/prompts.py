"""Prompts. The answer prompt forbids outside knowledge and asks for `[n]` after every claim."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.documents import Document
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

REFUSAL = "The documents do not contain an answer to this question."

CONDENSE_PROMPT = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "Rewrite the user's last question as one standalone question that can be understood without "
            "the conversation: replace pronouns and references with what they refer to. Do not answer it. "
            "Reply with the question only.",
        ),
        MessagesPlaceholder("history"),
        ("human", "Last question: {question}\n\nStandalone question:"),
    ]
)

ANSWER_SYSTEM = (
    "You answer questions using ONLY the numbered passages below. Rules:\n"
    "1. Every sentence of your answer must end with the number of the passage it comes from, like [1] or "
    "[2][3].\n"
    "2. Use no knowledge outside the passages. If they do not contain the answer, reply exactly: "
    f'"{REFUSAL}"\n'
    "3. Be brief and direct: answer the question first, in at most a few sentences.\n\n"
    "Passages:\n{context}"
)

ANSWER_PROMPT = ChatPromptTemplate.from_messages(
    [("system", ANSWER_SYSTEM), MessagesPlaceholder("history"), ("human", "{question}")]
)


def format_passages(passages: Sequence[Document]) -> str:
    return "\n\n".join(
        f"[{n}] (from {doc.metadata.get('source', '?')})\n{doc.page_content.strip()}"
        for n, doc in enumerate(passages, start=1)
    )
