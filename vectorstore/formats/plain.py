"""Plain text as people write it: hard-wrapped paragraphs, bullet lists, indented code, simple headings.

Paragraphs are unwrapped (their line breaks become spaces) so a sentence is one line of the extracted text;
lists keep one item per line, code and tables keep their lines.
"""

from __future__ import annotations

import re
import textwrap

from vectorstore.document import Block, Outline, collapse, heading_line
from vectorstore.text import common_words

_BLANK = re.compile(r"^[\s\u00a0\u200b]*$")
_BULLET_MARK = r"[-*•‣◦▪–+]|\(?\d{1,3}[.)]"  # "*", "-", "1.", "(2)"
_LIST_ITEM = re.compile(rf"^\s*(?:{_BULLET_MARK}|\(?[a-zA-Z][.)])\s+\S")
_UNDERLINE = re.compile(r"^\s*([=\-~#*^])\1{2,}\s*$")
_NUMBERED_HEADING = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,4})\.?\s+[A-Z]")
_TERMINAL = re.compile(r"[.!?;,:…][\"'”’)\]]*$")
# a line set out as a title may run longer than one that only looks like one (12 words, 90 characters)
_LONGEST_TITLE, _LONGEST_TITLE_CHARS = 24, 150
_APPENDIX = re.compile(r"^[A-Z]\.\s+[A-Z]")  # "A. Standard Resolution Procedure"
# a word (also "Etch-a-Sketch", "docu-" cut at a line end), or a small number (also a release: "4.0)")
_WORD = re.compile(
    r"^[(\"'“‘`]*[A-Za-z](?:[a-z'’-]|-[A-Z])*[.,;:!?)\"'”’]*$|^\(?\d{1,4}(?:\.\d{1,3})?[.,;:)%]?$"
)
_BULLET = re.compile(rf"^\s*(?:{_BULLET_MARK})\s+")
_FOOTNOTE = re.compile(r"\^?\[\d{1,3}\]")  # "itself.^[7]": a text dump's link or footnote mark, not code
_SYMBOLS = re.compile(r"[{}\[\]<>=;$\\|&]|\(\)|->|::|//")  # what code has and prose rarely does
_CODE_HINT = re.compile(r"^(?:>>>|\$ |#include|def |class |import |from \S+ import|\s*[{}]\s*$)")


def paragraphs(text: str) -> list[list[str]]:
    """Groups of consecutive non-blank lines."""
    groups: list[list[str]] = []
    current: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if _BLANK.match(line):
            if current:
                groups.append(current)
                current = []
        else:
            current.append(line.rstrip())
    if current:
        groups.append(current)
    return groups


_BROKEN_HEAD = re.compile(r"([^\W\d_]+)-$")
_BROKEN_TAIL = re.compile(r"[^\W\d_]+")


def _rejoin(out: str, piece: str) -> str:
    """The next line `piece` after `out`. A word broken by a hyphen at the line end is rejoined: without the
    hyphen when the whole is an everyday word ("ex-" "tremely": the line break's hyphen), with it otherwise
    ("well-" "known", "3-" "way", "Café-" "bar"); "pre-" "and post-" keeps its space. A prefix whose whole
    is another everyday word ("re-" "cover") loses its hyphen too: the guess that serves search."""
    if not out.endswith("-") or out.endswith((" -", "--")) or not piece[:1].islower():
        return f"{out} {piece}"
    head, tail = _BROKEN_HEAD.search(out), _BROKEN_TAIL.match(piece)
    if tail is not None and tail.group(0) in ("and", "or"):
        return f"{out} {piece}"
    if head is not None and tail is not None and (head.group(1) + tail.group(0)).lower() in common_words():
        return out[:-1] + piece
    return out + piece


def unwrap(lines: list[str]) -> str:
    """Hard-wrapped lines back into one line; a word broken by a hyphen at a line end is rejoined."""
    out = ""
    for line in lines:
        piece = line.strip()
        out = _rejoin(out, piece) if out else piece
    return collapse(out)


def _reads_as_prose(lines: list[str]) -> bool:
    """Indented text that is still prose: text dumps of HTML (w3m, lynx, Debian's FAQ) indent whole
    paragraphs and lists. Prose is mostly plain words, few code symbols, and some sentence punctuation."""
    if len(" ".join(lines).split()) < 4:
        return False
    if _LIST_ITEM.match(lines[0]):  # an indented bullet of its own: its bullet is no word
        lines = [_BULLET.sub("", line, count=1) for line in lines]
    tokens = " ".join(lines).split()
    words = sum(bool(_WORD.match(t)) for t in tokens)
    symbols = sum(len(_SYMBOLS.findall(_FOOTNOTE.sub("", line))) for line in lines)
    punctuated = any(_TERMINAL.search(line.rstrip()) or ". " in line for line in lines)
    return words >= 0.75 * len(tokens) and symbols <= len(tokens) / 10 and punctuated


def _is_code(lines: list[str]) -> bool:
    if _CODE_HINT.match(lines[0]):
        return True
    indented = all(line.startswith(("    ", "\t")) for line in lines)
    return indented and not _reads_as_prose(lines)


def _is_table(lines: list[str]) -> bool:
    if len(lines) < 2:
        return False
    piped = sum(line.count("|") >= 2 for line in lines)
    aligned = sum(len(re.findall(r"\S\s{3,}\S", line)) >= 1 for line in lines)
    return piped >= len(lines) - 1 or (aligned == len(lines) and len(lines) >= 3)


def looks_like_heading(lines: list[str]) -> bool:
    if len(lines) != 1:
        return False
    line = lines[0].strip()
    words = line.split()
    if not (1 <= len(words) <= 12) or len(line) > 90 or _TERMINAL.search(line):
        return False
    if _LIST_ITEM.match(line) and not _NUMBERED_HEADING.match(line):
        return False
    return line[:1].isupper() or line[:1].isdigit()


def _indent(line: str) -> int:
    """Leading whitespace of any kind: w3m dumps indent with no-break spaces too (rest.py counts spaces)."""
    return len(line) - len(line.lstrip())


def _goes_on(line: str, before: list[str] | None, margin: int) -> bool:
    """Whether a heading-like line is the next sentence of the indented prose paragraph before it ("Rather,
    do" above the command it introduces): text dumps (w3m, Debian's FAQ) indent the body and not the
    headings, so a line set as deep as that body is body; a title centred far deeper is still a title, and
    where the body is at the text's `margin` (its least indentation) nothing tells headings from it."""
    if before is None or not _TERMINAL.search(before[-1].rstrip()) or looks_like_heading(before):
        return False
    body = _indent(before[-1])
    return margin < body <= _indent(line) <= body + 1


def _indented_body(groups: list[list[str]], margin: int) -> bool:
    """Whether the text indents its body: most of its paragraphs of prose (two lines or more, not code, a
    table or a list) sit deeper than its margin, as in a w3m dump or Debian's documents, not as in a README
    whose prose is at the margin and only its code indented."""
    prose = [g for g in groups if len(g) > 1 and not (_LIST_ITEM.match(g[0]) or _is_code(g) or _is_table(g))]
    return bool(prose) and 2 * sum(_indent(g[0]) > margin for g in prose) > len(prose)


def _outdented_title(lines: list[str], before: list[str] | None, after: list[str] | None) -> bool:
    """Whether a line is a heading set out to the left of an indented body (`_indented_body`): a line
    left of the prose before it, and of the prose after it or above a further heading, titles what
    follows, however long it is (a title of 13 words and more) and also when it opens as an appendix does
    ("A. Procedures", which reads as a list item); not a numbered or bulleted item, nor a line above code."""
    if len(lines) != 1 or before is None or after is None:
        return False
    line = lines[0].strip()
    if (
        len(line.split()) > _LONGEST_TITLE
        or len(line) > _LONGEST_TITLE_CHARS
        or _TERMINAL.search(line)
        or not (line[:1].isupper() or line[:1].isdigit())
        or (_LIST_ITEM.match(line) and not _APPENDIX.match(line))
    ):
        return False
    indent = _indent(lines[0])
    if _is_code(before) or not indent < _indent(before[-1]):
        return False
    if looks_like_heading(after):
        return True
    return indent < _indent(after[0]) and not (_is_code(after) or _LIST_ITEM.match(after[0]))


def _list_items(lines: list[str]) -> list[str]:
    items: list[str] = []
    for line in lines:
        if _LIST_ITEM.match(line) or not items:
            items.append(line.rstrip())
        else:  # a wrapped item continues on the next line
            items[-1] = _rejoin(items[-1], line.strip())
    return [collapse(item) if not item.startswith(" ") else "  " + collapse(item) for item in items]


def _split_prose_and_list(lines: list[str]) -> list[tuple[str, list[str]]]:
    """A paragraph that runs into a list without a blank line: prose part, then list part."""
    for i, line in enumerate(lines):
        if i > 0 and _LIST_ITEM.match(line):
            return [("paragraph", lines[:i]), ("list", lines[i:])]
    return [("list" if _LIST_ITEM.match(lines[0]) else "paragraph", lines)]


def parse_plain(text: str, page: int | None = None, outline: Outline | None = None) -> list[Block]:
    outline = outline or Outline()
    blocks: list[Block] = []
    groups = paragraphs(text)
    margin = min((_indent(line) for group in groups for line in group), default=0)
    indented = _indented_body(groups, margin)
    for index, lines in enumerate(groups):
        before, after = (
            (groups[index - 1] if index else None),
            (groups[index + 1] if index + 1 < len(groups) else None),
        )
        heading_like = looks_like_heading(lines) or (indented and _outdented_title(lines, before, after))
        if len(lines) == 2 and _UNDERLINE.match(lines[1]) and not _UNDERLINE.match(lines[0]):
            level = 1 if lines[1].strip()[0] in "=#" else 2
            path = outline.enter(level, collapse(lines[0]))
            blocks.append(Block("heading", heading_line(level, path[-1]), path, page))
        elif heading_like and _goes_on(lines[0], before, margin):
            blocks += _prose(lines, outline.path, page)
        elif heading_like and index + 1 < len(groups):
            heading = collapse(lines[0])
            numbered = _NUMBERED_HEADING.match(heading)
            level = 1 if not blocks and not outline.path else 2
            if numbered:
                level = 1 + numbered.group(1).count(".") + 1
            path = outline.enter(level, heading)
            blocks.append(Block("heading", heading_line(level, heading), path, page))
        elif _is_table(lines):
            blocks.append(Block("table", "\n".join(line.rstrip() for line in lines), outline.path, page))
        elif _is_code(lines):
            code = textwrap.dedent("\n".join(lines))
            blocks.append(Block("code", f"```\n{code}\n```", outline.path, page))
        else:
            blocks += _prose(lines, outline.path, page)
    return blocks


def _prose(lines: list[str], path: tuple[str, ...], page: int | None) -> list[Block]:
    """A paragraph, or the list it runs into, or a list."""
    lines = textwrap.dedent("\n".join(lines)).split("\n")  # indented prose: its items stay items
    out: list[Block] = []
    for kind, part in _split_prose_and_list(lines):
        if kind == "list":
            out.append(Block("list", "\n".join(_list_items(part)), path, page))
        else:
            out.append(Block("paragraph", unwrap(part), path, page))
    return out
