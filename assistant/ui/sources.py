"""The Sources panel: source cards with the cited sentence highlighted, grouped by answer."""

from __future__ import annotations

import html
import re

from assistant.answering.citations import Citation, RetrievedPassage
from assistant.answering.service import Answer

_WORD = re.compile(r"\w+", re.UNICODE)
# A sentence ends at . ! ? (not after an initial such as "S.") or at a blank line.
_SENTENCE_END = re.compile(r"(?<!\b[A-Z]\.)(?<=[.!?…])[\"'”’)\]]*\s+|\n\s*\n")
_STOPWORDS = frozenset(
    "the and for that with this from was were are has have had its his her their they them which who "  # noqa: SIM905
    "what when where will would can could should not but all also into than then there these those".split()
)


def cited_segments(answer_text: str) -> list[tuple[str, list[int]]]:
    """The answer cut at its markers: each stretch of text with the passage numbers that cite it."""
    parts = re.split(r"((?:\s*\[\d{1,3}\])+)", answer_text)
    out = []
    for i in range(0, len(parts) - 1, 2):
        text = parts[i].strip().lstrip(".,;:!? ").strip()
        numbers = [int(x) for x in re.findall(r"\d+", parts[i + 1])]
        if text:
            out.append((text, numbers))
    return out


def reading_order(answer_text: str, citations: list[Citation]) -> list[Citation]:
    """The cards in the order the answer first cites them (a card never cited in the text goes last)."""
    first: dict[int, int] = {}
    for match in re.finditer(r"\[(\d{1,3})\]", answer_text):
        first.setdefault(int(match.group(1)), match.start())
    return sorted(citations, key=lambda c: first.get(c.n, len(answer_text) + c.n))


def _sentence_spans(passage: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for match in _SENTENCE_END.finditer(passage):
        spans.append((pos, match.start()))
        pos = match.end()
    spans.append((pos, len(passage)))
    return [(s, e) for s, e in spans if passage[s:e].strip()]


def _words(text: str) -> set[str]:
    return {w for w in (w.lower() for w in _WORD.findall(text)) if len(w) > 2 and w not in _STOPWORDS}


def _find_verbatim(passage: str, text: str) -> tuple[int, int] | None:
    words = text.split()
    if not words:
        return None
    found = re.search(r"\s+".join(re.escape(w) for w in words), passage)
    return (found.start(), found.end()) if found else None


def highlight_spans(passage: str, claims: list[str]) -> list[tuple[int, int]]:
    """Where each claim sits in the passage: verbatim (ignoring spaces), else its most similar sentence."""
    spans: list[tuple[int, int]] = []
    sentences = None
    for claim in claims:
        whole = _find_verbatim(passage, claim)
        if whole:
            spans.append(whole)
            continue
        # The text before a marker may hold several sentences: find each; a paraphrase (a generated answer)
        # gets the passage sentence sharing most of its words.
        for piece in (p for p in _SENTENCE_END.split(claim) if p and p.strip()):
            found = _find_verbatim(passage, piece)
            if found:
                spans.append(found)
                continue
            sentences = sentences if sentences is not None else _sentence_spans(passage)
            wanted = _words(piece)
            if len(wanted) < 3:
                continue
            best, score = None, 0.0
            for start, end in sentences:
                overlap = len(wanted & _words(passage[start:end])) / len(wanted)
                if overlap > score:
                    best, score = (start, end), overlap
            if best and score >= 0.5:
                spans.append(best)
    return sorted(set(spans))


_BLANK_LINES = re.compile(r"\n[ \t\u00a0]*(?:\n[ \t\u00a0]*)+")


def _display(text: str) -> str:
    """Escaped passage text with runs of blank lines collapsed (offsets are computed before this)."""
    return html.escape(_BLANK_LINES.sub("\n\n", text))


def marked_passage(passage: str, spans: list[tuple[int, int]]) -> str:
    out, pos = [], 0
    for start, end in spans:
        if start < pos:
            continue
        out += [_display(passage[pos:start]), "<mark>", _display(passage[start:end]), "</mark>"]
        pos = end
    out.append(_display(passage[pos:]))
    return "".join(out)


def _hint(citation: Citation, spans: list[tuple[int, int]]) -> str:
    quote = citation.text[spans[0][0] : spans[0][1]] if spans else citation.text
    quote = " ".join(quote.split())
    if len(quote) > 180:
        quote = quote[:177] + "…"
    return f"{citation.source}: {quote}"


def _where(passage: Citation) -> str:
    """Where the passage is: heading path and page ("Install > Linux · p. 3 · "), escaped; "" if unknown."""
    parts = []
    if passage.section:
        parts.append(f"<span class='section'>{html.escape(_shorten(passage.section, 160))}</span>")
    if passage.page is not None:
        parts.append(f"<span class='page'>p. {passage.page}</span>")
    if getattr(passage, "ocr", False):
        parts.append("<span class='ocr'>OCR</span>")
    return "".join(f"{part} · " for part in parts)


def _named(passage: Citation) -> str:
    """The document as a person knows it: its title, with the file name after it; escaped."""
    title = passage.title
    if not title or title == passage.source:
        return html.escape(passage.source)
    return f"{html.escape(_shorten(title, 120))} <span class='file'>{html.escape(passage.source)}</span>"


def source_card(
    turn: int, citation: Citation, answer_text: str, similarity: float | None, open_: bool
) -> str:
    claims = [text for text, numbers in cited_segments(answer_text) if citation.n in numbers]
    spans = highlight_spans(citation.text, claims)
    score = f" · relevance {similarity:.2f}" if similarity is not None else ""
    return (
        f"<details class='source-card' id='source-{turn}-{citation.n}' data-n='{citation.n}' "
        f"data-hint='{html.escape(_hint(citation, spans), quote=True)}'{' open' if open_ else ''}>"
        f"<summary><span class='n'>[{citation.n}]</span>{_named(citation)}</summary>"
        f"<div class='meta'>{_where(citation)}characters {citation.start:,}–{citation.end:,}{score}</div>"
        f"<div class='passage'>{marked_passage(citation.text, spans)}</div></details>"
    )


def _other_passages(retrieved: list[RetrievedPassage], cited: set[int], title: str) -> str:
    # the most relevant first: the list shows each passage's relevance, so it reads in that order
    rest = sorted((p for p in retrieved if p.n not in cited), key=lambda p: -p.similarity)
    if not rest:
        return ""
    items = "".join(
        f"<li><b>{_named(p)}</b> · {_where(p)}characters {p.start:,}–{p.end:,} · relevance "
        f"{p.similarity:.2f}<br>{html.escape(_shorten(p.text, 160))}</li>"
        for p in rest
    )
    return (
        f"<details class='other-passages'><summary>{title} ({len(rest)})</summary><ul>{items}</ul></details>"
    )


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def source_group(turn: int, question: str, answer: Answer | None, note: str = "") -> str:
    """The sources of one answer: a card per cited passage, the cited sentences highlighted."""
    head = (
        f"<p class='sources-question'>For: “{html.escape(_shorten(question, 120))}”</p>" if question else ""
    )
    if answer is None:
        body = f"<p class='mode-note'>{html.escape(note or 'No sources.')}</p>"
    elif not answer.citations:
        text = (
            "Nothing in the documents answers this question, so nothing is cited."
            if answer.refused
            else "This answer cites no passage."
        )
        body = f"<p class='mode-note'>{text}</p>" + _other_passages(
            answer.retrieved, set(), "Closest passages searched"
        )
    else:
        similarity = {p.n: p.similarity for p in answer.retrieved}
        single = len(answer.citations) == 1
        body = "".join(
            source_card(turn, c, answer.text, similarity.get(c.passage or c.n), open_=single or i == 0)
            for i, c in enumerate(reading_order(answer.text, answer.citations))
        )
        cited = {c.passage or c.n for c in answer.citations}
        body += _other_passages(answer.retrieved, cited, "Also searched, not cited")
    back = "<a class='back-to-chat' href='#chatbot'>↑ Back to the conversation</a>"
    return f"<section class='source-group' data-turn='{turn}'>{head}{body}{back}</section>"


def sources_html(groups: dict[int, str] | None = None, current: int | None = None) -> str:
    """The Sources panel: every answer's group, only the current one shown (a marker click shows another)."""
    title = "<p class='sources-title' role='heading' aria-level='2'>Sources</p>"
    if not groups:
        return (
            f"<div class='sources-root' role='region' aria-label='Sources'>{title}<p class='mode-note'>"
            "The passages an answer cites appear here. Click a [n] marker in an answer to open its "
            "passage.</p></div>"
        )
    current = max(groups) if current is None else current
    parts = []
    for turn in sorted(groups):
        block = groups[turn]
        if turn != current:
            block = block.replace("<section class='source-group'", "<section hidden class='source-group'", 1)
        parts.append(block)
    return f"<div class='sources-root' role='region' aria-label='Sources'>{title}{''.join(parts)}</div>"
