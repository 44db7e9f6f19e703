"""HTML as a reader sees it: block elements make paragraphs, inline elements stay inline, boilerplate goes.

Headings (h1-h6) and definition terms (`<dt>`, e.g. a function's signature in generated API docs) make the
heading path; `<pre>` stays code; tables become one `| cell | cell |` line per row; lists one item per line.
Navigation, headers, footers, sidebars, scripts and forms are dropped.

Bounded (N6: 100 KB of nested lists took 21 s and came out as 10 times the text): a nested list is found
without walking the lists inside it, deep levels are indented like level `MAX_LIST_INDENT`, and a page whose
text comes out longer than `MAX_TEXT_RATIO` times its HTML is refused.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, Comment, NavigableString, Tag
from bs4.element import CData, Declaration, Doctype, PageElement, ProcessingInstruction

from vectorstore.document import Block, Outline, collapse, heading_line
from vectorstore.errors import LoadError

MAX_LIST_INDENT = 8  # list levels deeper than this are indented as this one
MAX_TEXT_RATIO = 2.0  # extracted text / HTML length; markup is dropped, so real pages stay well under 1
RATIO_FLOOR_CHARS = 10_000  # texts shorter than this are not ratio-checked

DROP = frozenset(
    [
        "script",
        "style",
        "noscript",
        "template",
        "svg",
        "canvas",
        "nav",
        "footer",
        "aside",
        "form",
        "button",
        "select",
        "input",
        "textarea",
        "iframe",
        "object",
        "embed",
        "head",
    ]
)
BOILERPLATE = re.compile(
    r"(^|[\s_-])(nav|navbar|navigation|navheader|navfooter|menu|sidebar|sphinxsidebar|breadcrumbs?|"
    r"footer|related|skip-?link|cookie|banner|headerlink|toc|toc-?backref|edit-?link)($|[\s_-])",
    re.I,
)
BLOCKS = frozenset(
    [
        "p",
        "div",
        "section",
        "article",
        "main",
        "blockquote",
        "figure",
        "figcaption",
        "address",
        "details",
        "summary",
        "center",
        "header",
        "hgroup",
        "fieldset",
        "legend",
        "caption",
        "body",
        "html",
    ]
)
HEADINGS = {f"h{n}": n for n in range(1, 7)}
# Boxes set apart from the text (Sphinx's "admonition note", DocBook's "note"/"tip"/"warning"): their title is
# a label for the box's first paragraph ("Note: ..."), not a section the rest of the page would sit under.
ADMONITIONS = frozenset(
    ["admonition", "note", "tip", "hint", "warning", "caution", "important", "attention", "danger", "seealso"]
)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_PERMALINK = re.compile(r"[\s¶§#🔗]+$")


def _is_title(tag: Tag) -> bool:
    return tag.name in HEADINGS or "admonition-title" in (tag.get("class") or [])


def _is_boilerplate(tag: Tag) -> bool:
    if tag.name in DROP:
        return True
    if tag.get("role") in ("navigation", "banner", "contentinfo", "search"):
        return True
    if tag.get("aria-hidden") == "true":
        return True
    names = " ".join([*(tag.get("class") or []), str(tag.get("id") or "")])
    return bool(names.strip()) and bool(BOILERPLATE.search(names))


def inline_text(node: PageElement) -> str:
    """The text of a node with inline elements joined as a browser lays them out (no line per element)."""
    if isinstance(node, NavigableString):
        if isinstance(node, (Comment, CData, ProcessingInstruction, Declaration, Doctype)):
            return ""
        return str(node)
    if not isinstance(node, Tag) or _is_boilerplate(node):
        return ""
    if node.name == "br":
        return " "
    parts = [inline_text(child) for child in node.children]
    text = "".join(parts)
    return f" {text} " if node.name in BLOCKS or node.name in ("li", "td", "th", "dd", "dt", "p") else text


class _Walker:
    def __init__(self) -> None:
        self.outline = Outline()
        self.blocks: list[Block] = []
        self.inline: list[str] = []
        self.dt_depth = 0
        self.label = ""  # an admonition's title, waiting for the paragraph it labels

    def flush(self) -> None:
        text = collapse("".join(self.inline))
        self.inline = []
        if text:
            text, self.label = (f"{self.label}: {text}" if self.label else text), ""
            self.blocks.append(Block("paragraph", text, self.outline.path))

    def admonition(self, tag: Tag) -> None:
        """A note box: its title labels the first paragraph; any other block drops the label."""
        self.flush()
        title = tag.find(_is_title, recursive=False)
        self.label = _PERMALINK.sub("", collapse(inline_text(title))).rstrip(":") if title else ""
        for child in tag.children:
            if child is title:
                continue
            if isinstance(child, NavigableString):
                self.inline.append(inline_text(child))
            elif isinstance(child, Tag) and not _is_boilerplate(child):
                if child.name in ("pre", "table", "ul", "ol", "dl"):
                    self.label = ""
                self.element(child)
        self.flush()
        self.label = ""

    def walk(self, node: Tag) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                self.inline.append(inline_text(child))
            elif isinstance(child, Tag) and not _is_boilerplate(child):
                self.element(child)

    def element(self, tag: Tag) -> None:
        name = tag.name
        if name in ("div", "section") and ADMONITIONS & set(tag.get("class") or []):
            self.admonition(tag)
        elif name in HEADINGS:
            self.flush()
            title = _PERMALINK.sub("", collapse(inline_text(tag)))
            if title:
                path = self.outline.enter(HEADINGS[name], title)
                self.blocks.append(Block("heading", heading_line(HEADINGS[name], title), path))
        elif name == "pre":
            self.flush()
            code = tag.get_text().strip("\n")
            if code.strip():
                self.blocks.append(Block("code", f"```\n{code}\n```", self.outline.path))
        elif name == "table":
            self.flush()
            self.table(tag)
        elif name in ("ul", "ol"):
            self.flush()
            self.list_block(tag)
        elif name == "dl":
            self.flush()
            self.definitions(tag)
        elif name == "hr":
            self.flush()
        elif name in BLOCKS or name in ("li", "dd", "dt", "td", "th", "tr", "tbody", "thead"):
            self.flush()
            self.walk(tag)
            self.flush()
        else:
            self.inline.append(inline_text(tag))

    def table(self, tag: Tag) -> None:
        rows = []
        for tr in tag.find_all("tr"):
            if tr.find_parent("table") is not tag:
                continue  # rows of a nested table are part of their cell
            cells = [collapse(inline_text(c)) for c in tr.find_all(["td", "th"], recursive=False)]
            if any(cells):
                rows.append("| " + " | ".join(cells) + " |")
        caption = tag.find("caption")
        if caption is not None and collapse(inline_text(caption)):
            self.blocks.append(Block("paragraph", collapse(inline_text(caption)), self.outline.path))
        if rows:
            self.blocks.append(Block("table", "\n".join(rows), self.outline.path))

    def list_block(self, tag: Tag, depth: int = 0) -> list[str]:
        lines: list[str] = []
        number = 1
        for li in tag.find_all("li", recursive=False):
            nested = _own_lists(li)
            own = "".join(inline_text(c) for c in li.children if not any(c is sub for sub in nested))
            marker = f"{number}." if tag.name == "ol" else "-"
            number += 1
            if collapse(own):
                lines.append("  " * min(depth, MAX_LIST_INDENT) + f"{marker} {collapse(own)}")
            for sub in nested:
                lines.extend(self.list_block(sub, depth + 1))
        if depth == 0 and lines:
            self.blocks.append(Block("list", "\n".join(lines), self.outline.path))
        return lines

    def definitions(self, tag: Tag) -> None:
        saved = self.outline.snapshot()
        for child in tag.find_all(["dt", "dd"], recursive=False):
            if child.name == "dt":
                term = _PERMALINK.sub("", collapse(inline_text(child)))
                if term:
                    self.outline.restore(saved)
                    level = max(self.outline.depth, 6) + 1
                    path = self.outline.enter(level, term)
                    self.blocks.append(Block("heading", heading_line(6, term), path))
            else:
                self.walk(child)
                self.flush()
        self.outline.restore(saved)


def _own_lists(item: Tag) -> list[Tag]:
    """The lists nested in list item `item` itself, in document order, found without entering them or any
    deeper item (a search of every descendant per item was quadratic in the nesting)."""
    found: list[Tag] = []
    pending: list[PageElement] = list(reversed(list(item.children)))
    while pending:
        node = pending.pop()
        if not isinstance(node, Tag):
            continue
        if node.name in ("ul", "ol"):
            found.append(node)
        elif node.name != "li":
            pending.extend(reversed(list(node.children)))
    return found


def _content_root(soup: BeautifulSoup) -> Tag:
    for selector in ("main", "[role=main]", "article", "div.body", "div#content", "body"):
        found = soup.select_one(selector)
        if isinstance(found, Tag):
            return found
    return soup


def parse_html(html: str) -> tuple[list[Block], str]:
    """Blocks of the page's main content, and its <title>."""
    # an XHTML page (DocBook's output) opens with an XML declaration; as HTML it parses the same
    soup = BeautifulSoup(_XML_DECLARATION.sub("", html, count=1), "lxml")
    title = collapse(soup.title.get_text()) if soup.title else ""
    walker = _Walker()
    walker.walk(_content_root(soup))
    walker.flush()
    chars = sum(len(block.text) for block in walker.blocks)
    if chars > max(RATIO_FLOOR_CHARS, MAX_TEXT_RATIO * len(html)):
        raise LoadError(
            f"refused .html file: its text came out {chars / max(len(html), 1):,.1f} times as long as the "
            f"page (the limit is {MAX_TEXT_RATIO:g} times; deeply nested markup?)"
        )
    return walker.blocks, title
