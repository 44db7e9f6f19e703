"""Turn a file into one text, through LangChain's community loaders.

Each file becomes a single string so chunk offsets index into one text: for .txt and .md that text is the file
itself, for .html/.pdf/.docx it is the extracted text.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from langchain_core.document_loaders import BaseLoader


class LoadError(Exception):
    """A file that cannot be ingested; the message says why, for the ingest report."""


def _text_loader(path: Path) -> BaseLoader:
    from langchain_community.document_loaders import TextLoader

    return TextLoader(str(path), encoding="utf-8")


def _html_loader(path: Path) -> BaseLoader:
    from langchain_community.document_loaders import BSHTMLLoader

    return BSHTMLLoader(str(path), open_encoding="utf-8", get_text_separator="\n")


def _pdf_loader(path: Path) -> BaseLoader:
    from langchain_community.document_loaders import PyPDFLoader

    return PyPDFLoader(str(path), mode="single", pages_delimiter="\n\n")


def _docx_loader(path: Path) -> BaseLoader:
    from langchain_community.document_loaders import Docx2txtLoader

    return Docx2txtLoader(str(path))


LOADERS: dict[str, Callable[[Path], BaseLoader]] = {
    ".txt": _text_loader,
    ".md": _text_loader,
    ".markdown": _text_loader,
    ".rst": _text_loader,
    ".html": _html_loader,
    ".htm": _html_loader,
    ".pdf": _pdf_loader,
    ".docx": _docx_loader,
}

SUPPORTED_SUFFIXES = tuple(sorted(LOADERS))


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in LOADERS


def load_text(path: Path) -> str:
    """The file's text; raises LoadError with a reason a user can act on."""
    suffix = path.suffix.lower()
    if suffix not in LOADERS:
        raise LoadError(f"unsupported file type '{suffix or path.name}' (supported: {', '.join(LOADERS)})")
    try:
        docs = LOADERS[suffix](path).load()
    except Exception as exc:  # loaders raise anything from UnicodeDecodeError to zipfile.BadZipFile
        cause = exc.__cause__ or exc
        raise LoadError(f"cannot read {suffix} file: {type(cause).__name__}: {cause}".strip()) from exc
    text = "\n\n".join(doc.page_content for doc in docs)
    if not text.strip():
        raise LoadError("no text could be extracted (empty, or a scanned PDF without a text layer)")
    return text
