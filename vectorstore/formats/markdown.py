"""Markdown through markdown-it-py: headings make the path, inline markup goes, code/lists/tables stay."""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token

from vectorstore.document import Block, Outline, collapse, heading_line


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")


def inline_text(token: Token) -> str:
    """An inline token as a reader sees it: link text without the URL, image alt text, code without ticks."""
    out: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append(" ")
        elif child.type == "image":
            out.append(child.content or str(child.attrs.get("alt", "")))
        elif child.type == "html_inline":
            continue
    return collapse("".join(out))


def _html_text(html: str) -> str:
    from bs4 import BeautifulSoup

    return collapse(BeautifulSoup(html, "html.parser").get_text(" "))


class _Walker:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.outline = Outline()
        self.blocks: list[Block] = []

    def add(self, kind: str, text: str) -> None:
        if text.strip():
            self.blocks.append(Block(kind, text, self.outline.path))  # type: ignore[arg-type]

    def run(self) -> list[Block]:
        i = 0
        while i < len(self.tokens):
            i = self.step(i)
        return self.blocks

    def step(self, i: int) -> int:
        token = self.tokens[i]
        if token.type == "heading_open":
            title = inline_text(self.tokens[i + 1])
            level = int(token.tag[1])
            if title:
                path = self.outline.enter(level, title)
                self.blocks.append(Block("heading", heading_line(level, title), path))
            return i + 3
        if token.type == "paragraph_open":
            self.add("paragraph", inline_text(self.tokens[i + 1]))
            return i + 3
        if token.type in ("fence", "code_block"):
            self.add("code", f"```\n{token.content.rstrip()}\n```")
            return i + 1
        if token.type in ("bullet_list_open", "ordered_list_open"):
            return self.list_block(i)
        if token.type == "table_open":
            return self.table(i)
        if token.type == "html_block":
            self.add("paragraph", _html_text(token.content))
        return i + 1

    def list_block(self, i: int) -> int:
        lines: list[str] = []
        depth = 0
        numbers: list[int] = []
        while i < len(self.tokens):
            token = self.tokens[i]
            if token.type in ("bullet_list_open", "ordered_list_open"):
                depth += 1
                numbers.append(int(token.attrs.get("start", 1) or 1) if token.type[0] == "o" else 0)
            elif token.type in ("bullet_list_close", "ordered_list_close"):
                depth -= 1
                numbers.pop()
                if depth == 0:
                    break
            elif token.type == "list_item_open":
                marker = f"{numbers[-1]}." if numbers[-1] else "-"
                if numbers[-1]:
                    numbers[-1] += 1
                lines.append("  " * (depth - 1) + marker + " ")
            elif token.type == "inline" and lines:
                sep = "" if lines[-1].endswith(" ") else " "
                lines[-1] += sep + inline_text(token)
            elif token.type in ("fence", "code_block") and lines:
                lines[-1] += " " + collapse(token.content)
            i += 1
        self.add("list", "\n".join(line.rstrip() for line in lines))
        return i + 1

    def table(self, i: int) -> int:
        rows: list[list[str]] = []
        while i < len(self.tokens) and self.tokens[i].type != "table_close":
            token = self.tokens[i]
            if token.type == "tr_open":
                rows.append([])
            elif token.type == "inline" and rows:
                rows[-1].append(inline_text(token))
            i += 1
        self.add("table", "\n".join("| " + " | ".join(row) + " |" for row in rows))
        return i + 1


def parse_markdown(text: str) -> list[Block]:
    return _Walker(_parser().parse(text)).run()
