"""Bounds checked before a parser touches a file: zip bombs in OOXML/zip formats, oversized or huge PDFs.

A 71 KB .docx can hold 48 MB of XML; a parser that inflates it costs seconds of CPU and most of a GB. These
checks read only the archive's central directory (or a PDF's page tree), never the content, and raise the
loaders' ``LoadError`` with a message a user can act on, so the file is reported and skipped like any other
unreadable file.

The declared sizes in a zip's central directory can lie, but Python's ``zipfile`` (which docx2txt, python-docx
and openpyxl use) never inflates a member past its declared ``file_size``: a member that claims less than it
holds fails its CRC check instead of inflating further. So bounding the declared sizes bounds what the parser
will see.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from vectorstore.loaders import LoadError

# Office Open XML, OpenDocument and EPUB files are zip archives.
ZIP_SUFFIXES = frozenset(
    {".docx", ".docm", ".xlsx", ".xlsm", ".pptx", ".pptm", ".odt", ".ods", ".odp", ".epub"}
)
PDF_SUFFIXES = frozenset({".pdf"})

MB = 1024 * 1024


@dataclass(frozen=True)
class ArchiveLimits:
    """Limits for a zip-based document. The defaults pass real documents of hundreds of pages."""

    max_total_bytes: int = 100 * MB  # sum of the members' uncompressed sizes
    max_member_bytes: int = 50 * MB  # any one member, uncompressed
    max_members: int = 10_000
    max_ratio: float = 100.0  # uncompressed / compressed, per member (real XML is ~5-20x)
    ratio_floor_bytes: int = 1 * MB  # members smaller than this are not ratio-checked


@dataclass(frozen=True)
class PdfLimits:
    max_bytes: int = 100 * MB
    max_pages: int = 2_000


DEFAULT_ARCHIVE_LIMITS = ArchiveLimits()
DEFAULT_PDF_LIMITS = PdfLimits()


def _mb(n: float) -> str:
    return f"{n / MB:.1f} MB"


def check_archive(path: Path, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS) -> None:
    """Raises LoadError if the zip at `path` is not a zip, or would expand past `limits` (a zip bomb).

    Reads the central directory only; nothing is decompressed.
    """
    kind = path.suffix.lower() or "zip"
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise LoadError(f"cannot read {kind} file: not a valid zip archive ({exc})") from exc
    if len(members) > limits.max_members:
        raise LoadError(
            f"refused {kind} file: it holds {len(members):,} parts, more than the limit of "
            f"{limits.max_members:,} (a zip bomb?)"
        )
    total = 0
    for info in members:
        size, packed = info.file_size, info.compress_size
        total += size
        if size > limits.max_member_bytes:
            raise LoadError(
                f"refused {kind} file: its part '{info.filename}' expands to {_mb(size)}, more than the "
                f"limit of {_mb(limits.max_member_bytes)} (a zip bomb?)"
            )
        if size >= limits.ratio_floor_bytes and size > limits.max_ratio * max(packed, 1):
            raise LoadError(
                f"refused {kind} file: its part '{info.filename}' expands {size / max(packed, 1):,.0f}-fold "
                f"({_mb(packed)} to {_mb(size)}), more than the limit of {limits.max_ratio:,.0f}-fold "
                "(a zip bomb?)"
            )
        if total > limits.max_total_bytes:
            raise LoadError(
                f"refused {kind} file: it expands to more than {_mb(limits.max_total_bytes)} "
                f"(the limit; the file itself is {_mb(path.stat().st_size)}) (a zip bomb?)"
            )


def check_pdf(path: Path, limits: PdfLimits = DEFAULT_PDF_LIMITS) -> int:
    """The PDF's page count; LoadError if the file or its page count is over `limits`.

    Opens the PDF with pypdf, which reads the cross-reference table and the page tree, not the page contents.
    """
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise LoadError(
            f"refused .pdf file: it is {_mb(size)}, more than the limit of {_mb(limits.max_bytes)}"
        )
    try:
        from pypdf import PdfReader

        pages = len(PdfReader(str(path)).pages)
    except Exception as exc:  # pypdf raises PdfReadError, ValueError, KeyError, RecursionError...
        raise LoadError(f"cannot read .pdf file: {type(exc).__name__}: {exc}") from exc
    if pages > limits.max_pages:
        raise LoadError(
            f"refused .pdf file: it has {pages:,} pages, more than the limit of {limits.max_pages:,}"
        )
    return pages


def check_before_parse(
    path: Path,
    archive_limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
    pdf_limits: PdfLimits = DEFAULT_PDF_LIMITS,
) -> None:
    """The one call for loaders: bounds-checks `path` by suffix (zip formats, PDF); LoadError when over."""
    suffix = path.suffix.lower()
    if suffix in ZIP_SUFFIXES:
        check_archive(path, archive_limits)
    elif suffix in PDF_SUFFIXES:
        check_pdf(path, pdf_limits)


def check_text_size(text: str, max_chars: int, what: str = "file") -> str:
    """`text`, or LoadError when the extracted text is longer than `max_chars` (a bound after parsing)."""
    if len(text) > max_chars:
        raise LoadError(
            f"refused {what}: its text is {len(text):,} characters, more than the limit of {max_chars:,}"
        )
    return text
