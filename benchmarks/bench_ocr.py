"""OCR candidates on this machine: character accuracy and seconds per page on pages of known text.

A page of known text is rendered with reportlab, rasterized with pypdfium2 (what a scanner gives: an image,
no text layer), OCR'd, and compared with the known text (character accuracy = 1 - Levenshtein / length,
whitespace collapsed). Run with the network off to prove nothing is downloaded:

    unshare -n python benchmarks/bench_ocr.py [--engines tesseract rapidocr] [--dpi 200 300]
"""

from __future__ import annotations

import argparse
import io
import json
import re
import resource
import statistics
import time

PAGES = [
    # prose with names, numbers and punctuation
    "The Ministry of Transport announced on 14 March 2023 that the new bridge over the Mekong River "
    "near Pakse will open to traffic in the autumn. The bridge is 1,380 metres long and cost 95.5 "
    "million dollars, "
    "shared between Laos (40%) and Japan (60%). Engineers from Osaka tested the deck for three weeks before "
    "approving it. The old ferry, which carried 2,400 vehicles a day, will keep running until the end of the "
    "year. Local traders expect the journey from Champasak to Ubon Ratchathani to take 90 minutes instead of "
    "four hours. Questions about tolls should be sent to bridge-info@mpwt.gov.la or to the district office.",
    # technical prose with code-like tokens
    "To rotate the logs, run logrotate with the -f flag and check /var/log/syslog.1 afterwards. The parser "
    "accepts UTF-8 only; a file in Latin-1 raises UnicodeDecodeError at byte 0xe9. Version 3.11.4 fixed a "
    "leak in the socket module (issue #104835). The default timeout is 30 s, the retry limit is 5, and the "
    "backoff doubles each time: 1, 2, 4, 8, 16 seconds. Set RAG_DATA_DIR=/srv/rag before starting the "
    "service, and keep at least 2 GB of free memory for the embedding model.",
    # a table-like page: rows of label and values
    "Quarterly revenue by region (thousand euros)\n"
    "Region Q1 Q2 Q3 Q4\n"
    "North 1,204 1,310 1,287 1,455\n"
    "South 987 1,022 1,140 1,198\n"
    "East 654 701 688 730\n"
    "West 1,876 1,902 2,015 2,233\n"
    "Total 4,721 4,935 5,130 5,616",
]


def render_pdf(text: str) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    buf = io.BytesIO()
    style = getSampleStyleSheet()["BodyText"]
    story = [Paragraph(line, style) for line in text.split("\n")]
    SimpleDocTemplate(buf, pagesize=A4).build(story)
    return buf.getvalue()


def rasterize(pdf: bytes, dpi: int):
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    image = document[0].render(scale=dpi / 72, grayscale=True).to_pil()
    document.close()
    return image


def levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def accuracy(reference: str, found: str) -> float:
    ref, got = norm(reference), norm(found)
    return max(0.0, 1 - levenshtein(ref, got) / len(ref))


def nospace_accuracy(reference: str, found: str) -> float:
    ref, got = re.sub(r"\s+", "", reference), re.sub(r"\s+", "", found)
    return max(0.0, 1 - levenshtein(ref, got) / len(ref))


def tesseract_engine():
    import subprocess

    def run(image) -> str:
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        out = subprocess.run(
            ["tesseract", "stdin", "stdout", "-l", "eng", "--psm", "3"],
            input=buf.getvalue(),
            capture_output=True,
            check=True,
            env={"OMP_THREAD_LIMIT": "1"},
        )
        return out.stdout.decode()

    return run


def rapidocr_engine():
    import numpy as np
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR()

    def run(image) -> str:
        result, _ = engine(np.asarray(image.convert("RGB")))
        return "\n".join(line[1] for line in result or [])

    return run


def _cpu() -> float:
    """CPU seconds of this process (all its threads) and its finished children (the tesseract runs)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


ENGINES = {"tesseract": tesseract_engine, "rapidocr": rapidocr_engine}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engines", nargs="+", default=list(ENGINES))
    parser.add_argument("--dpi", nargs="+", type=int, default=[200, 300])
    args = parser.parse_args()
    pdfs = [render_pdf(text) for text in PAGES]
    results = []
    for name in args.engines:
        t0 = time.perf_counter()
        run = ENGINES[name]()
        load = time.perf_counter() - t0
        for dpi in args.dpi:
            images = [rasterize(pdf, dpi) for pdf in pdfs]
            run(images[0])  # warm-up
            accs, plain, times = [], [], []
            cpu: list[float] = []
            for text, image in zip(PAGES, images, strict=True):
                t, c = time.perf_counter(), _cpu()
                found = run(image)
                times.append(time.perf_counter() - t)
                cpu.append(_cpu() - c)
                accs.append(accuracy(text, found))
                plain.append(nospace_accuracy(text, found))
            row = {
                "engine": name,
                "dpi": dpi,
                "load_s": round(load, 2),
                "char_accuracy": [round(a, 4) for a in accs],
                "mean_accuracy": round(statistics.mean(accs), 4),
                "mean_accuracy_ignoring_spaces": round(statistics.mean(plain), 4),
                "s_per_page": round(statistics.mean(times), 2),
                "cpu_s_per_page": round(statistics.mean(cpu), 2),
            }
            results.append(row)
            print(json.dumps(row), flush=True)
            print("  sample:", norm(found)[:160], flush=True)


if __name__ == "__main__":
    main()
