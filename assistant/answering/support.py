"""Checks a generated answer sentence by sentence against the passages it cites.

A sentence is supported when the passages it cites hold its numbers, its names and most of its content
words. A sentence that cites nothing, cites a passage that does not hold it, or carries a link or image that
no passage contains is flagged: the API returns the verdict per sentence and the UI marks it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from langchain_core.documents import Document
from pydantic import BaseModel, Field

from assistant.answering.units import split_sentences
from vectorstore.chunking import passage_context
from vectorstore.text import tokenize

_MARKERS = re.compile(r"\s?\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
_LEADING = re.compile(r"^(?:\s*\[\d{1,3}(?:\s*[,;]\s*\d{1,3})*\])+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NAME = re.compile(r"(?<=[a-z,;:] )[A-Z][\w-]+|\b\w+(?:\.\w+)+|\b\w*_\w+|`[^`]+`")
_LINK = re.compile(r"!?\[[^\]]*\]\([^)]*\)|https?://\S+|www\.\S+")


class SentenceSupport(BaseModel):
    text: str = Field(description="The sentence, without its [n] markers.")
    cites: list[int] = Field(default_factory=list, description="The passages it cites.")
    supported: bool = Field(description="Its numbers, names and most content words are in a cited passage.")
    overlap: float = Field(description="Share of its content words found in the cited passages.")
    missing: list[str] = Field(default_factory=list, description="Numbers, names or links not found there.")


def _numbers(markers: str) -> list[int]:
    return [int(x) for m in _MARKERS.finditer(markers) for x in re.split(r"\s*[,;]\s*", m.group(1))]


def _sentences_with_markers(answer: str) -> list[tuple[str, list[int]]]:
    """Sentences with the passages they cite. Models write "... end. [1] Next ..." as often as "... end [1].
    Next": markers opening a sentence belong to the one before it."""
    out: list[tuple[str, list[int]]] = []
    for line in answer.split("\n"):
        for _, sentence in split_sentences(line):
            lead = _LEADING.match(sentence)
            if lead and out:
                out[-1] = (out[-1][0], list(dict.fromkeys(out[-1][1] + _numbers(lead.group(0)))))
                sentence = sentence[lead.end() :]
            text = _MARKERS.sub("", sentence).strip()
            if text:
                out.append((text, list(dict.fromkeys(_numbers(sentence)))))
    return out


def check_sentence(
    text: str, cites: list[int], passages: Sequence[Document], min_overlap: float
) -> SentenceSupport:
    cited = [passages[n - 1] for n in cites if 1 <= n <= len(passages)]
    haystack = " ".join(passage_context(p) for p in cited)
    lowered = haystack.lower()
    missing = [n for n in _NUMBER.findall(text) if n not in haystack]
    missing += [m.group(0) for m in _NAME.finditer(text) if m.group(0).strip("`").lower() not in lowered]
    missing += [link for link in _LINK.findall(text) if link not in haystack]
    words = set(tokenize(text))
    found = words & set(tokenize(haystack))
    overlap = len(found) / len(words) if words else 1.0
    supported = bool(cited) and not missing and overlap >= min_overlap
    return SentenceSupport(
        text=text, cites=cites, supported=supported, overlap=round(overlap, 3), missing=missing
    )


def check_support(
    answer: str, passages: Sequence[Document], min_overlap: float = 0.6
) -> list[SentenceSupport]:
    """One verdict per sentence of the answer. Short connective sentences ("Yes.") are judged like others."""
    return [
        check_sentence(text, cites, passages, min_overlap) for text, cites in _sentences_with_markers(answer)
    ]
