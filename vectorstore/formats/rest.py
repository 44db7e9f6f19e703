"""reStructuredText (and Sphinx sources) into blocks, as the rendered page reads.

Sections come from underlined titles; object descriptions (`.. function:: isclose(a, b)`) become headings
qualified by the current module, so every passage of a function's entry knows which function it documents;
notes and version markers become sentences; roles and inline markup are reduced to their text; comments,
targets, index entries and toctrees are dropped. Parsing is by indentation, like docutils itself, but it
never fails on an unknown directive or role: unknown ones keep their content as text.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

from vectorstore.document import Block, Outline, collapse, heading_line

_DIRECTIVE = re.compile(r"^\.\.\s+([\w:.+-]+)::(?:\s+(.*))?$")
_COMMENT = re.compile(r"^\.\.(?:\s|$)")
_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1{2,}\s*$")
_BULLET = re.compile(r"^([-*+•]|\d{1,3}[.)]|#\.|\(?[a-zA-Z][.)]|\(\d{1,3}\))\s+")
_FIELD = re.compile(r"^:([^:`]+):(?:\s+(.*))?$")
_GRID = re.compile(r"^\+[-=+]+\+\s*$")
_SIMPLE_TABLE = re.compile(r"^=+(\s+=+)+\s*$")

_ROLE = re.compile(r":[\w.:+-]+:`([^`]*)`")
_LITERAL = re.compile(r"``(.+?)``")
_LINK = re.compile(r"`([^`<]*?)\s*<[^`>]*>`__?")
_REF = re.compile(r"`([^`]+)`__?")
_STRONG = re.compile(r"(?<![\w*\\])\*\*(?=\S)(.+?)(?<=\S)\*\*(?![\w*])")
_EMPHASIS = re.compile(r"(?<![\w*\\])\*(?=[^\s*])([^*\n]+?)(?<=\S)\*(?![\w*])")
_DEFAULT_ROLE = re.compile(r"(?<![\w`])`([^`]+)`(?![\w`_])")
_SUBSTITUTION = re.compile(r"\|([^|\s][^|]*?)\|(?:_{1,2})?")
_FOOTNOTE = re.compile(r"\s?\[(?:#\w*|\*|\d+)\]_")

OBJECT_DIRECTIVES = frozenset(
    [
        "function",
        "method",
        "class",
        "attribute",
        "data",
        "exception",
        "decorator",
        "decoratormethod",
        "classmethod",
        "staticmethod",
        "coroutinefunction",
        "coroutinemethod",
        "abstractmethod",
        "property",
        "module-function",
        "describe",
        "object",
        "option",
        "cmdoption",
        "envvar",
        "opcode",
        "type",
        "member",
        "macro",
        "var",
        "struct",
        "enum",
        "enumerator",
        "program",
    ]
)
QUALIFIED = frozenset(["function", "class", "exception", "data", "decorator", "coroutinefunction"])
CODE_DIRECTIVES = frozenset(
    [
        "code-block",
        "sourcecode",
        "code",
        "doctest",
        "testcode",
        "testoutput",
        "productionlist",
        "parsed-literal",
    ]
)
SKIP_DIRECTIVES = frozenset(
    [
        "index",
        "toctree",
        "testsetup",
        "testcleanup",
        "raw",
        "include",
        "literalinclude",
        "highlight",
        "tabularcolumns",
        "sectionauthor",
        "moduleauthor",
        "image",
        "figure",
        "audit-event",
        "audit-event-table",
        "contents",
        "sidebar",
        "only-html",
        "cssclass",
        "role",
        "default-role",
        "title",
        "meta",
    ]
)
LABELS = {
    "note": "Note:",
    "warning": "Warning:",
    "important": "Important:",
    "tip": "Tip:",
    "hint": "Hint:",
    "caution": "Caution:",
    "danger": "Danger:",
    "attention": "Attention:",
    "seealso": "See also:",
    "impl-detail": "CPython implementation detail:",
}


def _role_text(match: re.Match[str]) -> str:
    body = match.group(1).lstrip("!~")
    if match.group(0).startswith((":pep:", ":rfc:")) and body.split()[0].isdigit():
        return f"{match.group(0)[1:4].upper()} {body}"
    explicit = re.match(r"(.*?)\s*<[^>]*>$", body, re.S)
    if explicit and explicit.group(1).strip():
        return explicit.group(1).strip()
    python_role = match.group(0).startswith(
        (":func:", ":meth:", ":class:", ":exc:", ":attr:", ":data:", ":mod:")
    )
    if python_role and match.group(1).startswith("~"):
        return body.rsplit(".", 1)[-1]
    return body


def clean_inline(text: str) -> str:
    """Inline reST markup reduced to what the rendered page shows."""
    text = _ROLE.sub(_role_text, text)
    text = _LITERAL.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _REF.sub(r"\1", text)
    text = _STRONG.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\1", text)
    text = _DEFAULT_ROLE.sub(r"\1", text)
    text = _FOOTNOTE.sub("", text)
    text = _SUBSTITUTION.sub(lambda m: " " if m.group(1) == "nbsp" else m.group(1), text)
    text = re.sub(r"\\(.)", r"\1", text.replace("\\ ", ""))
    return collapse(text)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _blank(line: str) -> bool:
    return not line.strip()


@dataclass
class _Context:
    outline: Outline
    styles: list[tuple[str, bool]] = field(default_factory=list)
    module: str = ""
    blocks: list[Block] = field(default_factory=list)
    label: str = ""  # prefix for the next paragraph ("Note:")

    def add(self, kind: str, text: str) -> None:
        if not text.strip():
            return
        if self.label and kind == "paragraph":
            text, self.label = f"{self.label} {text}", ""
        self.blocks.append(Block(kind, text, self.outline.path))  # type: ignore[arg-type]

    def heading(self, level: int, title: str) -> None:
        path = self.outline.enter(level, title)
        self.blocks.append(Block("heading", heading_line(min(level, 6), title), path))


def _take_indented(lines: list[str], i: int, base: int) -> tuple[list[str], int]:
    """Lines from i on that are blank or indented deeper than `base`, dedented; stops at the first other."""
    block: list[str] = []
    while i < len(lines) and (_blank(lines[i]) or _indent(lines[i]) > base):
        block.append(lines[i])
        i += 1
    while block and _blank(block[-1]):
        block.pop()
        i -= 1
    return textwrap.dedent("\n".join(block)).split("\n") if block else [], i


class RestParser:
    def __init__(self, ctx: _Context) -> None:
        self.ctx = ctx

    def parse(self, lines: list[str], literal_next: bool = False) -> None:
        """Blocks of `lines`; `literal_next`: the text before ended in '::', so an indented block is code."""
        i = 0
        while i < len(lines):
            line = lines[i]
            if _blank(line):
                i += 1
                continue
            if _indent(line) > 0:
                block, i = _take_indented(lines, i, 0)
                if literal_next:
                    self.ctx.add("code", "```\n" + "\n".join(block).rstrip() + "\n```")
                else:
                    self.parse(block)  # a block quote reads as its content
                literal_next = False
                continue
            literal_next = False
            i, literal_next = self.block(lines, i)

    def block(self, lines: list[str], i: int) -> tuple[int, bool]:
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if m := _DIRECTIVE.match(line):
            return self.directive(lines, i, m.group(1).lower(), (m.group(2) or "").strip()), False
        if _COMMENT.match(line):
            _, end = _take_indented(lines, i + 1, 0)
            return end, False
        if _ADORNMENT.match(line) and i + 2 < len(lines) and lines[i + 2].strip() == line.strip():
            self.title(lines[i + 1].strip(), (line.strip()[0], True))
            return i + 3, False
        if nxt and _ADORNMENT.match(nxt) and not _ADORNMENT.match(line) and len(nxt.strip()) >= 3:
            self.title(line.strip(), (nxt.strip()[0], False))
            return i + 2, False
        if _ADORNMENT.match(line) and (not nxt.strip()):
            return i + 1, False  # a transition
        if _GRID.match(line) or _SIMPLE_TABLE.match(line):
            return self.table(lines, i), False
        if line.startswith(">>>"):
            end = i
            while end < len(lines) and not _blank(lines[end]):
                end += 1
            self.ctx.add("code", "```\n" + "\n".join(lines[i:end]) + "\n```")
            return end, False
        if _BULLET.match(line):
            return self.bullets(lines, i), False
        if _FIELD.match(line):
            return self.fields(lines, i), False
        return self.paragraph(lines, i)

    def title(self, text: str, style: tuple[str, bool]) -> None:
        if style not in self.ctx.styles:
            self.ctx.styles.append(style)
        self.ctx.heading(self.ctx.styles.index(style) + 1, clean_inline(text))

    def paragraph(self, lines: list[str], i: int) -> tuple[int, bool]:
        start = i
        while i < len(lines) and not _blank(lines[i]) and _indent(lines[i]) == 0:
            i += 1
        body = lines[start:i]
        if i < len(lines) and not _blank(lines[i]) and len(body) == 1:
            return self.definition(lines, start), False  # "term\n    definition"
        text = " ".join(part.strip() for part in body)
        literal = text.endswith("::")
        if literal:
            text = text[:-2].rstrip() + (":" if not text[:-2].endswith((" ", ":")) and text[:-2] else "")
        self.ctx.add("paragraph", clean_inline(text))
        return i, literal

    def definition(self, lines: list[str], i: int) -> int:
        term = clean_inline(lines[i])
        block, end = _take_indented(lines, i + 1, 0)
        saved = self.ctx.outline.snapshot()
        self.ctx.heading(self.ctx.outline.depth + 1, term)
        self.parse(block)
        self.ctx.outline.restore(saved)
        return end

    def bullets(self, lines: list[str], i: int) -> int:
        """A list: one line per item; what an item nests after a blank line (code, paragraphs, a sub-list)
        follows the items so far as blocks of its own, so code stays code."""
        items: list[str] = []
        while i < len(lines) and (m := _BULLET.match(lines[i])):
            body, i = _take_indented(lines, i + 1, 0)
            gap = next((n for n, line in enumerate(body) if _blank(line)), len(body))
            marker = m.group(1) if m.group(1)[0].isdigit() else "-"
            text = " ".join([lines[i - len(body) - 1][m.end() :], *(b.strip() for b in body[:gap])])
            literal = text.rstrip().endswith("::")
            if literal:
                text = text.rstrip()[:-2].rstrip() + ":"
            items.append(f"{marker} " + clean_inline(text))
            rest = body[gap:]
            if any(line.strip() for line in rest):
                self.ctx.add("list", "\n".join(items))
                items = []
                self._nested(rest, literal)
            while i < len(lines) and _blank(lines[i]):
                i += 1
        self.ctx.add("list", "\n".join(items))
        return i

    def _nested(self, rest: list[str], literal: bool) -> None:
        self.parse(rest, literal_next=literal)

    def fields(self, lines: list[str], i: int) -> int:
        items: list[str] = []
        while i < len(lines) and (m := _FIELD.match(lines[i])):
            body, i = _take_indented(lines, i + 1, 0)
            items.append(clean_inline(f"{m.group(1)}: {' '.join([m.group(2) or '', *body])}"))
            while i < len(lines) and _blank(lines[i]) and i + 1 < len(lines) and _FIELD.match(lines[i + 1]):
                i += 1
        self.ctx.add("list", "\n".join(f"- {item}" for item in items))
        return i

    def table(self, lines: list[str], i: int) -> int:
        end = i
        while end < len(lines) and not _blank(lines[end]):
            end += 1
        rows = [
            clean_inline(row) if not (_GRID.match(row) or _SIMPLE_TABLE.match(row)) else None
            for row in lines[i:end]
        ]
        text = "\n".join(f"| {' | '.join(c.strip() for c in r.strip('|').split('|'))} |" for r in rows if r)
        self.ctx.add("table", text)
        return end

    def directive(self, lines: list[str], i: int, name: str, argument: str) -> int:
        name = name.split(":")[-1]
        j = i + 1
        header = [argument] if argument else []
        while j < len(lines) and not _blank(lines[j]) and _indent(lines[j]) > 0:
            stripped = lines[j].strip()
            if not _FIELD.match(stripped):  # options (":synopsis: ...") are not shown
                header.append(stripped)
            j += 1
        body, end = _take_indented(lines, j, 0)
        if name in OBJECT_DIRECTIVES:  # each header line is one more signature
            self.apply(name, header, body)
        else:  # the header continues the argument, as for Sphinx's versionchanged
            self.apply(name, [" ".join(header)] if header else [], body)
        return end

    def apply(self, name: str, signatures: list[str], body: list[str]) -> None:
        argument = signatures[0] if signatures else ""
        if name in ("module", "currentmodule"):
            self.ctx.module = "" if argument == "None" else argument
        elif name in SKIP_DIRECTIVES:
            return
        elif name in CODE_DIRECTIVES:
            self.ctx.add("code", "```\n" + "\n".join(body).rstrip() + "\n```")
        elif name in OBJECT_DIRECTIVES:
            self.describe(name, signatures, body)
        elif name in ("versionadded", "versionchanged", "deprecated", "deprecated-removed"):
            self.version(name, argument, body)
        elif name == "rubric":
            self.ctx.add("paragraph", clean_inline(argument))
        else:
            self.ctx.label = LABELS.get(name, "")
            self.parse([argument, "", *body] if argument else body)
            self.ctx.label = ""

    def describe(self, name: str, signatures: list[str], body: list[str]) -> None:
        shown = [self.qualified(name, sig) for sig in signatures if sig]
        if not shown:
            return self.parse(body)
        saved = self.ctx.outline.snapshot()
        self.ctx.heading(self.ctx.outline.depth + 1, "; ".join(shown))
        self.parse(body)
        self.ctx.outline.restore(saved)
        return None

    def qualified(self, name: str, signature: str) -> str:
        signature = collapse(signature.replace("\\", ""))
        prefix = "class " if name == "class" else "exception " if name == "exception" else ""
        head = signature.split("(", 1)[0]
        if name in QUALIFIED and self.ctx.module and "." not in head:
            signature = f"{self.ctx.module}.{signature}"
        return prefix + signature

    def version(self, name: str, argument: str, body: list[str]) -> None:
        version, _, rest = argument.partition(" ")
        label = {
            "versionadded": f"New in version {version}.",
            "versionchanged": f"Changed in version {version}:",
            "deprecated": f"Deprecated since version {version}:",
            "deprecated-removed": f"Deprecated since version {version}, will be removed in version {rest}:",
        }[name]
        text = clean_inline(
            " ".join(part.strip() for part in [rest if name != "deprecated-removed" else "", *body])
        )
        if name == "versionadded" and text:
            label = label[:-1] + ":"
        self.ctx.add("paragraph", f"{label} {text}".strip())


def parse_rest(text: str) -> list[Block]:
    ctx = _Context(Outline())
    lines = text.replace("\r\n", "\n").replace("\t", "    ").split("\n")
    RestParser(ctx).parse(lines)
    return ctx.blocks
