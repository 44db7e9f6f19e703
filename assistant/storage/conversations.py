"""Conversations: each kept with every message, its citations and timings, readable only by its owner.

An owner is a user id, or None for the local single-user app's conversations (no users, no login). Every
method takes the owner and treats another owner's conversation as missing (None / False), so a route answers
404 without telling whether the id exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from assistant.errors import InvalidRequestError
from assistant.storage.db import Database
from assistant.storage.models import Conversation, Message, utcnow

# A user's id; a key of RAG_API_KEYS by its tag (str); None: the local single-user app (no users, no login).
Owner = int | str | None
Role = Literal["user", "assistant"]
ROLES: tuple[str, ...] = ("user", "assistant")
TITLE_CHARS = 200
AUTO_TITLE_CHARS = 80
Turns = list[dict[str, str]]  # (a module-level alias: inside the class, `list` is the method)


@dataclass(frozen=True)
class MessageRecord:
    id: int
    role: str
    content: str
    citations: list[dict[str, Any]]
    timings: dict[str, float]
    meta: dict[str, Any]
    created_at: datetime
    trace: dict[str, Any] | None = None  # an answer's trace (assistant.traces), when it was stored with one

    @classmethod
    def of(cls, m: Message) -> MessageRecord:
        return cls(
            m.id,
            m.role,
            m.content,
            list(m.citations),
            dict(m.timings),
            dict(m.meta),
            m.created_at,
            None if m.trace is None else dict(m.trace),
        )


@dataclass(frozen=True)
class ConversationInfo:
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    messages: int

    @classmethod
    def of(cls, c: Conversation, messages: int) -> ConversationInfo:
        return cls(c.id, c.title, c.created_at, c.updated_at, messages)


@dataclass(frozen=True)
class ConversationDetail:
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    messages: list[MessageRecord] = field(default_factory=list)


def _owned(owner: Owner) -> ColumnElement[bool]:
    """Exactly the owner's conversations: a key's are not the local app's, nor another key's (N7)."""
    if isinstance(owner, int):
        return Conversation.owner_id == owner
    if isinstance(owner, str):
        return and_(Conversation.owner_id.is_(None), Conversation.owner_key == owner)
    return and_(Conversation.owner_id.is_(None), Conversation.owner_key.is_(None))


def _title(title: str) -> str:
    title = " ".join(title.split())
    if len(title) > TITLE_CHARS:
        raise InvalidRequestError(f"a title has at most {TITLE_CHARS} characters", param="title")
    return title


def auto_title(question: str) -> str:
    """A conversation's first question, on one line and shortened, as its title."""
    line = " ".join(question.split())
    return line if len(line) <= AUTO_TITLE_CHARS else line[: AUTO_TITLE_CHARS - 1].rstrip() + "…"


class ConversationService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, owner: Owner, title: str = "") -> ConversationInfo:
        """A new, empty conversation; without a title it takes its first question's."""
        with self.db.session() as s:
            conversation = Conversation(
                owner_id=owner if isinstance(owner, int) else None,
                owner_key=owner if isinstance(owner, str) else None,
                title=_title(title),
            )
            s.add(conversation)
            s.flush()
            return ConversationInfo.of(conversation, 0)

    def list(self, owner: Owner, *, limit: int = 100, offset: int = 0) -> list[ConversationInfo]:
        """The owner's conversations, the most recently active first."""
        with self.db.session() as s:
            counts = (
                select(Message.conversation_id, func.count(Message.id).label("n"))
                .group_by(Message.conversation_id)
                .subquery()
            )
            rows = s.execute(
                select(Conversation, func.coalesce(counts.c.n, 0))
                .outerjoin(counts, counts.c.conversation_id == Conversation.id)
                .where(_owned(owner))
                .order_by(Conversation.updated_at.desc(), Conversation.id)
                .limit(limit)
                .offset(offset)
            )
            return [ConversationInfo.of(c, n) for c, n in rows]

    def get(self, conversation_id: str, owner: Owner) -> ConversationDetail | None:
        """The conversation with its messages in order; None when missing or someone else's."""
        with self.db.session() as s:
            c = _find(s, conversation_id, owner)
            if c is None:
                return None
            return ConversationDetail(
                c.id, c.title, c.created_at, c.updated_at, [MessageRecord.of(m) for m in c.messages]
            )

    def rename(self, conversation_id: str, owner: Owner, title: str) -> ConversationInfo | None:
        title = _title(title)
        with self.db.session() as s:
            c = _find(s, conversation_id, owner)
            if c is None:
                return None
            c.title = title
            c.updated_at = utcnow()
            return ConversationInfo.of(c, _count(s, c.id))

    def delete(self, conversation_id: str, owner: Owner) -> bool:
        """True when the conversation (and its messages) went; False when missing or someone else's."""
        with self.db.session() as s:
            c = _find(s, conversation_id, owner)
            if c is None:
                return False
            s.delete(c)
            return True

    def append(
        self,
        conversation_id: str,
        owner: Owner,
        role: Role,
        content: str,
        *,
        citations: Sequence[Mapping[str, Any]] = (),
        timings: Mapping[str, float] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> MessageRecord | None:
        """Adds a message; None when the conversation is missing or someone else's."""
        with self.db.session() as s:
            c = _find(s, conversation_id, owner)
            if c is None:
                return None
            return MessageRecord.of(_add(s, c, role, content, citations, timings, meta))

    def add_exchange(
        self,
        conversation_id: str,
        owner: Owner,
        question: str,
        answer: str,
        *,
        citations: Sequence[Mapping[str, Any]] = (),
        timings: Mapping[str, float] | None = None,
        meta: Mapping[str, Any] | None = None,
        trace: Mapping[str, Any] | None = None,
    ) -> tuple[MessageRecord, MessageRecord] | None:
        """A question and its answer, stored together or not at all; None when the conversation is missing
        or someone else's. `trace`: what the answer was built from (assistant.traces), kept for feedback."""
        with self.db.session() as s:
            c = _find(s, conversation_id, owner)
            if c is None:
                return None
            asked = _add(s, c, "user", question, (), None, None)
            answered = _add(s, c, "assistant", answer, citations, timings, meta)
            answered.trace = None if trace is None else dict(trace)
            s.flush()
            return MessageRecord.of(asked), MessageRecord.of(answered)

    def history_for(
        self, conversation_id: str, owner: Owner, *, max_messages: int | None = None
    ) -> Turns | None:
        """The earlier turns as `ChatService.answer(question, history)` takes them: [{"role", "content"}],
        oldest first (the last `max_messages` when given); None when missing or someone else's."""
        with self.db.session() as s:
            if _find(s, conversation_id, owner) is None:
                return None
            query = (
                select(Message.role, Message.content)
                .where(Message.conversation_id == conversation_id, Message.role.in_(ROLES))
                .order_by(Message.id.desc())
            )
            if max_messages is not None:
                query = query.limit(max_messages)
            rows = list(s.execute(query))
            return [{"role": role, "content": content} for role, content in reversed(rows)]


def _find(s: Session, conversation_id: str, owner: Owner) -> Conversation | None:
    return s.scalar(select(Conversation).where(Conversation.id == conversation_id, _owned(owner)))


def _count(s: Session, conversation_id: str) -> int:
    return s.scalar(select(func.count(Message.id)).where(Message.conversation_id == conversation_id)) or 0


def _add(
    s: Session,
    c: Conversation,
    role: str,
    content: str,
    citations: Sequence[Mapping[str, Any]],
    timings: Mapping[str, float] | None,
    meta: Mapping[str, Any] | None,
) -> Message:
    if role not in ROLES:
        raise InvalidRequestError(
            f"a message's role is one of {', '.join(ROLES)}, not {role!r}", param="role"
        )
    message = Message(
        conversation_id=c.id,
        role=role,
        content=content,
        citations=[dict(cit) for cit in citations],
        timings=dict(timings or {}),
        meta=dict(meta or {}),
    )
    s.add(message)
    if role == "user" and not c.title:
        c.title = auto_title(content)
    c.updated_at = utcnow()
    s.flush()
    return message
