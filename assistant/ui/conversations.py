"""The stored conversations and the collection picker (issue 12), for the Chat tab and the sidebar (issue 21,
ui/sidebar.py): the caller's conversations listed, continued, renamed and deleted, each read through the
caller's own owner; each exchange stored with its citations, so an old answer's sources open again after a
reload or a restart."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from assistant.access import Gate, Principal
from assistant.access.scopes import scope_for, usable_collections
from assistant.answering.citations import Citation
from assistant.answering.service import Answer
from assistant.errors import AuthenticationError
from assistant.storage import ConversationInfo, FeedbackRecord, Storage
from assistant.ui.access import principal_of
from assistant.ui.chat import display
from assistant.ui.sources import source_group, sources_html
from vectorstore.ingest import DocumentInfo

log = logging.getLogger(__name__)

FEEDBACK_SHOWN = 200  # the Feedback tab's rows; the API and the export page through all of them
# (question, answer, k, scope) → the answer's trace (assistant.traces.answer_trace over the container's parts)
Tracer = Callable[[str, Answer, int | None, dict[str, Any] | None], dict[str, Any]]


class Conversations:
    """What the tab's events ask of the storage, for the principal behind each event's request."""

    def __init__(
        self,
        storage: Storage,
        gate: Gate | None,
        list_documents: Callable[[], list[DocumentInfo]] | None = None,
        trace: Tracer | None = None,
    ) -> None:
        self.storage = storage
        self.gate = gate
        self.list_documents = list_documents
        self.trace = trace

    def principal(self, request: gr.Request | None) -> Principal | None:
        return principal_of(self.gate, request)

    def listing(self, request: gr.Request | None) -> list[ConversationInfo]:
        """The caller's conversations, the most recently active first; none when no one is signed in."""
        principal = self.principal(request)
        return [] if principal is None else self.storage.conversations.list(principal.owner)

    def title(self, request: gr.Request | None, conversation: str | None) -> str | None:
        """The title of the caller's `conversation`; None when it is not theirs (or gone)."""
        principal = self.principal(request)
        if principal is None or not conversation:
            return None
        found = self.storage.conversations.get(conversation, principal.owner)
        return None if found is None else found.title

    def delete(self, request: gr.Request | None, conversation: str) -> bool:
        """Deletes the caller's `conversation`; False when it is not theirs (or gone)."""
        principal = self.principal(request)
        return principal is not None and self.storage.conversations.delete(conversation, principal.owner)

    def rename(self, request: gr.Request | None, conversation: str, title: str) -> str | None:
        """The title as stored (trimmed); None when the conversation is not the caller's (or gone)."""
        principal = self.principal(request)
        if principal is None:
            return None
        renamed = self.storage.conversations.rename(conversation, principal.owner, title)
        return None if renamed is None else renamed.title

    def collections(self, request: gr.Request | None) -> list[str]:
        principal = self.principal(request)
        return [] if principal is None else usable_collections(self.storage, principal)

    def documents(self, request: gr.Request | None) -> list[str]:
        """The documents the caller may ask about: those of the collections they may use."""
        principal = self.principal(request)
        if principal is None or self.list_documents is None:
            return []
        allowed = None if principal.is_admin else set(usable_collections(self.storage, principal))
        return [d.source for d in self.list_documents() if allowed is None or d.collection in allowed]

    def scope(
        self, request: gr.Request | None, picked: list[str] | None, documents: list[str] | None = None
    ) -> dict[str, Any] | None:
        """What this caller may search (N1): refuses, never widens, when it cannot tell who is asking."""
        principal = self.principal(request)
        if principal is None:
            raise AuthenticationError("you are not signed in (or your session ended): sign in again")
        return scope_for(self.storage, principal, picked or None, sources=documents or None)

    def start(self, request: gr.Request | None, conversation: str | None) -> str | None:
        """The conversation an answer goes to: the current one, or a new one."""
        principal = self.principal(request)
        if principal is None:
            return None
        if conversation and self.storage.conversations.get(conversation, principal.owner) is not None:
            return conversation
        return self.storage.conversations.create(principal.owner).id

    def store(
        self,
        request: gr.Request | None,
        conversation: str | None,
        question: str,
        answer: Answer,
        k: int | None = None,
        scope: dict[str, Any] | None = None,
    ) -> None:
        principal = self.principal(request)
        if principal is None or not conversation:
            return
        try:
            trace = None if self.trace is None else self.trace(question, answer, k, scope)
            self.storage.conversations.add_exchange(
                conversation,
                principal.owner,
                question,
                answer.text,
                citations=[c.model_dump(mode="json") for c in answer.citations],
                timings=answer.timings,
                meta={"model": answer.model, "refused": answer.refused, "ungrounded": answer.ungrounded},
                trace=trace,
            )
        except Exception:  # the answer is shown either way; the log says why it was not kept
            log.exception("could not store an exchange of conversation %s", conversation)

    def rate(
        self,
        request: gr.Request | None,
        conversation: str | None,
        ordinal: int,
        text: str,
        rating: str,
        wrong_source: bool = False,
        comment: str = "",
    ) -> bool:
        """Rates the caller's stored answer shown as the conversation's `ordinal`-th with `text`, through
        the same service as POST /api/feedback; False when there is no such answer of theirs."""
        principal = self.principal(request)
        if principal is None or not conversation:
            return False
        found = self.storage.feedback.answer_id(conversation, principal.owner, ordinal, text)
        if found is None:
            return False
        rated = self.storage.feedback.rate(
            found, principal.owner, rating, wrong_source=wrong_source, comment=comment
        )
        return rated is not None

    def feedback(self, request: gr.Request | None) -> tuple[list[FeedbackRecord], bool]:
        """The feedback the caller may read (an admin: everyone's), newest first; whether it is everyone's."""
        principal = self.principal(request)
        if principal is None:
            return [], False
        if principal.is_admin:
            return self.storage.feedback.list_all(limit=FEEDBACK_SHOWN), True
        return self.storage.feedback.list(principal.owner, limit=FEEDBACK_SHOWN), False

    def load(
        self, request: gr.Request | None, conversation: str | None
    ) -> tuple[list[dict[str, Any]], str, dict[int, str], str | None, str]:
        """The chat, Sources panel, groups, id and title of a stored conversation."""
        principal = self.principal(request)
        found = (
            self.storage.conversations.get(conversation, principal.owner)
            if principal is not None and conversation
            else None
        )
        if found is None:
            return [], sources_html(), {}, None, ""
        history: list[dict[str, Any]] = []
        groups: dict[int, str] = {}
        question = ""
        for message in found.messages:
            if message.role == "user":
                question = message.content
            else:
                turn = len(groups)
                citations = [Citation.model_validate(c) for c in message.citations]
                answer = Answer(text=message.content, citations=citations, refused=not citations)
                groups[turn] = source_group(turn, question, answer)
            history.append({"role": message.role, "content": display(message.content)})
        return history, sources_html(groups), groups, found.id, found.title
