"""Feedback on answers (issue 23): 👍 / 👎, an optional "wrong source" mark and a comment, on a stored answer.

An answer is a `messages` row of role `assistant` with its trace (what it was built from). Only the owner of
the answer's conversation may rate it or read the rating: another owner's answer is treated as missing (None),
so a route answers 404 without telling whether it exists. Admins list everyone's feedback (`list_all`); the
export (assistant.evaluation.cases) turns it into evaluation items.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from assistant.errors import InvalidRequestError
from assistant.storage.conversations import Owner, _owned
from assistant.storage.db import Database
from assistant.storage.models import Conversation, Feedback, Message, User, utcnow

Rating = Literal["up", "down"]
RATINGS: tuple[str, ...] = ("up", "down")
COMMENT_CHARS = 2000
HISTORY_MESSAGES = 20  # the turns before a rated answer kept with it, for a follow-up question's replay


@dataclass(frozen=True)
class FeedbackRecord:
    """A rating with what it rates: the question as asked, the answer, its citations and its trace."""

    id: int
    message_id: int
    conversation_id: str
    rating: str
    wrong_source: bool
    comment: str
    created_at: datetime
    updated_at: datetime
    question: str
    answer: str
    citations: list[dict[str, Any]] = field(default_factory=list)
    trace: dict[str, Any] = field(default_factory=dict)
    # who gave it: a user's name, "key:<fingerprint>" for a key of RAG_API_KEYS, "" for the single-user app
    user: str = ""
    # the conversation before the question (at most HISTORY_MESSAGES), as ChatService.answer takes it
    history: list[dict[str, str]] = field(default_factory=list)


def _check(rating: str, comment: str) -> str:
    if rating not in RATINGS:
        raise InvalidRequestError(f"a rating is one of {', '.join(RATINGS)}, not {rating!r}", param="rating")
    comment = comment.strip()
    if len(comment) > COMMENT_CHARS:
        raise InvalidRequestError(f"a comment has at most {COMMENT_CHARS} characters", param="comment")
    return comment


def _answer(s: Session, message_id: int, owner: Owner) -> Message | None:
    """The owner's stored answer `message_id`; None when missing, a question, or someone else's."""
    return s.scalar(
        select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.id == message_id, Message.role == "assistant", _owned(owner))
    )


def _question(s: Session, answer: Message) -> str:
    """The question the answer replied to: its trace's, else the user message just before it."""
    asked = (answer.trace or {}).get("question")
    if isinstance(asked, str):
        return asked
    before = s.scalar(
        select(Message.content)
        .where(
            Message.conversation_id == answer.conversation_id,
            Message.id < answer.id,
            Message.role == "user",
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
    return before or ""


def _history(s: Session, answer: Message) -> list[dict[str, str]]:
    """The turns before the answer's question, oldest first."""
    rows = list(
        s.execute(
            select(Message.role, Message.content)
            .where(Message.conversation_id == answer.conversation_id, Message.id < answer.id)
            .order_by(Message.id.desc())
            .limit(HISTORY_MESSAGES + 1)
        )
    )
    if rows and rows[0][0] == "user":
        rows = rows[1:]  # the question itself
    return [{"role": role, "content": content} for role, content in reversed(rows[:HISTORY_MESSAGES])]


def _record(s: Session, fb: Feedback, message: Message, user: str) -> FeedbackRecord:
    return FeedbackRecord(
        id=fb.id,
        message_id=message.id,
        conversation_id=message.conversation_id,
        rating=fb.rating,
        wrong_source=fb.wrong_source,
        comment=fb.comment,
        created_at=fb.created_at,
        updated_at=fb.updated_at,
        question=_question(s, message),
        answer=message.content,
        citations=list(message.citations or []),
        trace=dict(message.trace or {}),
        user=user,
        history=_history(s, message),
    )


def _listing() -> Select[Feedback, Message, Conversation, str | None]:
    owner = aliased(User)
    return (
        select(Feedback, Message, Conversation, owner.name)
        .join(Message, Message.id == Feedback.message_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .outerjoin(owner, owner.id == Conversation.owner_id)
        .order_by(Feedback.created_at.desc(), Feedback.id.desc())
    )


def _row(s: Session, message_id: int) -> Feedback:
    """The answer's feedback row, made when missing."""
    found = s.scalar(select(Feedback).where(Feedback.message_id == message_id))
    if found is not None:
        found.updated_at = utcnow()
        return found
    made = Feedback(message_id=message_id, rating="", wrong_source=False, comment="")
    s.add(made)
    return made


def _who(conversation: Conversation, name: str | None) -> str:
    return name or conversation.owner_key or ""


Records = list[FeedbackRecord]  # (a module-level alias: inside the class, `list` is the method)


class FeedbackService:
    def __init__(self, db: Database, on_rate: Callable[[str], None] | None = None) -> None:
        self.db = db
        self.on_rate = on_rate  # each rating stored ("up", "down"), as it is stored: the metrics

    def rate(
        self,
        message_id: int,
        owner: Owner,
        rating: str,
        *,
        wrong_source: bool = False,
        comment: str = "",
    ) -> FeedbackRecord | None:
        """Rates the owner's answer `message_id` (a second rating replaces the first); None when the answer
        is missing or someone else's. InvalidRequestError for an unknown rating or an over-long comment."""
        comment = _check(rating, comment)
        try:
            record, changed = self._rate(message_id, owner, rating, wrong_source, comment)
        except IntegrityError:
            # Two ratings of one answer at once (a double click) both found no row: the second insert broke
            # the unique constraint and rolled back; now the row is there, and this one replaces it.
            record, changed = self._rate(message_id, owner, rating, wrong_source, comment)
        if changed and record is not None and self.on_rate is not None:
            self.on_rate(record.rating)  # the same rating sent twice (the browser does) counts once
        return record

    def _rate(
        self, message_id: int, owner: Owner, rating: str, wrong_source: bool, comment: str
    ) -> tuple[FeedbackRecord | None, bool]:
        """The record, and whether it is new or says something else than before."""
        with self.db.session() as s:
            message = _answer(s, message_id, owner)
            if message is None:
                return None, False
            fb = _row(s, message_id)
            changed = (fb.rating, fb.wrong_source, fb.comment) != (rating, wrong_source, comment)
            fb.rating, fb.wrong_source, fb.comment = rating, wrong_source, comment
            s.flush()
            conversation = s.get(Conversation, message.conversation_id)
            assert conversation is not None
            name = (
                None
                if conversation.owner_id is None
                else s.scalar(select(User.name).where(User.id == conversation.owner_id))
            )
            return _record(s, fb, message, _who(conversation, name)), changed

    def list(self, owner: Owner, *, limit: int = 100, offset: int = 0) -> Records:
        """The owner's feedback, the newest first."""
        with self.db.session() as s:
            rows = s.execute(_listing().where(_owned(owner)).limit(limit).offset(offset))
            return [_record(s, fb, m, _who(c, name)) for fb, m, c, name in rows]

    def list_all(self, *, limit: int | None = 100, offset: int = 0, rating: str | None = None) -> Records:
        """Everyone's feedback, the newest first (admins; the export); `rating` keeps one kind."""
        query = _listing()
        if rating is not None:
            query = query.where(Feedback.rating == rating)
        with self.db.session() as s:
            rows = s.execute(query.limit(limit).offset(offset))
            return [_record(s, fb, m, _who(c, name)) for fb, m, c, name in rows]

    def answer_id(self, conversation_id: str, owner: Owner, ordinal: int, text: str) -> int | None:
        """The id of the owner's stored answer shown as the conversation's `ordinal`-th answer (0-based) with
        this text; when the ordinal does not match (a failed turn was not stored), the latest answer with
        this text. None when there is none (or the conversation is someone else's)."""
        with self.db.session() as s:
            mine = select(Conversation.id).where(Conversation.id == conversation_id, _owned(owner))
            if s.scalar(mine) is None:
                return None
            answers = list(
                s.execute(
                    select(Message.id, Message.content)
                    .where(Message.conversation_id == conversation_id, Message.role == "assistant")
                    .order_by(Message.id)
                )
            )
        wanted = text.strip()
        if 0 <= ordinal < len(answers) and answers[ordinal][1].strip() == wanted:
            return int(answers[ordinal][0])
        same = [mid for mid, content in answers if content.strip() == wanted]
        return int(same[-1]) if same else None
