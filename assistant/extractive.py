"""The offline answerer: picks the retrieved sentences that best answer the question, each one cited.

No generative model is involved, so it cannot invent: every sentence it returns is a verbatim slice of a
retrieved passage, which is itself a verbatim slice of a source file.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from vectorstore.text import tokenize

# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) before whitespace and an
# upper-case letter, digit or opening quote; line breaks always end a sentence.
_BOUNDARY = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])|\s*\n\s*")
_ABBREVIATION = re.compile(r"(?:\b[A-Z]|\bMr|\bMrs|\bDr|\bSt|\be\.g|\bi\.e|\bvs|\bNo)\.$")
_DATE_QUESTION = re.compile(
    r"^\s*(when|on what dates?|what dates?|in what year|which year|what year)\b", re.I
)
_DAY_QUESTION = re.compile(r"\b(what|which) (dates?|day)\b", re.I)
_DAY_TOKEN = re.compile(
    r"\b(january|february|march|april|may|june|july|august|september|october|november|december|"
    r"jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|monday|tuesday|wednesday|"
    r"thursday|friday|saturday|sunday)\b|\b\d{1,2}(st|nd|rd|th)?\b|\d{1,4}[./-]\d{1,2}[./-]\d{1,4}",
    re.I,
)
_TERMINAL = re.compile(r"[.!?…:;][\"'”’)\]]*$")
_DATE_TOKEN = re.compile(
    r"\b(1[5-9]\d\d|20\d\d|january|february|march|april|may|june|july|august|september|october|november|"
    r"december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|tomorrow|"
    r"century|decade|year)\b",
    re.I,
)


@dataclass
class Sentence:
    passage: int  # 1-based passage number
    source: str
    start: int  # absolute offset in the source text
    text: str
    score: float = 0.0
    semantic: float = 0.0
    lexical: float = 0.0
    asked: int = 0  # how many of the question's own terms (not the conversation's) it contains


def split_sentences(text: str) -> list[tuple[int, str]]:
    """(offset, sentence) pairs; every sentence is exactly `text[offset:offset+len]`."""
    spans: list[tuple[int, str]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        piece = text[start : match.start()]
        if match.group(0).strip() == "" and "\n" not in match.group(0) and _ABBREVIATION.search(piece):
            continue  # "S.V. Lavrov", "e.g. this": not a sentence end
        spans.append((start, piece))
        start = match.end()
    spans.append((start, text[start:]))
    out = []
    for offset, piece in spans:
        stripped = piece.strip()
        if stripped:
            out.append((offset + piece.index(stripped), stripped))
    return out


@dataclass
class ExtractiveConfig:
    max_sentences: int = 4
    min_score: float = 0.34  # below this no sentence answers: refuse
    keep_ratio: float = 0.75  # further sentences must score at least this fraction of the best
    semantic_weight: float = 0.6
    redundancy: float = 0.85  # a sentence this similar to a chosen one adds nothing


class ExtractiveAnswerer:
    """Scores every retrieved sentence by meaning (embeddings) and by the question's rare words."""

    def __init__(
        self, embeddings: Embeddings, config: ExtractiveConfig | None = None, cache_size: int = 20_000
    ) -> None:
        self.embeddings = embeddings
        self.config = config or ExtractiveConfig()
        # Sentence vectors, by text: follow-ups and popular passages come back often; embedding is the cost.
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()

    def _embed_sentences(self, texts: list[str]) -> list[list[float]]:
        with self._cache_lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            vectors = self.embeddings.embed_documents(missing)
            with self._cache_lock:
                self._cache.update(zip(missing, vectors, strict=True))
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        with self._cache_lock:
            out = []
            for t in texts:
                vector = self._cache.get(t)
                if vector is None:  # evicted by a concurrent request between the two steps
                    vector = self.embeddings.embed_documents([t])[0]
                else:
                    self._cache.move_to_end(t)
                out.append(vector)
            return out

    def candidates(self, passages: Sequence[Document], said: Sequence[str] = ()) -> list[Sentence]:
        """Sentences of the passages, once each; `said` (earlier answers) are not repeated."""
        seen: set[tuple[str, int]] = set()
        out: list[Sentence] = []
        for n, doc in enumerate(passages, start=1):
            source, base = doc.metadata["source"], int(doc.metadata["start"])
            for offset, text in split_sentences(doc.page_content):
                key = (source, base + offset)
                if key in seen or len(text) < 25 or len(text.split()) < 5 or any(text in a for a in said):
                    continue
                seen.add(key)
                out.append(Sentence(n, source, base + offset, text))
        return out

    def score(self, question: str, passages: Sequence[Document], query: str | None = None) -> list[Sentence]:
        """Every candidate sentence, scored against the question (and the condensed query, if different)."""
        return self._score(question, passages, query)[0]

    def _score(
        self, question: str, passages: Sequence[Document], query: str | None, said: Sequence[str] = ()
    ) -> tuple[list[Sentence], np.ndarray]:
        sentences = self.candidates(passages, said)
        if not sentences:
            return [], np.zeros((0, 0), dtype=np.float32)
        cfg = self.config
        vectors = self._unit(self._embed_sentences([s.text for s in sentences]))
        queries = [question] + ([query] if query and query != question else [])
        qvecs = self._unit([self.embeddings.embed_query(q) for q in queries])
        semantic = vectors @ qvecs[0]
        if len(queries) > 1:  # a follow-up: the conversation gives the topic, its own words the ask
            own = 0.6 if len(tokenize(question)) > 2 else 0.35  # "Which areas does it cover?" says little
            semantic = own * semantic + (1 - own) * (vectors @ qvecs[1])

        terms = set(tokenize(question))
        context_terms = set(tokenize(query or "")) - terms
        sentence_terms = [set(tokenize(s.text)) for s in sentences]
        weights = {t: self._idf(t, sentence_terms) for t in terms}
        weights |= {t: 0.5 * self._idf(t, sentence_terms) for t in context_terms}
        total = sum(weights.values()) or 1.0
        wants_date = bool(_DATE_QUESTION.search(question))
        wants_day = bool(_DAY_QUESTION.search(question))
        for s, sem, st in zip(sentences, semantic, sentence_terms, strict=True):
            s.semantic = float(sem)
            s.lexical = sum(w for t, w in weights.items() if t in st) / total
            s.asked = len(terms & st)
            s.score = cfg.semantic_weight * s.semantic + (1 - cfg.semantic_weight) * s.lexical
            if (wants_day and not _DAY_TOKEN.search(s.text)) or (
                wants_date and not _DATE_TOKEN.search(s.text)
            ):
                s.score *= 0.5  # a "when" question is not answered by a sentence without that kind of time
            if not _TERMINAL.search(s.text):
                s.score *= 0.6  # headings and captions state no fact
        return sentences, vectors

    def select(
        self, question: str, passages: Sequence[Document], query: str | None = None, said: Sequence[str] = ()
    ) -> list[Sentence]:
        """The sentences to answer with, in document order; empty means refuse."""
        sentences, vectors = self._score(question, passages, query, said)
        if not sentences:
            return []
        cfg = self.config
        ranked = sorted(range(len(sentences)), key=lambda i: sentences[i].score, reverse=True)
        best = sentences[ranked[0]]
        if best.score < cfg.min_score:
            return []
        chosen: list[int] = []
        for i in ranked:
            if len(chosen) >= cfg.max_sentences or sentences[i].score < cfg.keep_ratio * best.score:
                break
            if chosen and best.asked and not sentences[i].asked:
                continue  # when the question's own words find the answer, more sentences must share them
            if any(float(vectors[i] @ vectors[j]) > cfg.redundancy for j in chosen):
                continue
            chosen.append(i)
        picked = [sentences[i] for i in chosen]
        source_rank = {s.source: s.passage for s in reversed(sentences)}
        return sorted(picked, key=lambda s: (source_rank[s.source], s.start))

    @staticmethod
    def _unit(rows: Sequence[Sequence[float]]) -> np.ndarray:
        matrix = np.asarray(rows, dtype=np.float32)
        return matrix / (np.linalg.norm(matrix, axis=1, keepdims=True) + 1e-9)

    @staticmethod
    def _idf(term: str, sentence_terms: Sequence[set[str]]) -> float:
        df = sum(term in st for st in sentence_terms)
        return math.log(1 + len(sentence_terms) / (1 + df))

    def stream(
        self, question: str, passages: Sequence[Document], query: str | None = None, said: Sequence[str] = ()
    ) -> Iterator[str]:
        """Yields the answer sentence by sentence, each followed by its `[n]`."""
        for i, s in enumerate(self.select(question, passages, query, said)):
            yield ("" if i == 0 else " ") + f"{s.text} [{s.passage}]"
