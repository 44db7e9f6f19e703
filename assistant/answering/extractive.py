"""The offline answerer: quotes the retrieved snippet that best answers the question, cited.

No generative model is involved, so it cannot invent: every snippet it returns is a contiguous slice of a
retrieved passage (the best sentence with the neighbours that complete it, a whole list, a whole code
block), which is itself a slice of a source's extracted text. It refuses when the passages do not answer:
when the question names something no passage mentions, asks for a kind of answer (a date, a number) that
no candidate holds, or when the best snippet covers too little of what was asked.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from assistant.answering.compose import Part, Weights, load_weights, read_parts, scaled_length
from assistant.answering.question import KIND_NAMES, AnswerType, Question, has_type
from assistant.answering.units import Unit, split_units
from vectorstore.chunking import passage_context
from vectorstore.text import repeats, tokenize

_BACK_REFERENCE = re.compile(
    r"^(it|this|that|these|those|they|such|he|she|its|their|there|here|however|but|also|moreover|"
    r"in addition|for example|for instance|therefore|thus|so|then|otherwise|instead|still|yet|and)\b",
    re.I,
)
# "If this flag is left out, ...": the first clause's subject is the previous sentence's, though the
# sentence opens with a conjunction.
_CLAUSE_REFERENCE = re.compile(
    r"^(?:if|when|whenever|unless|until|once|while|although|though|because|since|as|after|before)\s+"
    r"(?:this|that|these|those|it|they|such)\b",
    re.I,
)


def _leans_back(text: str, clauses: bool = True) -> bool:
    """Whether a sentence refers to the one before: it opens with "It"/"This"/"However", or (`clauses`) its
    opening clause does ("If this flag is left out")."""
    return bool(_BACK_REFERENCE.match(text) or (clauses and _CLAUSE_REFERENCE.match(text)))


ANSWERABLE_KINDS = ("sentence", "item", "row", "code")


class CorpusStats(Protocol):
    """What the answerer asks of the documents' vocabulary; the keyword index answers."""

    def knows(self, word: str) -> bool: ...

    def rarity(self, term: str) -> float: ...

    def frequency(self, term: str) -> tuple[int, int]: ...


@dataclass
class ExtractiveConfig:
    """Every tuning number of the answerer that is not fitted, each with why it is what it is."""

    # Prior-weights refusal only (no fitted refusal model): below this probability no unit answers.
    min_score: float = 0.20
    # A further snippet must score at least this share of the best: below it, it answers another question.
    select_ratio: float = 0.5
    # A further snippet must add this rarity-weighted share of the question's terms, or a part not yet
    # touched: each sentence answers something the others did not (the MMR idea, with terms for novelty).
    # Low, so a sentence holding only the last thing asked is quoted: 0.15 left it out (issue 19, round 7).
    min_gain: float = 0.05
    max_snippets: int = 3  # a short answer: one per part of a two-part question and one more
    max_list_snippets: int = 4  # a list gathered from several sentences or bullets
    scan: int = 12  # candidates looked at for further snippets, best first
    part_semantic: float = 0.6  # a part's own best unit: cosine and keywords blended as the prior scorer does
    # A part of a several-part question is answered by the unit that best answers the part itself, looked for
    # among all candidates (a passage found only by its part ranks low on the whole question), and quoted
    # when its blend with the part (`part_semantic` x cosine + the rest x the share of the part's rare terms
    # it holds) is at least `part_ratio` of the best unit's same blend with the whole question.
    # Off: the part's best among the `scan` best units, quoted at `select_ratio` of the best score.
    part_scoring: bool = True
    part_ratio: float = 0.8
    # A part whose best unit is already quoted takes its runner-up when that scores within `tie_ratio` of
    # it: "What majority overturns X, and what majority overrules Y?" has two near-identical rules, and
    # the one that answers Y also scores best for X.
    part_ties: bool = True
    # A unit is also read with the next unit of its paragraph or list, and its cosine with the question is
    # the better of the two: an answer often takes two sentences ("The sandbox is not a security
    # boundary. Do not run untrusted code in it."), and a short one says little alone.
    window_semantic: bool = True
    # A list introduced by a sentence ending in ":" is quoted to its last item even where the text layout
    # starts a new block between two items (a PDF page's extraction does).
    list_runs: bool = True
    # A question's name framed by the text right after the answer's passage (the chunk that goes on from it)
    # is placed, as a name in the chunk right before it already is: a paragraph cut in two is one context.
    context_after: bool = True
    # A name or release of the question that no retrieved passage mentions refuses, whatever the fitted
    # model weighs: as one of its features, its weight swung between fits on different corpora (LOCO).
    missing_refuses: bool = True
    # A code name ("Node.js") whose every part at least this share of the chunks hold is the documents'
    # subject, not an API the answer must name: the sentence that answers need not repeat it.
    subject_share: float | None = 0.2
    # A number asked for is not answered by the question's own numbers ("Which kernel ships with Debian 11?"
    # is not answered by "Debian 11 is the stable release"): the best snippet must hold another.
    new_numbers: bool = True
    # A paragraph that stops mid-sentence ("To list them, run the command") brings the block after it,
    # and a list asked for brings the list right after the answering paragraph, as a ':' already did.
    introduced_blocks: bool = True
    # A sentence whose opening clause refers back ("If this flag is left out, ...") brings the sentence
    # before it, as one opening with "This" or "However" does.
    clause_reference: bool = True
    # A short sentence just before the answering one, in its paragraph, that holds asked words the answer
    # lacks leads into it ("This is not a hard limit." before what happens past the limit): it comes too.
    lead_in: bool = True
    # Units scoring within this share of the best are near-ties the scorer cannot order (its logits differ by
    # less than its errors do): up to `max_ties` of them are quoted after the best, from other passages or
    # paragraphs, before further snippets are sought for coverage.
    tie_ratio: float = 0.9
    max_ties: int = 2
    # The sentence right after the answering one goes on with its subject when it shares this many terms
    # with it ("The hall can be rented for a day. The fee for renting the hall is 200 EUR.").
    subject_terms: int = 2
    # A following sentence that opens with the same this-many words goes on with the snippet: it is the
    # next case of a series told in prose ("For the qmark style, ... For the named style, ..."; 0 = off).
    parallel_words: int = 2
    # A sentence that points ahead without a colon ("... through these mailing lists.") above entries
    # brings the blocks after it, to the next heading, as a ':' brings its list.
    announced_series: bool = True
    # A further snippet sharing this share of its terms (Jaccard) with a chosen one, and no different number,
    # says the same thing, as the same paragraph in two versions of a document does: it is skipped for the
    # next (1.0 = off).
    repeat_overlap: float = 0.9
    snippet_chars: int = 700  # a snippet grows with the sentences that go on with it, up to this
    # The rest of a paragraph this short comes with its sentence: a parameter's entry ("directory specifies
    # where the report is written. URLs are not supported. Defaults to the current directory.") is one.
    short_paragraph: int = 200
    # A follow-up's cosine with a unit blends its own words' cosine (this share) with its standalone query's
    # (the conversation gives the topic, its own words the ask); a follow-up of one or two terms ("And in
    # 2019?") says less by itself, so the query weighs more.
    own_cosine: float = 0.6
    own_cosine_short: float = 0.35
    # A term only the standalone query has (from the conversation) counts for this share of the question's
    # own, in the keyword score and the coverage; a question term in a unit's heading, not in the unit
    # itself, counts for `heading_terms` of one in the unit.
    context_terms: float = 0.5
    heading_terms: float = 0.5
    # A heading or FAQ question holding this share of the question's terms anchors the unit right after it.
    anchor_share: float = 0.6
    list_items: int = 12  # items of one list quoted around the one that answers
    # A name of the question that at most this share of the chunks hold (or one chunk, in a small corpus) is
    # what the question is about ("Oslo", "UPSERT", "gzip"); the refusal model reads whether the answer's
    # passage mentions it. A name many chunks hold ("Python") is the documents' subject.
    distinctive_share: float | None = 0.02  # None: no such feature
    weights: Weights | None = None  # None: the shipped fit (answer_weights.json)


@dataclass
class Candidate:
    passage: int  # 1-based passage number
    index: int  # position among the passage's units
    unit: Unit
    section: str
    score: float = 0.0
    semantic: float = 0.0
    lexical: float = 0.0
    terms: set[str] = field(default_factory=set)
    anchor: str = ""  # the question or heading this unit is the first answer to, if any
    heading: str = ""  # the nearest heading above it: inside the passage, else the section's last part
    header: str = ""  # a table row's header row: what its cells are
    similarity: float = 0.0  # its passage's retrieval cosine
    count: int = 1  # units in its passage
    anchored: bool = False  # the first unit after a FAQ question or heading matching the question
    features: dict[str, float] = field(default_factory=dict)
    window: str = ""  # the unit and the next unit of its paragraph or list, when there is one

    @property
    def text(self) -> str:
        """What the unit says, as read: a row under its header ("Taxi | 40 EUR" is a spending limit)."""
        return f"{self.header}\n{self.unit.text}" if self.header else self.unit.text


@dataclass
class Snippet:
    heading: str
    passage: int
    start: int  # offset in the passage text
    end: int
    text: str
    score: float
    section: str
    terms: set[str]
    header: str = ""  # a quoted table row's header row, shown above it when the passage lacks it there


@dataclass
class Decision:
    """What the answerer saw, for the answer and for calibration: snippets, or why it refused."""

    snippets: list[Snippet]
    refusal: str = ""
    coverage: float = 0.0
    best_score: float = 0.0
    missing: list[str] = field(default_factory=list)
    asked: set[str] = field(default_factory=set)  # the question's own key terms
    features: dict[str, float] = field(default_factory=dict)  # what the refusal model read
    refusal_probability: float = 0.0
    # the kinds of answer a part of the question asked for that no snippet holds ("date", "number"): the
    # answer is partial, and says so
    unanswered: list[AnswerType] = field(default_factory=list)


class _VectorCache:
    """Unit vectors by text: follow-ups and popular passages come back often; embedding is the cost."""

    def __init__(self, embeddings: Embeddings, size: int) -> None:
        self.embeddings = embeddings
        self.size = size
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _embed(self, texts: list[str]) -> dict[str, list[float]]:
        """One call for all, unless the model's vectors depend on the batch (int8 quantizes activations per
        batch: cosine down to 0.988): then one text per call, or the same question could get another answer
        after other questions. One call matters for a remote model: not an HTTP request per sentence."""
        if not texts:
            return {}
        if getattr(self.embeddings, "batch_invariant", True):
            return dict(zip(texts, self.embeddings.embed_documents(texts), strict=True))
        return {t: self.embeddings.embed_documents([t])[0] for t in texts}

    def query(self, text: str) -> list[float]:
        """A question's vector: asked again when a follow-up or a re-run comes back to it."""
        key = "\0query\0" + text
        with self._lock:
            cached = self._cache.get(key)
        if cached is None:
            cached = self.embeddings.embed_query(text)
            with self._lock:
                self._cache[key] = cached
        return cached

    def get(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        fresh = self._embed(missing)
        with self._lock:
            self._cache.update(fresh)
            rows = [fresh.get(t) or self._cache.get(t) for t in texts]
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        rows = [
            r if r is not None else self.embeddings.embed_documents([t])[0]
            for r, t in zip(rows, texts, strict=False)
        ]
        matrix = np.asarray(rows, dtype=np.float32)
        return matrix / (np.linalg.norm(matrix, axis=1, keepdims=True) + 1e-9)


def _idf(term: str, term_sets: Sequence[set[str]]) -> float:
    df = sum(term in ts for ts in term_sets)
    return math.log(1 + len(term_sets) / (1 + df))


# A heading that is an API entry: "getpass.getpass(prompt='Password: ')", "class queue.PriorityQueue".
_SIGNATURE = re.compile(
    r"^(?:class |exception |async )?[A-Za-z_][\w.]*\(|^(?:class |exception )?[A-Za-z_]\w*(?:\.\w+)+$"
)


def _names_subject(leaf: str) -> bool:
    """A heading that names a thing (a function, a term, a topic), not a question or a sentence."""
    return bool(leaf) and len(leaf) <= 100 and not leaf.rstrip().endswith(("?", ".", "!"))


def _leaf(section: str) -> str:
    return section.rsplit(" > ", 1)[-1] if section else ""


def _table_header(units: list[Unit], index: int, passage: Document) -> str:
    """The header row of a table row: the table's first row in the passage, or, for a passage that
    starts inside a table, the header the chunker recorded for it. "" when the row is the header."""
    block = units[index].block
    first = next(i for i, u in enumerate(units) if u.block == block)
    recorded = str(passage.metadata.get("table_header", ""))
    if recorded and block == units[0].block:
        return recorded
    return units[first].text if first != index else ""


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def _looks_up(asked: set[str], header: str, row: str) -> bool:
    """A question that names a row's key (its first cell, "smallint") and a column ("Range") is looking up
    that cell: how a reader uses a table, in any manual."""
    cells, columns = _cells(row), _cells(header)
    if len(cells) < 2 or len(columns) < 2:
        return False
    key = set(tokenize(cells[0]))
    if not key or len(key & asked) < 0.5 * len(key):
        return False
    return any(set(tokenize(column)) & (asked - key) for column in columns[1:])


_LEAD_IN_CHARS = 120  # a one-line lead or label, not a sentence of the argument


def _lead_in(units: list[Unit], i: int, asked: set[str]) -> bool:
    """Whether the sentence before `i` leads into it: of its paragraph, no longer than a one-line lead
    (`_LEAD_IN_CHARS`), and holding asked terms the sentence at `i` does not."""
    if i == 0:
        return False
    before, unit = units[i - 1], units[i]
    if before.kind != "sentence" or before.block != unit.block or len(before.text) > _LEAD_IN_CHARS:
        return False
    return bool((set(tokenize(before.text)) & asked) - set(tokenize(unit.text)))


def _referent(units: list[Unit], i: int) -> bool:
    """Whether the unit before `i` is what a sentence opening with "This"/"It" refers back to: a sentence of
    the same paragraph, or a one-line paragraph or code block just above (a signature line,
    "gen_random_uuid () → uuid")."""
    before, unit = units[i - 1], units[i]
    if before.kind == "code":  # a one-line code block: a signature set apart from the prose
        return before.text.count("\n") <= 2 and len(before.text) <= 160
    if before.kind != "sentence":
        return False
    if before.block == unit.block:
        return True
    alone = i < 2 or units[i - 2].block != before.block
    return alone and len(before.text) <= _LEAD_IN_CHARS and all(u.block != unit.block for u in units[:i])


# How a sentence that says all it has to say ends: a full stop (or ! ? ; :) and closing quotes or brackets.
# A line ending in a code span, emphasis or a bracket ("The default is `8080`", "(see PEP 695)") is finished
# too: it does not announce the next block.
_FINISHED = re.compile(r"[.!?;:…][\"'”’)\]]*$|[`*_)\]]$")
# A sentence that points ahead to what follows it without a colon (one with a colon already brings its
# block): "... is distributed through these (high-volume) mailing lists.", "... as follows."
# "these" not opening the sentence, and a plural last: "These are deprecated." and "... in the following
# year." point back or to a time, not to entries.
_ANNOUNCES = re.compile(
    r"\S\s+(?:these|the following)(?:\s+\(?[\w-]+\)?){0,2}\s+\(?[\w-]*[^\W\ds]s\)?\.$"
    r"|\b(?:the following|as follows)\.$",
    re.I,
)
_ANNOUNCING_SENTENCE = 5  # words at least: "In these cases." is a reference back, not an announcement
_ANNOUNCING_WORDS = 4  # a shorter line without a full stop is a label or a title, not a sentence cut short
_SECTION_NUMBER = re.compile(r"(?<!\S)\d{1,3}(?:\.\d{1,3})+\.?(?!\S)")
# A contents entry: a section number and the capitalised title after it ("9.1. How can I ...").
_SECTION_ENTRY = re.compile(r"(?<!\S)\d{1,3}(?:\.\d{1,3})+\.?\s+[A-Z]")


# A number as written in digits ("511", "2.24.1", "3:1", "16,384"): the question's own are no answer to it.
_QUOTED_NUMBER = re.compile(r"\d+(?:[.:,]\d+)*")


# A question that offers the numbers to choose from: "... port 80 or 443?", "3.11 or 3.12".
_CHOICE = re.compile(r"\d\S*,?\s+or\s+\S*\d")


def _entry(unit: Unit) -> bool:
    """An entry of a list or a directory rather than prose: an item, a row, code, or a line without a full
    stop ("debian-bugs-closed@lists.debian.org")."""
    unfinished = unit.kind == "sentence" and not _FINISHED.search(unit.text)
    return unfinished or unit.kind in ("item", "row", "code")


def _numbers(text: str) -> set[str]:
    """The numbers written in digits in `text`, as written: what the question gives is no answer to it."""
    return set(_QUOTED_NUMBER.findall(text))


def _navigation(text: str) -> bool:
    """A table of contents run into one line ("4.1. Why does ...? 4.1.1. Backups 4.2. Can I ..."):
    it names sections, it answers nothing: four contents entries (a section number and a capitalised title,
    which neither a sentence citing sections nor a list of versions or addresses writes four times), or three
    section numbers, one per eight words or more."""
    numbers = len(_SECTION_NUMBER.findall(text))
    return len(_SECTION_ENTRY.findall(text)) >= 4 or (numbers >= 3 and numbers * 8 >= len(text.split()))


def _distinctive(corpus: CorpusStats, name: str, share: float) -> bool:
    """Whether few chunks hold a part of the name: at most `share` of them, or one (an empty index says
    nothing)."""
    counts = [corpus.frequency(term) for term in tokenize(name)]
    return any(size and df <= max(1.0, share * size) for df, size in counts)


def _just_before(begins: int | None, ends: int | None, start: int | None) -> bool:
    """A chunk that starts before `start` and reaches it: the one right before, or the one it overlaps when
    the chunker cut a paragraph in two."""
    if begins is None or ends is None or start is None:
        return False
    return begins < start <= ends + 2


def _offset(meta: dict[str, Any], key: str) -> int | None:
    """A passage's start or end offset, None when it is missing or not a whole number."""
    try:
        return int(meta[key])
    except (KeyError, TypeError, ValueError):
        return None


def _inside(cand: Candidate, snippet: Snippet) -> bool:
    """The candidate is already quoted by the snippet."""
    return cand.passage == snippet.passage and snippet.start <= cand.unit.start < snippet.end


def _cosines(vectors: np.ndarray, queries: np.ndarray, own: float) -> np.ndarray:
    """Each row's cosine with the question, blended with the standalone query's when there is one."""
    semantic: np.ndarray = vectors @ queries[0]
    if len(queries) > 1:
        semantic = own * semantic + (1 - own) * (vectors @ queries[1])
    return semantic


def _window(units: list[Unit], i: int) -> str:
    """The unit read with the next one of the same paragraph or list ("" when it ends it, or is code)."""
    unit = units[i]
    if unit.kind == "code" or i + 1 >= len(units):
        return ""
    nxt = units[i + 1]
    return f"{unit.text} {nxt.text}" if nxt.block == unit.block and nxt.kind == unit.kind else ""


def _overlaps(a: Snippet, b: Snippet) -> bool:
    return a.passage == b.passage and a.start < b.end and b.start < a.end


def _reaching_value(units: list[Unit], first: int, i: int, wanted: set[AnswerType], limit: int) -> int:
    """Where the snippet must end to hold the kind of value asked for (a number, a date) when the answering
    sentence lacks it and a later sentence of its paragraph gives it, within the length limit: "... the
    queue of pending connections. The actual length is set by the OS. The default value is 511." """
    lacking = {t for t in wanted if not has_type(units[i].text, t)}
    last = i
    while lacking and last + 1 < len(units):
        nxt = units[last + 1]
        if nxt.kind != "sentence" or nxt.block != units[i].block or nxt.end - units[first].start > limit:
            return i
        last += 1
        if any(has_type(nxt.text, t) for t in lacking):
            return last
    return i


# Why the answerer refused, by the decision feature that weighed most towards refusing.
_REASONS = {
    "missing_names": "no passage mentions {names}",
    "unplaced_names": "the best passage does not mention {names}",
    "type_ok": "no {kind} in the passages' best answer",
    "coverage": "the passages answer too little of the question",
    "parts_covered": "the passages answer too little of the question",
}


def _per_part(names: list[str], parts: list[Part]) -> list[list[str]]:
    """The names each part of the question asks about ("does process.exit() stop the app? And terminate()?":
    one API a part); a name no part holds is asked by every part. One part: all the names together."""
    texts = [p.text.lower() for p in parts]
    if len(texts) < 2:
        return [names]

    def holds(text: str, name: str) -> bool:  # "fs.write" is not in "fs.writeSync"
        return re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", text) is not None

    shared = [n for n in names if not any(holds(t, n) for t in texts)]
    groups = [[n for n in names if holds(t, n)] + shared for t in texts]
    unique = dict.fromkeys(tuple(g) for g in groups if g)
    return [list(g) for g in unique] or [names]


def _reason(feature: str, question: Question, names: list[str], kind: AnswerType | None = None) -> str:
    template = _REASONS.get(feature, "no passage answers the question closely enough")
    kind = kind or question.answer_type
    return template.format(names=", ".join(names) or "the question's names", kind=KIND_NAMES.get(kind, kind))


class ExtractiveAnswerer:
    def __init__(
        self,
        embeddings: Embeddings,
        config: ExtractiveConfig | None = None,
        cache_size: int = 20_000,
        corpus: CorpusStats | None = None,
    ) -> None:
        self.embeddings = embeddings
        self.config = config or ExtractiveConfig()
        self.corpus = corpus
        self.weights = self.config.weights or load_weights()
        self._vectors = _VectorCache(embeddings, cache_size)

    # -- candidates and scores ----------------------------------------------------------------------
    def candidates(self, passages: Sequence[Document], said: Sequence[str] = ()) -> list[Candidate]:
        out: list[Candidate] = []
        seen: set[tuple[str, int]] = set()
        for n, doc in enumerate(passages, start=1):
            source, base = doc.metadata.get("source", ""), int(doc.metadata.get("start", 0))
            section = str(doc.metadata.get("section", ""))
            anchor = _leaf(section) if _leaf(section).endswith("?") else ""
            heading = _leaf(section)
            units = split_units(doc.page_content)
            for index, unit in enumerate(units):
                if unit.kind == "heading":
                    heading = unit.text.lstrip("# ")
                if unit.kind in ("question", "heading"):
                    anchor = unit.text.lstrip("# ") if unit.text.endswith("?") else ""
                    continue
                key = (source, base + unit.start)
                text = unit.text
                if unit.kind not in ANSWERABLE_KINDS or key in seen or any(text in a for a in said):
                    continue
                if unit.kind != "code" and (len(text) < 15 or len(text.split()) < 3):
                    continue
                if _navigation(text):
                    continue
                seen.add(key)
                header = _table_header(units, index, doc) if unit.kind == "row" else ""
                terms = set(tokenize(f"{header}\n{text}"))
                found = Candidate(n, index, unit, section, terms=terms, anchor=anchor, heading=heading)
                found.header = header
                found.similarity = float(doc.metadata.get("similarity", 0.0) or 0.0)
                found.count = len(units)
                found.window = _window(units, index)
                out.append(found)
                anchor = ""
        return out

    def score(
        self, question: Question, candidates: list[Candidate], query: str | None, parts: list[Part]
    ) -> list[Candidate]:
        """Each candidate described by its features, then scored by the fitted model: the probability
        that it is the sentence (item, row) that answers."""
        if not candidates:
            return []
        semantic = self._semantic(question, candidates, query)
        terms = set(question.terms)
        context = set(tokenize(query or "")) - terms
        term_sets = [c.terms for c in candidates]
        cfg = self.config
        weights = {t: _idf(t, term_sets) for t in terms} | {
            t: cfg.context_terms * _idf(t, term_sets) for t in context
        }
        total = sum(weights.values()) or 1.0
        for c, sem in zip(candidates, semantic, strict=True):
            heading = set(tokenize(c.heading))
            hits = sum(
                w * (1.0 if t in c.terms else cfg.heading_terms if t in heading else 0.0)
                for t, w in weights.items()
            )
            c.semantic, c.lexical = float(sem), hits / total
        self._follow_anchors(question, candidates)
        top_sem = max(c.semantic for c in candidates)
        top_lex = max(c.lexical for c in candidates)
        for c in candidates:
            c.features = self._features(c, question, parts, top_sem, top_lex)
        rows = np.asarray([[c.features[f] for f in self.weights.scorer.features] for c in candidates])
        for c, p in zip(candidates, self.weights.scorer.probabilities(rows), strict=True):
            c.score = float(p)
        return sorted(candidates, key=lambda c: c.score, reverse=True)

    def _semantic(self, question: Question, candidates: list[Candidate], query: str | None) -> np.ndarray:
        """Cosine of each candidate with the question; a follow-up blends in the standalone query (the
        conversation gives the topic, its own words the ask). A unit read with the next one of its
        paragraph may match better: the better of the two cosines counts."""
        queries = [question.text] + ([query] if query and query != question.text else [])
        qv = np.asarray([self._vectors.query(q) for q in queries], dtype=np.float32)
        qv /= np.linalg.norm(qv, axis=1, keepdims=True) + 1e-9
        own = self.config.own_cosine if len(question.terms) > 2 else self.config.own_cosine_short
        semantic = _cosines(self._vectors.get([c.text[:600] for c in candidates]), qv, own)
        if self.config.window_semantic:
            windows = [(c.window or c.text)[:600] for c in candidates]
            semantic = np.maximum(semantic, _cosines(self._vectors.get(windows), qv, own))
        return semantic

    def _features(
        self, c: Candidate, question: Question, parts: list[Part], top_sem: float, top_lex: float
    ) -> dict[str, float]:
        """The candidate as the scorer sees it (compose.UNIT_FEATURES)."""
        asked = set(question.terms)
        kind = c.unit.kind
        typed: list[AnswerType] = [p.answer_type for p in parts if p.answer_type != "other"]
        listed = kind in ("item", "row")
        type_match = not typed or listed or any(has_type(c.unit.text, t) for t in typed)
        section_terms = set(tokenize(f"{c.section} {c.heading}"))
        touched = sum(1 for p in parts if p.terms & c.terms)
        return {
            "semantic": c.semantic,
            "semantic_gap": top_sem - c.semantic,
            "lexical": c.lexical,
            "lexical_gap": top_lex - c.lexical,
            "parts": touched / max(len(parts), 1),
            "rank": 1.0 / c.passage,
            "similarity": c.similarity,
            "type_match": float(type_match),
            "heading": len(asked & section_terms) / max(len(asked), 1),
            "anchor": float(c.anchored),
            "lookup": float(bool(c.header) and _looks_up(asked, c.header, c.unit.text)),
            "item": float(kind == "item"),
            "row": float(kind == "row"),
            "code": float(kind == "code"),
            "position": c.index / max(c.count - 1, 1),
            "back_reference": float(bool(_BACK_REFERENCE.match(c.unit.text))),
            "length": scaled_length(len(c.unit.text)),
        }

    def _follow_anchors(self, question: Question, candidates: list[Candidate]) -> None:
        """A FAQ's question (a heading or a question line) that matches the user's is an anchor: the first
        sentence after it is its answer, more than the sentences that merely share its words."""
        asked = set(question.terms)
        if not asked:
            return
        for cand in candidates:
            anchor = cand.anchor
            shared = len(asked & set(tokenize(anchor)))
            cand.anchored = bool(anchor) and shared >= self.config.anchor_share * len(asked)

    # -- snippets ------------------------------------------------------------------------------------
    def snippet(
        self, best: Candidate, passage: Document, question: Question, quoted: Sequence[str] = ()
    ) -> Snippet:
        """The best unit with what completes it: the sentence it refers back to or a lead-in the answer
        has not `quoted` yet, the sentences that go on with it, the list or code it introduces; a list item
        brings its whole list."""
        units = split_units(passage.page_content)
        i = best.index
        first, last, lead = i, i, 0
        unit = units[i]
        if unit.kind == "row" and question.answer_type != "list":
            pass  # the row that answers, under its header; the whole table only when a list is asked for
        elif unit.kind in ("item", "row"):
            first, last = self._whole_block(units, i)
            if first > 0 and units[first - 1].text.endswith(":") and units[first - 1].kind == "sentence":
                first -= 1
        elif unit.kind == "code":
            if i > 0 and units[i - 1].kind == "sentence" and units[i - 1].text.endswith(":"):
                first = i - 1
        else:
            if _leans_back(unit.text, self.config.clause_reference) and i > 0 and _referent(units, i):
                first = i - 1
                if (
                    units[first].kind == "code"
                    and first > 0
                    and units[first - 1].text.endswith(":")
                    and units[first - 1].kind == "sentence"
                ):
                    first -= 1  # "... one function to generate a UUID:" introduced the signature
            elif self.config.lead_in and _lead_in(units, i, set(question.terms)):
                first = i if any(units[i - 1].text in q for q in quoted) else i - 1
                lead = units[i].start - units[first].start  # the room it takes is not the answer's
            limit = self.config.snippet_chars * (2 if question.answer_type == "list" else 1) + lead
            wanted = {p.answer_type for p in read_parts(question.text)} - {"other", "list"}
            listing = question.answer_type == "list"
            last = self._extend(units, first, i, set(question.terms), limit, listing)
            last = max(last, _reaching_value(units, first, i, wanted, limit))
            last = max(last, self._short_paragraph(units, first, last))
        text = passage.page_content[units[first].start : units[last].end]
        header = best.header if best.header and best.header not in text else ""
        terms = set(tokenize(f"{header}\n{text}"))
        return Snippet(
            best.heading,
            best.passage,
            units[first].start,
            units[last].end,
            text,
            best.score,
            best.section,
            terms,
            header if first == last == i else "",
        )

    def _short_paragraph(self, units: list[Unit], first: int, last: int) -> int:
        """Where the snippet's paragraph ends, when all of it fits in `short_paragraph` characters; a last
        sentence that announces a block the snippet would leave out ("The priorities are:", "..., run the
        command") stays out with it."""
        end = last
        while (
            end + 1 < len(units)
            and units[end + 1].kind == "sentence"
            and units[end + 1].block == units[last].block
        ):
            end += 1
        if end > last and (
            units[end].text.endswith(":")
            or (end + 1 < len(units) and self._introduces(units[end], units[end + 1], False))
        ):
            end -= 1
        return end if units[end].end - units[first].start <= self.config.short_paragraph else last

    def _introduces(self, cur: Unit, nxt: Unit, listing: bool) -> bool:
        """Whether the block that starts at `nxt` is what `cur` announces, so the snippet goes on into it."""
        if cur.text.endswith(":") and nxt.kind in ("item", "code", "row"):
            return True
        if not self.config.introduced_blocks or cur.kind != "sentence" or nxt.block == cur.block:
            return False
        if nxt.kind in ("heading", "question"):
            return False
        # "... run:" above a plain command line; a paragraph that stops mid-sentence ("..., run the command")
        cut_short = not _FINISHED.search(cur.text) and len(cur.text.split()) >= _ANNOUNCING_WORDS
        return cur.text.endswith(":") or cut_short or (listing and nxt.kind == "item")

    def _same_list(self, unit: Unit, nxt: Unit) -> bool:
        """Whether `nxt` goes on with the block of `unit`: the same block, or (`list_runs`) the next item of
        a list that the layout cut into two blocks."""
        if nxt.block == unit.block:
            return True
        return self.config.list_runs and unit.kind == nxt.kind == "item"

    def _whole_block(self, units: list[Unit], i: int) -> tuple[int, int]:
        kind = units[i].kind
        first = i
        while first > 0 and units[first - 1].kind == kind and self._same_list(units[first - 1], units[first]):
            first -= 1
        last = i
        while (
            last + 1 < len(units)
            and units[last + 1].kind == kind
            and self._same_list(units[last], units[last + 1])
        ):
            last += 1
        if last - first >= self.config.list_items:
            first, last = (
                max(first, i - self.config.list_items // 2),
                min(last, i + self.config.list_items // 2),
            )
        return first, last

    def _extend(
        self, units: list[Unit], first: int, i: int, asked: set[str], limit: int, listing: bool = False
    ) -> int:
        """Following sentences of the paragraph that go on with the snippet: they refer back to it, it
        introduced them (':'), they hold asked words it does not, they open as the one before
        (`parallel_words`), or the one right after it goes on with its subject (two of its terms). The block
        it introduces comes too: after a ':', after a paragraph that stops mid-sentence ("..., run the
        command" above the command), or a list right after the paragraph when a list is asked for; the
        entries a sentence points ahead to ("... through these mailing lists.") come with it."""
        last = i
        said = set(tokenize(units[i].text))
        while last + 1 < len(units):
            nxt, cur = units[last + 1], units[last]
            if self._announces(cur, nxt):
                return self._series_end(units, first, last + 1, 2 * limit)
            if self._introduces(cur, nxt, listing):
                block_end = last + 1
                while block_end + 1 < len(units) and self._same_list(units[block_end], units[block_end + 1]):
                    block_end += 1
                if units[block_end].end - units[first].start <= 2 * limit:
                    return block_end
                return last
            if nxt.kind != "sentence" or nxt.block != cur.block:
                return last
            adds = (set(tokenize(nxt.text)) & asked) - said
            subject = last == i and len(set(tokenize(nxt.text)) & said) >= self.config.subject_terms
            leans = _leans_back(nxt.text, self.config.clause_reference)
            if not (leans or cur.text.endswith(":") or adds or subject or self._parallel(cur, nxt)):
                return last
            said |= set(tokenize(nxt.text))
            if nxt.end - units[first].start > limit:
                return last
            last += 1
        return last

    def _announces(self, cur: Unit, nxt: Unit) -> bool:
        """Whether `cur` points ahead to the blocks after it ("... through these mailing lists.") and they
        are what it announced: the next block opens with an entry (an item, a row, code, or a line without a
        full stop, "debian-bugs-closed@lists.debian.org"), not with more prose, where "these" points back."""
        if not self.config.announced_series or nxt.block == cur.block or not _ANNOUNCES.search(cur.text):
            return False
        return len(cur.text.split()) >= _ANNOUNCING_SENTENCE and _entry(nxt)

    @staticmethod
    def _series_end(units: list[Unit], first: int, start: int, room: int) -> int:
        """The last unit of what a sentence announced ("... through these mailing lists."): the blocks from
        `start` to the last that opens with an entry, before the next heading or question and within `room`
        characters of the snippet's start. When prose blocks sit between the entries (each entry's
        description), the block after the last entry is its description and comes too; prose after a
        single run of entries is not announced."""
        blocks: list[tuple[int, int, bool]] = []  # first unit, last unit, opens with an entry
        for j in range(start, len(units)):
            if units[j].kind in ("heading", "question") or units[j].end - units[first].start > room:
                break
            if blocks and units[blocks[-1][1]].block == units[j].block:
                blocks[-1] = (blocks[-1][0], j, blocks[-1][2])
            else:
                blocks.append((j, j, _entry(units[j])))
        entries = [k for k, block in enumerate(blocks) if block[2]]
        if not entries:
            return start - 1
        last = entries[-1]
        described = any(not blocks[k][2] for k in range(entries[0], last))
        if described and last + 1 < len(blocks) and not blocks[last + 1][2]:
            last += 1
        return blocks[last][1]

    def _parallel(self, cur: Unit, nxt: Unit) -> bool:
        """Whether `nxt` opens with the same `parallel_words` words as `cur`: the next case of a series
        told in prose ("For the qmark style, ... For the named style, ...")."""
        n = self.config.parallel_words
        opening = cur.text.lower().split()[:n]
        return n > 0 and len(opening) == n and nxt.text.lower().split()[:n] == opening

    # -- the pipeline: read question -> pool -> score -> select -> decide ----------------------------
    def decide(
        self,
        question_text: str,
        passages: Sequence[Document],
        query: str | None = None,
        said: Sequence[str] = (),
    ) -> Decision:
        question = Question.read(question_text, self.corpus.knows if self.corpus else None)
        parts = read_parts(question_text)
        ranked = self.score(question, self.candidates(passages, said), query, parts)
        if not ranked:
            return Decision([], "no candidate sentence in the passages")
        texts = [passage_context(p) for p in passages] + [str(p.metadata.get("source", "")) for p in passages]
        missing = question.missing_names(texts) + question.missing_versions(texts)
        apis = [i for i in question.identifiers if not self._subject(i)]
        if apis:  # a question about an API is answered from what documents that API (or a part's APIs)
            groups = _per_part(apis, parts)
            about = [
                c
                for c in ranked
                if any(not question.missing_names([c.text, c.heading, c.section], names=g) for g in groups)
            ]
            ranked = about or ranked
            missing += [] if about else [i for i in apis if i not in missing]
        snippets = self.select(question, parts, ranked, passages)
        decision = Decision(snippets, best_score=ranked[0].score, missing=missing, asked=set(question.terms))
        self._judge(decision, question, parts, ranked[0], passages, query)
        if decision.refusal:
            decision.snippets = []
        return decision

    def _subject(self, name: str) -> bool:
        """Whether the name is what the documents are about ("Node.js" in the Node.js docs): each of its
        parts is held by at least `subject_share` of the chunks, so a sentence need not repeat it."""
        limit = self.config.subject_share
        if self.corpus is None or limit is None:
            return False
        counts = [self.corpus.frequency(term) for term in tokenize(name)]
        # not `not _distinctive(...)`: an empty index says nothing, so nothing is the documents' subject
        return bool(counts) and all(size and df >= limit * size for df, size in counts)

    def select(
        self, question: Question, parts: list[Part], ranked: list[Candidate], passages: Sequence[Document]
    ) -> list[Snippet]:
        """Greedy by coverage: the best unit, then each further one that answers a part, the near-ties of
        the best, then units holding terms of the question the chosen ones leave open, until the budget; a
        paragraph cut in two goes on first."""
        cfg, best = self.config, ranked[0]
        chosen = [self.snippet(best, passages[best.passage - 1], question)]
        follow = self._continuation(ranked, chosen[0], passages, set(question.terms) - chosen[0].terms)
        if follow is not None:
            chosen.append(self.snippet(follow, passages[follow.passage - 1], question, [chosen[0].text]))
        budget = cfg.max_list_snippets if question.answer_type == "list" else cfg.max_snippets
        answers, runners = self._part_answers(parts, ranked, chosen)
        self._quote(answers, chosen, budget, question, passages)
        self._quote(self._near_ties(ranked, chosen), chosen, budget, question, passages)
        self._quote(runners, chosen, budget, question, passages)  # only room left: a part's second guess
        close = itertools.takewhile(lambda c: c.score >= cfg.select_ratio * best.score, ranked[1 : cfg.scan])
        # lazy: each candidate's gain is read against the snippets chosen before it
        adding = (c for c in close if self._adds(question, parts, c, chosen))
        self._quote(adding, chosen, budget, question, passages)
        return chosen

    def _quote(
        self,
        cands: Iterable[Candidate],
        chosen: list[Snippet],
        budget: int,
        question: Question,
        passages: Sequence[Document],
    ) -> None:
        """Each candidate's snippet joins `chosen` while the budget lasts, unless a chosen one quotes it or
        says the same."""
        for cand in cands:
            if len(chosen) >= budget:
                return
            if any(_inside(cand, s) for s in chosen):
                continue
            snip = self.snippet(cand, passages[cand.passage - 1], question, [s.text for s in chosen])
            if self._fresh(snip, chosen):
                chosen.append(snip)

    def _fresh(self, snip: Snippet, chosen: list[Snippet]) -> bool:
        """The snippet neither overlaps a chosen one nor repeats one's words (`repeat_overlap`)."""
        bar = self.config.repeat_overlap
        return not any(_overlaps(snip, s) or repeats(snip.terms, s.terms, bar) for s in chosen)

    def _near_ties(self, ranked: list[Candidate], chosen: list[Snippet]) -> list[Candidate]:
        """The units that score within `tie_ratio` of the best, best first, up to `max_ties`, that the
        snippets so far do not quote (nor the same words from another passage): the scorer cannot tell
        which of them answers, so the answer quotes them all."""
        best, quoted = ranked[0], [s.text for s in chosen]
        out: list[Candidate] = []
        for cand in ranked[1 : self.config.scan]:
            if len(out) >= self.config.max_ties or cand.score < self.config.tie_ratio * best.score:
                break
            if any(_inside(cand, s) for s in chosen) or any(cand.unit.text in q for q in quoted):
                continue
            out.append(cand)
            quoted.append(cand.unit.text)
        return out

    def _part_answers(
        self, parts: list[Part], ranked: list[Candidate], chosen: list[Snippet]
    ) -> tuple[list[Candidate], list[Candidate]]:
        """For a question of several parts, the unit that best answers each part on its own (its cosine
        with the part and the share of the part's rare terms it holds), when the snippets so far do not
        quote it and it passes the bar: "What is the smallest MTU, and what happens to a bigger datagram?"
        asks two sentences. Second, the runners-up (`part_ties`): for a part whose best is already quoted,
        its next unit when that scores nearly as well, quoted only if room is left."""
        cfg = self.config
        if len(parts) < 2 or not ranked:
            return [], []
        pool = ranked if cfg.part_scoring else ranked[: cfg.scan]
        top = max(cfg.part_semantic * c.semantic + (1 - cfg.part_semantic) * c.lexical for c in ranked)
        units, windows = self._pool_vectors(pool)  # embedded (or read from the cache) once, not per part
        out: list[Candidate] = []
        runners: list[Candidate] = []
        for part in parts:
            query = np.asarray(self._vectors.query(part.text), dtype=np.float32)
            query /= np.linalg.norm(query) + 1e-9
            cosine = units @ query if windows is None else np.maximum(units @ query, windows @ query)
            weights = self._term_weights(set(part.terms))
            total = sum(weights.values()) or 1.0
            lexical = [sum(w for t, w in weights.items() if t in c.terms) / total for c in pool]
            blend = cfg.part_semantic * cosine + (1 - cfg.part_semantic) * np.asarray(lexical)
            order = np.argsort(-blend, kind="stable")  # on a tie, the higher-ranked unit, as argmax
            i = int(order[0])
            cand = pool[i]
            if any(_inside(cand, s) for s in chosen) or cand in out:
                # the part's best is already quoted (for another part, or as the answer): a runner-up
                # the part's blend cannot tell from it may be what answers this part, quoted if room is left
                j = int(order[1]) if cfg.part_ties and cfg.part_scoring and len(order) > 1 else i
                if j != i and blend[j] >= cfg.tie_ratio * blend[i] and blend[j] >= cfg.part_ratio * top:
                    runners.append(pool[j])
                continue
            if cfg.part_scoring:
                passes = float(blend[i]) >= cfg.part_ratio * top
            else:
                passes = cand.score >= cfg.select_ratio * ranked[0].score
            if passes:
                out.append(cand)
        return out, [c for c in runners if c not in out]

    def _pool_vectors(self, pool: list[Candidate]) -> tuple[np.ndarray, np.ndarray | None]:
        """The units' vectors, and with `part_scoring` their windows' (a unit read with its next unit), so a
        part's cosine is the better of the two, as the whole question's is (`window_semantic`)."""
        units = self._vectors.get([c.text[:600] for c in pool])
        if not (self.config.part_scoring and self.config.window_semantic):
            return units, None
        return units, self._vectors.get([(c.window or c.text)[:600] for c in pool])

    def _adds(self, question: Question, parts: list[Part], cand: Candidate, chosen: list[Snippet]) -> bool:
        """Whether the candidate answers something the chosen snippets do not: a part none of them
        touches, or enough of the question's (rarity-weighted) terms."""
        covered = set().union(*(s.terms | set(tokenize(s.heading)) for s in chosen))
        if question.answer_type == "list" and (cand.unit.kind == "item" or has_type(cand.unit.text, "list")):
            return True  # a list gathered across sentences and bullets
        if len(parts) > 1 and any(p.terms & cand.terms and not p.terms & covered for p in parts):
            return True
        weights = self._term_weights(set(question.terms))
        total = sum(weights.values()) or 1.0
        gain = sum(w for t, w in weights.items() if t in cand.terms and t not in covered) / total
        return gain >= self.config.min_gain

    def _term_weights(self, terms: set[str]) -> dict[str, float]:
        if self.corpus is None:
            return dict.fromkeys(terms, 1.0)
        return {t: self.corpus.rarity(t) for t in terms}

    def _judge(
        self,
        decision: Decision,
        question: Question,
        parts: list[Part],
        best: Candidate,
        passages: Sequence[Document],
        query: str | None,
    ) -> None:
        """One refusal decision: the fitted model over what the composition shows, with the reason that
        weighed most; without a fitted model, the prior's score floor and name checks."""
        # one question, one place its names must be; a question of two parts may place them in two
        answering = decision.snippets if len(parts) > 1 else decision.snippets[:1]
        unplaced = self._unplaced(question, [s.passage for s in answering], passages)
        covered = set().union(*(s.terms | set(tokenize(s.heading)) for s in decision.snippets))
        unheld = self._unanswered_kind(question, parts, decision)
        typed = unheld is None
        decision.coverage = self._coverage(question, covered, query)
        decision.features = {
            "best_probability": best.score,
            "best_semantic": best.semantic,
            "best_similarity": max(float(p.metadata.get("similarity", 0.0) or 0.0) for p in passages),
            "coverage": decision.coverage,
            "parts_covered": sum(1 for p in parts if p.terms & covered) / max(len(parts), 1),
            "missing_names": float(bool(decision.missing)),
            "unplaced_names": float(bool(unplaced)),
            "type_ok": float(typed),
        }
        model = self.weights.refusal
        if model is None:
            if decision.missing or unplaced or not typed or best.score < self.config.min_score:
                decision.refusal = _reason(
                    "missing_names"
                    if decision.missing
                    else "unplaced_names"
                    if unplaced
                    else "type_ok"
                    if not typed
                    else "best_probability",
                    question,
                    decision.missing or unplaced,
                    unheld,
                )
            return
        row = np.asarray([[decision.features[f] for f in model.features]])
        decision.refusal_probability = float(model.probabilities(row)[0])
        if decision.missing and self.config.missing_refuses:
            decision.refusal = _reason("missing_names", question, decision.missing)
        elif decision.refusal_probability >= model.threshold:
            z = (row[0] - np.asarray(model.mean)) / np.asarray(model.scale)
            strongest = model.features[int(np.argmax(z * np.asarray(model.coef)))]
            decision.refusal = _reason(strongest, question, decision.missing or unplaced, unheld)

    def _unanswered_kind(
        self, question: Question, parts: list[Part], decision: Decision
    ) -> AnswerType | None:
        """The kind of answer asked for that the snippets do not hold (None when held): the best snippet's,
        for a question of one part. A question of several parts is answered when some part is (see
        `_unheld`): "Is advertising allowed, and what would it cost?" asks a number of its second part
        only, and a part answered is worth quoting; the kinds the other parts asked for and did not get go
        to `decision.unanswered`, so the answer says it is partial."""
        snippets = decision.snippets
        if len(parts) < 2:
            held = self._holds(question, question.answer_type, snippets[0].text)
            return None if held else question.answer_type
        unheld = self._unheld(question, parts, snippets)
        kinds = [p.answer_type for p in unheld if p.answer_type not in ("other", "list")]
        if len(unheld) < len(parts):
            decision.unanswered = list(dict.fromkeys(kinds))
            return None
        asked = [p.answer_type for p in parts if p.answer_type not in ("other", "list")]
        return asked[0] if asked else question.answer_type

    def _unheld(self, question: Question, parts: list[Part], snippets: list[Snippet]) -> list[Part]:
        """The parts no snippet answers: for a part that asks a kind (a date, a number), no snippet on it
        (sharing its words; any snippet when none does) holds one; for a part that asks none, no snippet
        speaks of it."""
        out = []
        for part in parts:
            on_part = [s for s in snippets if part.terms & s.terms]
            if part.answer_type in ("other", "list"):
                held = bool(on_part)
            else:
                held = any(self._holds(question, part.answer_type, s.text) for s in on_part or snippets)
            if not held:
                out.append(part)
        return out

    def _holds(self, question: Question, answer_type: AnswerType, text: str) -> bool:
        if answer_type in ("list", "other"):
            return True
        if answer_type == "number" and self.config.new_numbers and not _CHOICE.search(question.text):
            given = _numbers(question.text)
            text = _QUOTED_NUMBER.sub(lambda m: "" if m.group(0) in given else m.group(0), text)
        return has_type(text, answer_type)

    def _unplaced(self, question: Question, numbers: list[int], passages: Sequence[Document]) -> list[str]:
        """The question's distinctive names (few chunks hold them) that the answer's passages, the retrieved
        chunks just before them, their documents' openings (title, byline: "at the Valdai Club" frames a
        question about the speech given there) and their sources' names all leave out: the answer is about
        something else. A question of two parts may find each part's names in another snippet's passage."""
        corpus, limit = self.corpus, self.config.distinctive_share
        if corpus is None or limit is None:
            return []
        names = [n for n in question.specific if _distinctive(corpus, n, limit)]
        if not names:
            return []
        context: list[str] = []
        for number in dict.fromkeys(numbers):
            context += self._surroundings(passages[number - 1], passages)
        return question.missing_names(context, names=names)

    def _surroundings(self, here: Document, passages: Sequence[Document]) -> list[str]:
        """A passage's text with its heading path, its source's name, and the retrieved chunks of the same
        source that open the document, lead into it, or (`context_after`) go on from it."""
        context = [passage_context(here), str(here.metadata.get("source", ""))]
        source, start = here.metadata.get("source"), _offset(here.metadata, "start")
        end = _offset(here.metadata, "end")
        for other in passages:
            if other is here or other.metadata.get("source") != source:
                continue
            begins, ends = _offset(other.metadata, "start"), _offset(other.metadata, "end")
            after = self.config.context_after and _just_before(start, end, begins)
            if begins == 0 or _just_before(begins, ends, start) or after:
                context.append(passage_context(other))
        return context

    def _coverage(self, question: Question, covered: set[str], query: str | None) -> float:
        """Share of what was asked that the snippet (with its heading) holds, each term weighted by how
        rare it is in the documents: missing "https" and "certificate" weighs more than missing "file"."""
        own = set(question.terms)
        weights = {t: self.config.context_terms for t in set(tokenize(query or "")) - own} | dict.fromkeys(
            own, 1.0
        )
        if not weights:
            return 1.0
        if self.corpus is not None:
            weights = {t: w * self.corpus.rarity(t) for t, w in weights.items()}
        total = sum(weights.values()) or 1.0
        return sum(w for t, w in weights.items() if t in covered) / total

    @staticmethod
    def _continuation(
        ranked: list[Candidate], first: Snippet, passages: Sequence[Document], open_terms: set[str]
    ) -> Candidate | None:
        """A paragraph the chunker cut in two: when the first snippet runs to the end of its passage and
        another passage goes on from there (right after it, or overlapping its last sentences), the sentence
        of that passage that starts where this one ends goes on with the snippet; it is taken when it holds
        asked words the snippet lacks, whatever its own score."""
        here = passages[first.passage - 1]
        end = _offset(here.metadata, "end")
        if end is None or first.end < len(here.page_content.rstrip()):
            return None
        source = here.metadata.get("source")
        for cand in ranked:
            meta = passages[cand.passage - 1].metadata
            begins = _offset(meta, "start")
            if begins is None or cand.passage == first.passage or meta.get("source") != source:
                continue
            follows = 0 <= begins + cand.unit.start - end <= 2
            if follows and cand.unit.kind == "sentence" and cand.terms & open_terms:
                return cand
        return None

    # -- the answer ----------------------------------------------------------------------------------
    def stream(
        self, question: str, passages: Sequence[Document], query: str | None = None, said: Sequence[str] = ()
    ) -> Iterator[str]:
        """Yields the answer snippet by snippet, each followed by its `[n]`; nothing means refuse."""
        yield from self.render(self.decide(question, passages, query, said))

    @staticmethod
    def render(decision: Decision) -> Iterator[str]:
        """The decision's snippets as answer text: each verbatim, after the heading that names its subject
        when the snippet does not, and cited."""
        asked = decision.asked  # the question was read once, by decide()
        for i, snip in enumerate(decision.snippets):
            leaf = snip.heading
            leaf_terms = set(tokenize(leaf))
            lead = ""
            names = _SIGNATURE.match(leaf) or (leaf_terms & asked) - snip.terms
            if _names_subject(leaf) and names and leaf not in snip.text:
                lead = f"{leaf}: "  # the heading names what the snippet is about ("math.isclose(...)")
            body = f"{snip.header}\n{snip.text}" if snip.header else snip.text
            if lead and snip.header:
                lead = f"{leaf}:\n"
            yield ("" if i == 0 else "\n\n") + f"{lead}{body} [{snip.passage}]"
        if decision.snippets and decision.unanswered:
            kinds = " or ".join(KIND_NAMES.get(k, k) for k in decision.unanswered)
            yield f"\n\nThe passages quoted give no {kinds} for the rest of the question."
