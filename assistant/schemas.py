"""The answer's wire shape, defined once: the API's `POST /api/chat`, the CLI's `ask --json` and the
evaluation report all print it. Derived from `Answer`, so a field added there appears here (and in the OpenAPI
schema) too; only `text` is renamed, to `answer`.
"""

from __future__ import annotations

from pydantic import ConfigDict

from assistant.answering.service import Answer


def _wire_name(field: str) -> str:
    return "answer" if field == "text" else field


class AnswerPayload(Answer):
    """An answer as clients see it: `answer` (the text with its [n] markers), citations, passages..."""

    model_config = ConfigDict(alias_generator=_wire_name, validate_by_name=True, validate_by_alias=True)

    @classmethod
    def of(cls, answer: Answer) -> AnswerPayload:
        return cls.model_validate(answer.model_dump())

    def to_json(self) -> dict[str, object]:
        """The JSON object, with the wire names."""
        return self.model_dump(mode="json", by_alias=True)
