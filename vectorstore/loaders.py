"""Turn a file into its extracted text, with the structure each format has.

Every file becomes one `StructuredText`: a text that chunk offsets and citations index into, plus the blocks
(heading, paragraph, list, code, table) it is made of, each with its heading path and, for PDFs, its page.
Paragraphs are unwrapped, markup is dropped, boilerplate is left out: the text reads as the document reads.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from pathlib import Path

from vectorstore.document import Block, StructuredText, render
from vectorstore.errors import LoadError
from vectorstore.safety import check_before_parse, check_text_size

# Extracted text a file may have: 2,000 pages of dense prose is ~6 M characters. Past it, LoadError (N6).
DEFAULT_MAX_TEXT_CHARS = 10_000_000

_REST_TITLE = re.compile(r"^[^\s].*\n([=\-~^\"'`#*+])\1{2,}[ \t]*$", re.M)
# [ \t], not \s: a run of blank lines is not rescanned from each of its lines (quadratic time)
_REST_DIRECTIVE = re.compile(r"^[ \t]*\.\. [\w:-]+::", re.M)
# What only reST writes: a directive, a hyperlink target or reference ("`home <https://...>`_"), a role, an
# inline literal (not TeX's ``quotes''), a literal block after "::", a field, a footnote reference, a title
# with an overline.
_REST_MARKUP = re.compile(
    _REST_DIRECTIVE.pattern + r"|^\.\. _[^:\n]+:|`[^`\n]+`__?(?!\w)|:[a-z]+:`|``[^`\s'](?:[^`\n]*[^`\s'])?``|"
    r"::[ \t]*\n[ \t]*\n[ \t]+\S|^:\w[\w -]*:[ \t]|\[(?:\d+|#\w*)\]_|"
    r"^([=\-~^\"'`#*+])\1{2,}[ \t]*\n(?:\S.*\n){1,2}\1{3,}[ \t]*$",
    re.M,
)
_MD_HEADING = re.compile(r"^#{1,6} \S", re.M)
_MD_FENCE = re.compile(r"^```", re.M)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LoadError(f"cannot read {path.suffix or 'text'} file: not UTF-8 text ({exc.reason})") from exc


def sniff(text: str, name: str) -> str:
    """Which markup a text file is written in: 'rest', 'markdown' or 'plain'."""
    lower = name.lower()
    if lower.endswith((".rst", ".rst.txt", ".rest")):
        return "rest"
    if lower.endswith((".md", ".markdown", ".md.txt")):
        return "markdown"
    # underlined titles alone are plain text's headings too (a list directory's "Description : ..." lines
    # would be read as reST definitions): reST also writes some markup only it has
    titled = len(_REST_TITLE.findall(text)) >= 2 and _REST_MARKUP.search(text) is not None
    if len(_REST_DIRECTIVE.findall(text)) >= 2 or titled:
        return "rest"
    if len(_MD_HEADING.findall(text)) >= 2 or _MD_FENCE.search(text):
        return "markdown"
    return "plain"


def _text_blocks(text: str, name: str) -> list[Block]:
    from vectorstore.formats.markdown import parse_markdown
    from vectorstore.formats.plain import parse_plain
    from vectorstore.formats.rest import parse_rest

    kind = sniff(text, name)
    if kind == "rest":
        return parse_rest(text)
    if kind == "markdown":
        return parse_markdown(text)
    return parse_plain(text)


def _load_text_file(path: Path) -> StructuredText:
    return render(_text_blocks(_read(path), path.name))


def _load_html(path: Path) -> StructuredText:
    from vectorstore.formats.html import parse_html

    raw = path.read_bytes()
    try:
        html = raw.decode("utf-8")
    except UnicodeDecodeError:
        html = raw.decode("latin-1")  # HTML declares its charset rarely right; never fail on it
    blocks, title = parse_html(html)
    return render(blocks, title)


def _load_pdf(path: Path, on_page: Callable[[int, int], None] | None = None) -> StructuredText:
    from vectorstore.formats.pdf import parse_pdf  # pdfplumber per page: tables, OCR of scans, pypdf fallback

    return render(parse_pdf(path, on_page))


def _load_pptx(path: Path) -> StructuredText:
    from vectorstore.formats.office import parse_pptx

    return render(*parse_pptx(path))


def _load_xlsx(path: Path) -> StructuredText:
    from vectorstore.formats.office import parse_xlsx

    return render(*parse_xlsx(path))


def _load_csv(path: Path) -> StructuredText:
    from vectorstore.formats.office import parse_csv

    return render(parse_csv(path))


def _load_docx(path: Path) -> StructuredText:
    import docx2txt

    from vectorstore.formats.plain import parse_plain

    return render(parse_plain(docx2txt.process(str(path)) or ""))


LOADERS: dict[str, Callable[[Path], StructuredText]] = {
    ".txt": _load_text_file,
    ".md": _load_text_file,
    ".markdown": _load_text_file,
    ".rst": _load_text_file,
    ".html": _load_html,
    ".htm": _load_html,
    ".pdf": _load_pdf,
    ".docx": _load_docx,
    ".pptx": _load_pptx,
    ".xlsx": _load_xlsx,
    ".csv": _load_csv,
    ".tsv": _load_csv,
}

SUPPORTED_SUFFIXES = tuple(sorted(LOADERS))


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in LOADERS


def load_document(
    path: Path,
    max_chars: int = DEFAULT_MAX_TEXT_CHARS,
    on_page: Callable[[int, int], None] | None = None,
) -> StructuredText:
    """The file's extracted text and structure; raises LoadError with a reason a user can act on.
    `on_page(done, total)` follows a PDF page by page (other formats have no pages to count).

    Runs the parser in this process, unbounded in CPU and memory but for the parsers' own budgets: ingestion
    calls it inside `vectorstore.sandbox.ParserSandbox`, which bounds both and can be cancelled.
    """
    suffix = path.suffix.lower()
    if suffix not in LOADERS:
        raise LoadError(f"unsupported file type '{suffix or path.name}' (supported: {', '.join(LOADERS)})")
    try:
        check_before_parse(path)  # zip bombs, oversized PDFs, PDF stream bombs: refused before parsing
        document = _load_pdf(path, on_page) if suffix == ".pdf" else LOADERS[suffix](path)
    except (LoadError, MemoryError):
        raise
    except Exception as exc:  # parsers raise anything from UnicodeDecodeError to zipfile.BadZipFile
        cause = exc.__cause__ or exc
        if isinstance(cause, MemoryError):
            raise cause from exc
        if isinstance(cause, RecursionError):  # markup nested thousands deep
            raise LoadError(f"refused {suffix} file: it is nested too deeply to parse") from exc
        raise LoadError(f"cannot read {suffix} file: {type(cause).__name__}: {cause}".strip()) from exc
    check_text_size(document.text, max_chars, f"{suffix} file")
    if not document.text.strip():
        raise LoadError("no text could be extracted (empty, or a scanned PDF without a text layer)")
    return document


def load_text(path: Path) -> str:
    """The file's extracted text (what chunk offsets index into)."""
    return load_document(path).text


def load_raw_text(path: Path) -> str:
    """What LangChain's stock loaders give for the file: the naive baseline's input, kept for comparison."""
    from bs4 import XMLParsedAsHTMLWarning
    from langchain_community.document_loaders import BSHTMLLoader, PyPDFLoader, TextLoader

    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        with warnings.catch_warnings():  # XHTML pages make BeautifulSoup warn once per page
            warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
            docs = BSHTMLLoader(str(path), open_encoding="utf-8", get_text_separator="\n").load()
    elif suffix == ".pdf":
        docs = PyPDFLoader(str(path), mode="single", pages_delimiter="\n\n").load()
    elif suffix in (".docx", ".pptx", ".xlsx", ".csv", ".tsv"):
        return load_text(path)
    else:
        docs = TextLoader(str(path), encoding="utf-8").load()
    return "\n\n".join(doc.page_content for doc in docs)
