"""Bounds checked before a parser touches a file: zip bombs in OOXML/zip formats, oversized or huge PDFs, PDF
content streams that inflate to hundreds of MB, scanned images too large to render; and after parsing, text
too long to index.

A 71 KB .docx can hold 48 MB of XML; a parser that inflates it costs seconds of CPU and most of a GB. These
checks read only the archive's central directory, never the content, and raise ``LoadError`` with a message
a user can act on, so the file is reported and skipped like any other unreadable file.

The declared sizes in a zip's central directory can lie, but Python's ``zipfile`` (which docx2txt, python-docx
and openpyxl use) never inflates a member past its declared ``file_size``: a member that claims less than it
holds fails its CRC check instead of inflating further. So bounding the declared sizes bounds what the parser
will see.

pdfminer (under pdfplumber) inflates streams without any bound: a 4.5 KB PDF with one Flate content stream
cost 37 s and 770 MB (N6). `check_pdf` inflates every page's content streams (and the forms they draw) with
pypdf under `pypdf.apply_configuration` output limits first, counting the bytes, so the parser only sees a PDF
whose content is bounded. These checks run inside the parser sandbox (`vectorstore.sandbox`), whose CPU and
memory limits bound whatever they miss.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vectorstore.errors import LoadError

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
    max_stream_bytes: int = 16 * MB  # any one stream, inflated (a dense vector map page is a few MB)
    max_content_bytes: int = 64 * MB  # all page content streams and forms of the file, inflated
    # Page contents inflate 3-20 fold; zeros, 1000 fold. pdfminer reads ~0.5 MB of them a CPU second.
    max_content_ratio: float = 100.0
    ratio_floor_bytes: int = 1 * MB  # content smaller than this is not ratio-checked
    max_image_pixels: int = 100_000_000  # an image on a scanned page (A4 at 600 dpi is 35 MP)


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
    """The PDF's page count; LoadError if the file, its page count or its inflated content is over `limits`.

    pypdf reads the cross-reference table and the page tree, then inflates each page's content streams and
    form XObjects with its output limits set to `max_stream_bytes`, counting the total.
    """
    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import LimitReachedError

    size = path.stat().st_size
    if size > limits.max_bytes:
        raise LoadError(
            f"refused .pdf file: it is {_mb(size)}, more than the limit of {_mb(limits.max_bytes)}"
        )
    bounded = {name: limits.max_stream_bytes for name in _PYPDF_OUTPUT_LIMITS}
    try:
        with apply_configuration(None, **bounded):
            reader = PdfReader(str(path))
            pages = len(reader.pages)
            if pages > limits.max_pages:
                raise LoadError(
                    f"refused .pdf file: it has {pages:,} pages, more than the limit of {limits.max_pages:,}"
                )
            _check_content(reader, limits)
    except LimitReachedError as exc:
        raise LoadError(
            f"refused .pdf file: a stream inflates to more than {_mb(limits.max_stream_bytes)} (the limit; "
            "a decompression bomb?)"
        ) from exc
    except LoadError:
        raise
    except Exception as exc:  # pypdf raises PdfReadError, ValueError, KeyError, RecursionError...
        raise LoadError(f"cannot read .pdf file: {type(exc).__name__}: {exc}") from exc
    return pages


# pypdf's per-stream output limits (its defaults are 75 MB each), all set to `PdfLimits.max_stream_bytes`.
_PYPDF_OUTPUT_LIMITS = (
    "zlib_maximum_output_length",
    "lzw_maximum_output_length",
    "run_length_maximum_output_length",
    "brotli_maximum_output_length",
    "jbig2_maximum_output_length",
    "array_based_stream_maximum_output_length",
    "image_maximum_buffer_size",
    "stream_decoding_work_maximum_length",
)


def _check_content(reader: Any, limits: PdfLimits) -> None:
    """LoadError when the pages' content streams and forms together inflate past `max_content_bytes`, or
    more than `max_content_ratio` fold (what pdfminer would then parse, at ~2 CPU seconds a MB of zeros)."""
    total = packed = 0
    for number, page in enumerate(reader.pages, start=1):
        for stream in _content_streams(page):
            total += len(stream.get_data())
            packed += len(getattr(stream, "_data", b"") or b"")  # as stored in the file
            if total > limits.max_content_bytes:
                raise LoadError(
                    f"refused .pdf file: its page contents inflate to more than "
                    f"{_mb(limits.max_content_bytes)} by page {number} (the limit; a decompression bomb?)"
                )
            if total >= limits.ratio_floor_bytes and total > limits.max_content_ratio * max(packed, 1):
                raise LoadError(
                    f"refused .pdf file: its page contents inflate {total / max(packed, 1):,.0f}-fold by "
                    f"page {number} ({_mb(packed)} to {_mb(total)}), more than the limit of "
                    f"{limits.max_content_ratio:,.0f}-fold (a decompression bomb?)"
                )


def _content_streams(page: Any) -> Iterator[Any]:
    """The page's content streams, then the form XObjects it can draw, nested ones too (each once)."""
    contents = page.get("/Contents")
    contents = contents.get_object() if contents is not None else None
    parts = contents if isinstance(contents, list) else [contents] if contents is not None else []
    yield from (part.get_object() for part in parts)
    seen: set[int] = set()
    pending = [page.get("/Resources")]
    while pending:
        for form in _xobjects(pending.pop(), "/Form"):
            if id(form) not in seen:
                seen.add(id(form))
                yield form
                pending.append(form.get("/Resources"))


def _xobjects(resources: Any, subtype: str) -> list[Any]:
    """The XObjects of `subtype` (/Form, /Image) in a resource dictionary (indirect or not, maybe None)."""
    resources = resources.get_object() if resources is not None else None
    xobjects: Any = resources.get("/XObject") if hasattr(resources, "get") else None
    xobjects = xobjects.get_object() if xobjects is not None else None
    found = [ref.get_object() for ref in xobjects.values()] if hasattr(xobjects, "values") else []
    return [obj for obj in found if hasattr(obj, "get") and obj.get("/Subtype") == subtype]


def check_pdf_images(path: Path, pages: list[int], limits: PdfLimits = DEFAULT_PDF_LIMITS) -> None:
    """LoadError when an image on one of `pages` (1-based) has more than `max_image_pixels`: rendering a
    scanned page decodes its images whole (a scan of huge all-zero images took 2.4 GB: N6). Reads the images'
    declared /Width and /Height; nothing is decoded."""
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    for number in pages:
        for image in _xobjects(reader.pages[number - 1].get("/Resources"), "/Image"):
            pixels = int(image.get("/Width", 0)) * int(image.get("/Height", 0))
            if pixels > limits.max_image_pixels:
                raise LoadError(
                    f"refused .pdf file: an image on scanned page {number} has {pixels / 1e6:,.0f} million "
                    f"pixels, more than the limit of {limits.max_image_pixels / 1e6:,.0f} million"
                )


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
