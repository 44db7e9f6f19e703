"""The limits on a question and its conversation, enforced once: `ChatService` checks every question (UI,
API, CLI), and the API calls the same check before it starts a stream, so a refusal is a 400, not a broken
stream. A question that breaks a limit costs nothing: it is refused before it is embedded, tokenised, cached
or sent to a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assistant.errors import InvalidRequestError

if TYPE_CHECKING:
    from assistant.settings import Settings


@dataclass(frozen=True)
class Limits:
    max_message_chars: int = 4000
    max_turn_chars: int = 8000
    max_history_chars: int = 48000
    max_history_turns: int = 50

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_message_chars=settings.max_message_chars,
            max_turn_chars=settings.max_turn_chars,
            max_history_chars=settings.max_history_chars,
            max_history_turns=settings.max_history_turns,
        )

    def trim(self, history: Sequence[dict[str, str]]) -> list[dict[str, str]]:
        """The newest part of a conversation that fits the limits (N15): a long conversation goes on with its
        oldest turns forgotten instead of refusing every further question. For histories the server holds or
        shows (a stored conversation, the UI's chat), not for one a client sends, which is checked."""
        kept: list[dict[str, str]] = []
        total, turns = 0, 0
        for message in reversed(history):
            content = message.get("content")
            size = len(content) if isinstance(content, str) else 0
            user = message.get("role") == "user"
            if size > self.max_turn_chars or total + size > self.max_history_chars:
                break
            if user and turns == self.max_history_turns:
                break
            kept.append(message)
            total, turns = total + size, turns + user
        while kept and kept[-1].get("role") != "user":
            kept.pop()  # the oldest kept message opens with a question, not an orphaned answer
        return list(reversed(kept))

    def check(self, question: str, history: Sequence[dict[str, str]] = (), param: str | None = None) -> None:
        """InvalidRequestError (400) for an empty question, or a question or history over a limit."""
        if not isinstance(question, str) or not question.strip():
            raise InvalidRequestError("the question is empty", param=param)
        if len(question) > self.max_message_chars:
            raise InvalidRequestError(
                f"the message is {len(question)} characters; the limit is {self.max_message_chars}",
                param=param,
                code="message_too_long",
            )
        # Messages first (cheap), then user turns: a history of a million empty messages is refused too.
        if len(history) > 2 * self.max_history_turns + 2:
            raise InvalidRequestError(
                f"the conversation has {len(history)} earlier messages; the limit is "
                f"{2 * self.max_history_turns + 2}",
                param=param,
                code="history_too_long",
            )
        turns = sum(1 for m in history if m.get("role") == "user")
        if turns > self.max_history_turns:
            raise InvalidRequestError(
                f"the conversation has {turns} earlier turns; the limit is {self.max_history_turns}",
                param=param,
                code="history_too_long",
            )
        total = 0
        for i, message in enumerate(history):
            content = message.get("content")
            size = len(content) if isinstance(content, str) else 0
            if size > self.max_turn_chars:
                raise InvalidRequestError(
                    f"earlier message {i + 1} of the conversation is {size} characters; the limit is "
                    f"{self.max_turn_chars}",
                    param=param,
                    code="history_too_long",
                )
            total += size
        if total > self.max_history_chars:
            raise InvalidRequestError(
                f"the conversation's earlier messages hold {total} characters; the limit is "
                f"{self.max_history_chars}",
                param=param,
                code="history_too_long",
            )
