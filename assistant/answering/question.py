"""What a question asks for, read from its words: its key terms, the specific names in it, the answer type."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from vectorstore.text import STOPWORDS, common_words, tokenize, words

AnswerType = Literal["day", "year", "date", "time", "number", "email", "option", "list", "other"]
# How an answer's kind is named to the user ("no e-mail address in the passages' best answer").
KIND_NAMES: dict[str, str] = {"email": "e-mail address", "option": "command-line option"}

# "When did/was/will ..." asks for a time; "When writing, what level ..." and "When I call open(), which
# encoding ..." open a clause and ask something else.
_DATE_Q = re.compile(
    r"^\s*(?:and\s+)?(?:when\s+(?:and\s+where\s+)?(?:did|does|do|was|were|is|are|will|would|has|have|had|"
    r"can|could|should|shall|might|must)\b|on what dates?|what dates?|"
    r"since when\b)",
    re.I,
)
# "When does/is ...?" asks when something happens, again or on a condition: a time of day, a frequency or the
# event it follows ("after the stream ends") answers it as a date does. "When did/was/will ...?" wants a date.
_TIME_Q = re.compile(r"^\s*(?:and\s+)?when\s+(?:does|do|is|are|can|could|should|shall|might|must)\b", re.I)
_YEAR_Q = re.compile(r"\b(?:in |during )?(?:what|which) year\b(?!-)", re.I)
_DAY_Q = re.compile(r"\b(?:on )?(?:what|which) (?:dates?|days?)\b", re.I)
# "Which kernel version ships ...", "what is the oldest version that ...": the version itself is asked for;
# not "what is new in version 3.12", "what changed in this version", "which version control system".
_VERSION_ASKED = (
    r"(?:(?!(?:in|of|for|to|is|was|are|does|did|do|new|changed|removed|a|an|this|that)\b)[\w.-]+\s+){0,3}"
    r"version\b(?!\s*\d)(?!\s+(?:control|pinning|specifiers?|history|notes)\b)"
)
_NUMBER_Q = re.compile(
    r"\b(how many|how much|how long|how often|how large|how big|what (?:number|percentage|size|port|value)"
    r"|which (?:number|port)|how old"
    r"|what (?:would|will|does|did|do) (?:it|that|this|they|one|(?:the|an?) \w+) cost"
    r"|what(?:'s|\s+(?:is|are|was|were))\s+the\s+(?:\w+\s+)?(?:price|cost|fee)s?"
    r"(?=\s*(?:[?.,;]|$)|\s+(?:of|for|to|per|in|at|on)\b))\b|"
    + r"\b(?:what|which)\s+(?:(?:is|was)\s+the\s+)?"
    + _VERSION_ASKED,
    re.I,
)
# "What address should I email ...", "Which e-mail address do reports go to?": an e-mail address is asked
# for; not a network, memory or postal address ("What address does the mail server listen on?"), nor a
# field or a check of one ("What email address validation does Django use?").
_NOT_THE_ADDRESS = r"(?!\s+(?:field|format|validation|validator|header|parser|syntax|column|type|regex)\b)"
_EMAIL_Q = re.compile(
    r"\b(?:what|which)\s+address(?:es)?\b(?=[^?]{0,200}\be-?mail\b)|"
    rf"\b(?:what|which)\s+(?:is\s+the\s+)?e-?mail\s+address(?:es)?\b{_NOT_THE_ADDRESS}",
    re.I,
)
# "Which command-line option turns ... on", "what flag do I pass on the command line": the option itself
# (a "-x" or "--name") is asked for. Not a bare "which option" or "which flag": a keyword argument or
# `re.IGNORECASE` answers those in an API's documentation; nor "which command-line option parser", nor an
# option set "on the command line or in the config file".
_NOT_THE_OPTION = r"(?!s\b|\s+(?:parser|parsing|library|module|format|syntax|statement|name)s?\b)"
_OPTION_Q = re.compile(
    rf"\b(?:what|which)\s+(?:\S+\s+){{0,2}}?command[- ]line\s+(?:option|flag|switch){_NOT_THE_OPTION}|"
    rf"\b(?:what|which)\s+(?:option|flag|switch){_NOT_THE_OPTION}[^?]{{0,200}}\bon the command[- ]line\b"
    r"(?!-\w|\s+(?:or|installer|interface|tool|utility|program|client|version)\b)",
    re.I,
)
_LIST_Q = re.compile(
    r"^\s*(?:which|what|name|list)\b.*\b(principles|aspects|areas|fields|sectors|steps|kinds|types|ways|"
    r"parts|components|countries|members|topics|points|items|options|arguments|parameters|conditions)\b",
    re.I,
)
# "What habits does the manual recommend?", "In which years has ...": a wh-word whose noun is plural asks
# for several things, whatever the noun (the list above names only some).
_PLURAL_Q = re.compile(
    r"^\s*(?:(?:in|on|at|for|from|of|with|by|to|under)\s+)?(?:what|which)\s+(?:[a-z-]+\s+)?[a-z-]+[^su\W]s\s+"
    r"(?:do|does|did|are|were|have|has|had|can|could|should|would|will|must|might)\b",
    re.I,
)
_IDENTIFIER = re.compile(
    r"`[^`]+`|\b\w+(?:\.\w+)+(?:\(\))?|\b\w+\(\)|\b[a-z]+[A-Z]\w*|\b\w*_\w+|\b[A-Z]{2,}\w*"
)
_CODE_NAME = re.compile(r"\b[A-Za-z_]\w+(?:\.[A-Za-z_]\w+)+(?:\(\))?|\b[A-Za-z_]\w*\(\)|\b[a-z]+_\w+")
# A capitalised word inside a sentence is a name: after a lower-case word or a comma, and also right
# after a slash or an opening bracket ("Europe/Paris", "(Paris)").
_CAPITALISED = re.compile(r"(?:(?<=[a-z,;:] )|(?<=[/(]))[A-Z][^\W\d_A-Z]+(?:[-'][^\W\d_]+)*(?!\w)")
_SUFFIXES = (
    "'s",
    "ies",
    "es",
    "s",
    "ed",
    "ing",
    "ly",
    "ness",
    "ment",
    "ity",
    "able",
    "er",
    "ers",
    "ation",
    "ations",
    "y",  # an adjective of a noun: "pointy", "grainy"
)
GENERIC = frozenset(
    [
        "python",
        "module",
        "function",
        "method",
        "class",
        "object",
        "file",
        "default",
        "value",
        "use",
        "way",
        "want",
        "need",
        "make",
        "get",
        "set",
        "thing",
        "program",
        "code",
        "call",
        "pass",
        "work",
        "write",
        "read",
        "return",
        "docs",
        "documentation",
    ]
)

DATE_TOKEN = re.compile(
    r"\b(1[5-9]\d\d|20\d\d|january|february|march|april|may|june|july|august|september|october|november|"
    r"december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|tomorrow|"
    r"century|decade|year|years|month|week)\b",
    re.I,
)
# What answers "when does/is ...?" besides a date: a time of day ("at 9:15", "9 am", "every morning" but not
# "127.0.0.1:80" or "file.js:10:15"), a frequency ("daily", "every week") or the event it follows ("after the
# stream ends", "once the socket closes").
TIME_TOKEN = re.compile(
    r"(?<![\d:.])\d{1,2}:\d{2}(?![\d:])|\b\d{1,2} ?[ap]\.?m\.?(?!\w)|"
    r"\b(?:noon|midnight|o['’]clock|morning|afternoon|evening|tonight|overnight)\b|"
    r"\b(?:daily|weekly|monthly|yearly|annually|hourly|nightly)\b|"
    r"\bevery (?:\w+ )?(?:second|minute|hour|day|night|week|month|year|morning|evening|time)s?\b|"
    r"\b(?:after|before|until|till|once|during|within|whenever|when|while|as soon as|immediately)\b",
    re.I,
)
YEAR_TOKEN = re.compile(
    r"(?<![\d.,])(?:1\d{3}|20\d\d)s?(?!\d)|"  # 1887, FY2023, the 1990s
    r"\b(?:in|since|by|from|until|around|circa) [1-9]\d{2}(?![\d.,]?\d)|"  # in 988
    r"\b(?:last|this|next|that|same|previous|following|current) year\b|"
    r"\byears? (?:ago|earlier|later|before|after)\b",
    re.I,
)
# bounded, so a hostile run of word characters is read in linear time; the last label is a name ("org"), not
# a version ("lodash@4.17.21")
EMAIL_TOKEN = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){0,8}\.[A-Za-z]{2,24}(?![\w-])")
# "-u", "--jail", "-Fc", "--format=custom"; not a dash between words ("built-in") or a negative number.
OPTION_TOKEN = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*")
NUMBER_TOKEN = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|hundreds?|"
    r"thousands?|millions?|billions?|dozens?|several|half|double|twice|once|none|zero)\b",
    re.I,
)


_SPELLINGS = (("isation", "ization"), ("ise", "ize"), ("ised", "ized"), ("ising", "izing"), ("our", "or"))


def _is_common(word: str, common: frozenset[str]) -> bool:
    """In the everyday lexicon, also as an inflection or a British spelling of a word in it."""
    if not common or word in common:
        return True
    for british, american in _SPELLINGS:
        if word.endswith(british) and word[: -len(british)] + american in common:
            return True
    stems = [word[: -len(s)] for s in _SUFFIXES if word.endswith(s) and len(word) - len(s) >= 3]
    if any(stem in common or stem + "e" in common for stem in stems):
        return True
    parts = word.split("-") if "-" in word else []
    if parts:
        return all(_is_common(part, common) for part in parts if part)
    # a compound of two everyday words ("downside", "upload") is everyday too
    return any(word[:i] in common and word[i:] in common for i in range(2, len(word) - 2))


@dataclass
class Question:
    text: str
    terms: list[str]  # stemmed key terms
    specific: list[str] = field(default_factory=list)  # names the documents must mention to answer
    identifiers: list[str] = field(default_factory=list)  # code names ("np.linalg.norm()")
    versions: list[tuple[str, str]] = field(default_factory=list)  # ("debian", "14") of "Debian 14"
    answer_type: AnswerType = "other"

    @classmethod
    def read(cls, text: str, corpus_knows: Callable[[str], bool] | None = None) -> Question:
        """`corpus_knows`: whether the documents use a word at all; an uncommon word they never use is a
        name the question needs and they do not have ("bcrypt" in the Python docs)."""
        common = common_words()
        specific: list[str] = []
        asking = _asking(text)
        for match in _IDENTIFIER.finditer(text):
            name = match.group(0)
            if " " in name:  # `lambda row: row[1]` is an example, not a name
                continue
            written = name
            if re.fullmatch(r"[A-Z]{2,}s", name):
                name = name[:-1]  # "PDFs" names the PDF
            if re.fullmatch(r"[A-Z]{2,}", name) and not _mentions(asking, written):
                continue  # an acronym of the user's situation ("our CI logs"), like its other words
            specific.append(name.strip("`").lower())
        for match in _CAPITALISED.finditer(asking):
            specific.append(match.group(0).lower())
        for word in words(asking):
            uncommon = len(word) > 3 and word not in STOPWORDS and not _is_common(word, common)
            uncommon = uncommon and not _ORDINAL.fullmatch(word)
            if uncommon and (corpus_knows is None or not corpus_knows(word)):
                specific.append(word)
        specific = [s for s in dict.fromkeys(specific) if s not in GENERIC and s not in STOPWORDS]
        identifiers = [m.group(0).lower() for m in _CODE_NAME.finditer(text)]
        versions = [(m.group(1).lower(), m.group(2)) for m in _VERSIONED.finditer(asking)]
        return cls(
            text,
            tokenize(text),
            specific=specific,
            identifiers=list(dict.fromkeys(identifiers)),
            versions=[v for v in dict.fromkeys(versions) if not _NOT_A_RELEASE.fullmatch(" ".join(v))],
            answer_type=_answer_type(text),
        )

    def _acronym(self, name: str) -> bool:
        """Written in capitals in a question that is not all capitals ("VPN access", not "WHAT IS VPN")."""
        capitals = re.search(rf"\b{re.escape(name.upper())}\b", self.text) is not None
        return capitals and self.text != self.text.upper()

    def missing_names(
        self, texts: list[str], identifiers: bool = False, names: list[str] | None = None
    ) -> list[str]:
        """Specific names (or only the code identifiers, or the `names` given) of the question that none of
        `texts` mentions, by stem or as a word's start ("Ukraine" is mentioned by "Ukrainian")."""
        haystack = " ".join(texts).lower()
        stems = set(tokenize(haystack))
        missing = []
        if names is None:
            names = self.identifiers if identifiers else self.specific
        joined = self._written_as_one(names, haystack)
        for name in names:
            if name in joined or _mentions(haystack, name):
                continue
            if self._acronym(name) and _spelled_out(name, haystack):
                continue
            parts = tokenize(name)
            if (
                parts
                and all(p in stems or _starts_a_word(p, stems) for p in parts)
                and _member_named(name, haystack)
            ):
                continue
            missing.append(name)
        return missing

    def _written_as_one(self, names: list[str], haystack: str) -> set[str]:
        """Names the question writes apart that the text writes as one word, or the start of one: "CR LF" as
        "CRLF" or "crlfDelay", "Java Script" as "JavaScript"."""
        asked = self.text.lower()
        out: set[str] = set()
        for first, second in itertools.pairwise(names):
            apart = rf"(?<!\w){re.escape(first)}[\s/-]+{re.escape(second)}(?!\w)"
            if re.search(apart, asked) and re.search(rf"(?<!\w){re.escape(first + second)}", haystack):
                out |= {first, second}
        return out

    def missing_versions(self, texts: list[str]) -> list[str]:
        """The question's versioned names ("Debian 14") whose number none of `texts` gives as that name's
        version: after the name in the same sentence ("Debian GNU/Linux 11", "LilyPond 2.24.1") or as a
        version ("Changed in version 3.8", "release 11"; there, exactly). The name alone is about another
        release."""
        haystack = " ".join(texts).lower()
        missing = []
        for name, number in self.versions:
            longer = r"(?!\d)" if "." in number else r"(?!\d|\.\d)"  # 2.24 of 2.24.1, not 14 of 14.1
            num = rf"(?<![\d.]){re.escape(number)}{longer}"
            after_name = rf"(?<!\w){re.escape(name)}(?!\w)[^\n?!]{{0,30}}?{num}"
            as_version = rf"\b(?:version|release|v)\s*{num}(?!\.\d)"
            if not re.search(f"{after_name}|{as_version}", haystack):
                missing.append(f"{name} {number}")
        return missing


_ORDINAL = re.compile(r"\d+(?:st|nd|rd|th)")
# "Debian 14", "LilyPond 2.26", "Python 3.8": a name and the version of it the question is about.
# Not a release: a year ("May 2001", "Office 2019"), a place in the documents ("Step 2", "Section 4.1",
# "page 3": a numbered list or heading gives it without the word), or a stopword read as a name ("In 3").
_NOT_A_RELEASE = re.compile(
    r"\S+ (?:1\d{3}|20\d\d)|(?:step|section|chapter|part|page|figure|fig|table|appendix|example|item|line|"
    r"rule|article|paragraph|clause|volume|vol|note|exercise|question|lesson|stage|phase|level|no) \S+|"
    rf"(?:{'|'.join(map(re.escape, sorted(STOPWORDS)))}) \S+"
)
_VERSIONED = re.compile(r"\b([A-Z][\w+#-]*)\s+v?(\d+(?:\.\d+)*)(?![\w-]|\.\d)")

_SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=[A-Z\"'(])")


def _asking(text: str) -> str:
    """The sentences that ask (end with "?"), when a question also tells the user's situation ("Our CI logs
    are full of escape codes. Which variable ...?"): a name in the situation need not be in the answer's
    documents; a name in what is asked must."""
    sentences = _SENTENCE_END.split(text.strip())
    asked = [s for s in sentences if s.rstrip().endswith("?")]
    return " ".join(asked) if asked and len(sentences) > 1 else text


def _mentions(haystack: str, name: str) -> bool:
    """The name as a word of its own: "sha" in "sha256()" and "3.8" in "python3.8", not "https" in
    "httpserver" nor "3.8" in "13.8"."""
    left = r"(?<![\d.])" if name[:1].isdigit() else r"(?<!\w)"
    right = r"(?![^\W\d_])" if name[-1:].isalpha() else r"(?!\d)" if name[-1:].isdigit() else ""
    return re.search(left + re.escape(name) + right, haystack) is not None


def _member_named(name: str, haystack: str) -> bool:
    """A dotted code name's own member is written as a word where its parts are: "import.meta.dirname" is
    not placed by "import", "meta" and "__dirname" scattered over a page; "math.isclose()" is by
    "isclose(a, b)"."""
    if "." not in name or not _CODE_NAME.fullmatch(name):
        return True
    return _mentions(haystack, name.removesuffix("()").rsplit(".", 1)[-1])


def _starts_a_word(stem: str, stems: set[str]) -> bool:
    """A derived word ("ukrain" -> "ukrainian", "vietnam" -> "vietnames"), not a compound ("https" is not
    the start of "httpserver")."""
    return len(stem) >= 5 and any(s.startswith(stem) and len(s) - len(stem) <= 4 for s in stems)


def _spelled_out(name: str, haystack: str) -> bool:
    """An acronym of the question written out in the text: "ICT" as "information and communication
    technologies"; each word a content word of four letters or more ("is called to" is not "ICT")."""
    if not re.fullmatch(r"[a-z]{3,6}", name):
        return False
    joiner = r"(?:\s+(?:and|of|for|the|&)\s+|[\s-]+)"
    pattern = joiner.join(rf"({letter}[a-z]{{3,}})" for letter in name)
    for match in re.finditer(rf"(?<!\w){pattern}(?!\w)", haystack):
        if not any(word in STOPWORDS for word in match.groups()):
            return True
    return False


def _answer_type(text: str) -> AnswerType:
    if _DAY_Q.search(text):
        return "day"
    if _YEAR_Q.search(text):
        return "year"
    if _TIME_Q.search(text):
        return "time"
    if _DATE_Q.search(text):
        return "date"
    if _NUMBER_Q.search(text):
        return "number"
    if _EMAIL_Q.search(text):
        return "email"
    if _OPTION_Q.search(text):
        return "option"
    if _LIST_Q.search(text) or _PLURAL_Q.search(text):
        return "list"
    return "other"


DAY_TOKEN = re.compile(
    r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|tomorrow)\b|"
    r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.? \d{1,2}\b|"
    r"\b\d{1,2}(?:st|nd|rd|th)? (?:of )?(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)|"
    r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}[./]\d{1,2}[./]\d{2,4}\b",
    re.I,
)


# An inline enumeration: at least two short comma-separated items before an "and"/"or" ("politics,
# the economy, education and tourism"); a long clause between commas is a sentence's structure, not a list.
ENUMERATION = re.compile(r"(?:[^,;()\n]{1,40}, ){2,}[^,;()\n]{0,40}?\b(?:and|or)\b", re.I)


def has_type(text: str, answer_type: AnswerType) -> bool:
    """Whether `text` holds what the question asks for: a day, a date, a time (or the event it follows), a
    number, an e-mail address, a command-line option, a list (inline or as list lines)."""
    if answer_type == "list":
        return bool(ENUMERATION.search(text)) or text.count("\n- ") >= 1 or text.lstrip().startswith("- ")
    if answer_type == "day":
        return bool(DAY_TOKEN.search(text))
    if answer_type == "year":  # "in what year" is not answered by "on February 25"
        return bool(YEAR_TOKEN.search(text))
    if answer_type == "date":
        return bool(DATE_TOKEN.search(text))
    if answer_type == "time":
        return bool(DATE_TOKEN.search(text) or TIME_TOKEN.search(text))
    if answer_type == "number":
        return bool(NUMBER_TOKEN.search(text))
    if answer_type == "email":
        return bool(EMAIL_TOKEN.search(text))
    if answer_type == "option":
        return bool(OPTION_TOKEN.search(text))
    return True
