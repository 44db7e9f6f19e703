"""What the extractive answerer learns rather than hand-sets: the question read into the parts it asks
for, each candidate unit described by interpretable features, and two small logistic models over them
(which unit answers; whether to refuse), fitted on the public dev sets (`python -m assistant.evaluation.fit`)
and shipped as `answer_weights.json` beside this file.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from assistant.answering.question import AnswerType, _answer_type
from vectorstore.text import tokenize

WEIGHTS_FILE = Path(__file__).with_name("answer_weights.json")

# What describes a candidate unit to the scorer; every value is in [0, 1] or a small real.
UNIT_FEATURES = (
    "semantic",  # cosine of question and unit (the query too, for a follow-up)
    "semantic_gap",  # how far below the best unit's cosine
    "lexical",  # rarity-weighted share of the question's terms the unit holds
    "lexical_gap",
    "parts",  # share of the question's parts the unit says something about
    "rank",  # 1 / the passage's retrieval rank
    "similarity",  # the passage's retrieval cosine
    "type_match",  # holds the kind of answer asked for (a date, a number, a list)
    "heading",  # share of the question's terms in the unit's heading path
    "anchor",  # first unit after a FAQ question or heading that matches the question
    "lookup",  # a table row whose key and a column the question names
    "item",
    "row",
    "code",
    "position",  # how far into its passage (0: first unit)
    "back_reference",  # opens with "It", "This", "However": leans on the unit before
    "length",  # log of its characters, scaled
)
# What the refusal decision reads: how well the best composition answers, and what is missing.
DECISION_FEATURES = (
    "best_probability",  # the scorer's probability for the best unit
    "best_semantic",
    "best_similarity",  # the best passage's retrieval cosine
    "coverage",  # rarity-weighted share of the question's terms the composed answer holds
    "parts_covered",  # share of the question's parts the composed answer touches
    "missing_names",  # a name of the question that no retrieved passage mentions
    "unplaced_names",  # a distinctive name the answer's passage does not mention
    "type_ok",  # the composed answer holds the kind of answer asked for
)

# "..., and when ...": a second question joined to the first; "?" between two questions.
# "..., and in which context ...": the second question may open with the preposition its wh-word governs.
_WH = r"(?:what|when|where|who|whom|whose|which|why|how|is|are|does|do|did|can|was|were|should)\b"
_PREPOSITIONS = r"(?:in|on|at|for|from|to|with|by|of|under|since|until|after|before|during|into|through)"
_PART_SPLIT = re.compile(rf",?\s+and\s+(?=(?:{_PREPOSITIONS}\s+)?{_WH})|(?<=\?)\s+(?=\S)|;\s+", re.I)


@dataclass(frozen=True)
class Part:
    """One thing the question asks: its words and the kind of answer it wants."""

    text: str
    terms: frozenset[str]
    answer_type: AnswerType


def read_parts(question: str) -> list[Part]:
    """The question split at each further wh-clause or question ("and which ...", "and in which ...");
    one part when it asks one thing."""
    pieces = [p.strip() for p in _PART_SPLIT.split(question) if p and p.strip()]
    parts = [Part(p, frozenset(tokenize(p)), _answer_type(p)) for p in pieces]
    parts = [p for p in parts if p.terms]
    return parts or [Part(question, frozenset(tokenize(question)), _answer_type(question))]


@dataclass(frozen=True)
class Logistic:
    """A fitted logistic model over named features: standardised inputs, coefficients, intercept."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float = 0.5  # for a decision model: the probability above which it says yes

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        z = (rows - np.asarray(self.mean)) / np.asarray(self.scale)
        logits = z @ np.asarray(self.coef) + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))

    def to_dict(self) -> dict[str, object]:
        return {
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "coef": list(self.coef),
            "intercept": self.intercept,
            "threshold": self.threshold,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> Logistic:
        def floats(key: str) -> tuple[float, ...]:
            value = raw[key]
            assert isinstance(value, list)
            return tuple(float(x) for x in value)

        features = raw["features"]
        assert isinstance(features, list)
        return cls(
            tuple(str(f) for f in features),
            floats("mean"),
            floats("scale"),
            floats("coef"),
            float(str(raw["intercept"])),
            float(str(raw.get("threshold", 0.5))),
        )


@dataclass(frozen=True)
class Weights:
    """The unit scorer and the refusal model, as fitted."""

    scorer: Logistic
    refusal: Logistic | None = None
    info: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> str:
        body: dict[str, object] = {"scorer": self.scorer.to_dict(), "info": self.info}
        if self.refusal is not None:
            body["refusal"] = self.refusal.to_dict()
        return json.dumps(body, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Weights:
        raw = json.loads(text)
        refusal = Logistic.from_dict(raw["refusal"]) if raw.get("refusal") else None
        return cls(Logistic.from_dict(raw["scorer"]), refusal, dict(raw.get("info", {})))


def prior_weights() -> Weights:
    """Before any fit: the old hand-set blend as logits (0.6 cosine + 0.4 keywords, x10; the anchor and
    table-lookup bonuses of 0.12; the type (x0.6) and code penalties), no refusal model."""
    n = len(UNIT_FEATURES)
    coef = [0.0] * n
    prior = {"semantic": 6.0, "lexical": 4.0, "type_match": 1.5, "anchor": 1.2, "lookup": 1.2, "code": -0.8}
    for name, value in prior.items():
        coef[UNIT_FEATURES.index(name)] = value
    return Weights(Logistic(UNIT_FEATURES, (0.0,) * n, (1.0,) * n, tuple(coef), -5.0))


@lru_cache(maxsize=4)
def load_weights(path: Path = WEIGHTS_FILE) -> Weights:
    """The shipped weights; the prior blend when the file is missing (a fresh checkout before a fit)."""
    try:
        return Weights.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return prior_weights()


def scaled_length(chars: int) -> float:
    """log10 of the length, so a 30- and a 300-character unit differ by one."""
    return math.log10(max(chars, 1))
