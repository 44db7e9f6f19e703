"""Text from scanned pages, offline: Debian's tesseract-ocr as a subprocess, one rendered page at a time.

Chosen over rapidocr-onnxruntime after measuring both on this machine (docs/ocr.md): 99.9% vs 81% character
accuracy on rendered English pages (rapidocr's bundled Chinese PP-OCR models drop the spaces between English
words and skipped a line), ~1.2-1.5 s vs ~12.6 s a page, and no Python dependency (no opencv).

OCR is bounded so a 500-page scan cannot hold the CPU for an hour: at most `MAX_OCR_PAGES` pages a file, at
most `MAX_OCR_SECONDS` for all of them, `PAGE_TIMEOUT` for one page, one thread (OMP_THREAD_LIMIT=1). Over a
bound, the file is refused with a LoadError that says which bound and what to do instead.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import subprocess
import time
from typing import Any

from vectorstore.errors import LoadError

MAX_OCR_PAGES = 100  # scanned pages one file may have; a longer scan: OCR it beforehand (ocrmypdf)
MAX_OCR_SECONDS = 300.0  # all OCR of one file
PAGE_TIMEOUT = 60.0  # one page
DPI = 300  # tesseract's sweet spot; 200 dpi measured as accurate and 25% faster, but small print suffers
MAX_PIXELS = 25_000_000  # a poster-sized page is rendered at a lower resolution (A4 at 300 dpi is 8.7 MP)
LANGUAGE = "eng"  # Debian's tesseract-ocr ships eng (and osd); others are tesseract-ocr-<lang> packages

INSTALL_HINT = "install Debian's tesseract-ocr (`sudo apt-get install tesseract-ocr`, or `make install`)"


def available() -> bool:
    return shutil.which("tesseract") is not None


def check_budget(pages: int, name: str = ".pdf file") -> None:
    """LoadError before any OCR when the file has more scanned pages than OCR may take, or no tesseract."""
    if pages > MAX_OCR_PAGES:
        raise LoadError(
            f"refused {name}: {pages:,} pages have no text layer (a scan) and OCR is limited to "
            f"{MAX_OCR_PAGES} pages a file; add a text layer first (e.g. `ocrmypdf in.pdf out.pdf`)"
        )
    if pages and not available():
        raise LoadError(
            f"cannot read {name}: {pages} page(s) are scanned images without text and OCR needs "
            f"tesseract: {INSTALL_HINT}"
        )


class PageOcr:
    """OCR of a document's scanned pages, sharing one time budget."""

    def __init__(self, budget: float | None = None) -> None:
        self.budget = MAX_OCR_SECONDS if budget is None else budget
        self.deadline = time.monotonic() + self.budget
        self.pages = 0

    def image(self, image: Any, page: int) -> str:
        """The text of a PIL image of page `page` (1-based, for messages)."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise LoadError(
                f"OCR stopped: {self.pages} scanned pages took more than the {self.budget:.0f} s allowed for "
                f"one file; add a text layer first (e.g. `ocrmypdf in.pdf out.pdf`)"
            )
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # one core: other requests keep the other
        try:
            done = subprocess.run(
                ["tesseract", "stdin", "stdout", "-l", LANGUAGE, "--psm", "3"],
                input=buffer.getvalue(),
                capture_output=True,
                timeout=min(PAGE_TIMEOUT, left),
                env=env,
                check=False,
            )
        except FileNotFoundError as exc:
            raise LoadError(f"cannot OCR scanned page {page}: {INSTALL_HINT}") from exc
        except subprocess.TimeoutExpired as exc:
            limit = min(PAGE_TIMEOUT, left)
            raise LoadError(f"OCR of scanned page {page} took more than {limit:.0f} s") from exc
        if done.returncode != 0:
            reason = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["failed"]
            raise LoadError(f"OCR of scanned page {page} failed: {reason[0]}")
        self.pages += 1
        return done.stdout.decode("utf-8", "replace").replace("\f", "")

    def pdf_page(self, pdf: Any, index: int) -> str:
        """OCR of page `index` (0-based) of a `pypdfium2.PdfDocument`."""
        page = pdf[index]
        try:
            width, height = page.get_size()  # points
            scale = DPI / 72
            if width * height * scale * scale > MAX_PIXELS:
                scale = math.sqrt(MAX_PIXELS / (width * height))
            image = page.render(scale=scale, grayscale=True).to_pil()
        finally:
            page.close()
        return self.image(image, index + 1)
