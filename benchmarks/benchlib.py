"""Shared helpers for the benchmarks: paths, the corpus, machine facts, memory, percentiles, result files."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from assistant.offline import OFFLINE_ENV

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
RESULTS = BENCH / "results"
WORK = Path(os.environ.get("BENCH_WORK_DIR", BENCH / ".data"))
DOCS = ROOT / "docs"
PYTHON = sys.executable

DOC_SOURCES = Path("/usr/share/doc/python3.11/html/_sources")
DOC_PACKAGE = "python3.11-doc"
DEFAULT_SIZES = "1000,10000,full"

PACKAGES = [
    "torch",
    "sentence-transformers",
    "transformers",
    "langchain-huggingface",
    "chromadb",
    "scipy",
    "langchain-core",
    "langchain-text-splitters",
    "fastapi",
    "uvicorn",
    "gradio",
    "numpy",
    "matplotlib",
]

# Environment every benchmark process runs with: offline, no telemetry, the offline extractive answerer.
BENCH_ENV = {**OFFLINE_ENV, "RAG_LLM_PROVIDER": "extractive"}

WARMUP_QUESTION = "What is Python?"
# ~30 questions a user of the Python documentation would ask.
QUESTIONS = [
    "How do I read a file line by line?",
    "What does functools.lru_cache do?",
    "How do I sort a list of dictionaries by a key?",
    "What is the difference between a list and a tuple?",
    "How do I create a virtual environment?",
    "What does the with statement do?",
    "How do I parse command line arguments?",
    "How can I run a subprocess and capture its output?",
    "What is a generator expression?",
    "How do I format a string with f-strings?",
    "What does the GIL do?",
    "How do I define a dataclass?",
    "How do I use asyncio to run coroutines concurrently?",
    "What is the purpose of __init__.py?",
    "How do I handle exceptions with try and except?",
    "How do I serialize an object to JSON?",
    "What does itertools.groupby do?",
    "How do I write a unit test with unittest?",
    "What is a decorator?",
    "How do I compile a regular expression?",
    "How do I get the current date and time?",
    "What does the yield keyword do?",
    "How can I copy a dictionary deeply?",
    "What are type hints and how do I use typing.Optional?",
    "How do I log messages to a file with the logging module?",
    "What does enumerate return?",
    "How do I open a SQLite database?",
    "What is the difference between is and ==?",
    "How do I create a thread pool with concurrent.futures?",
    "How do I read environment variables?",
]


# -- environment --------------------------------------------------------------------------------------
def bench_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "OPENAI_API_KEY"}
    env.update(BENCH_ENV)
    env.update(extra)
    return env


def start_chroma(path: Path, port: int) -> subprocess.Popen[bytes]:
    """`chroma run` (shipped with chromadb) on 127.0.0.1:`port` over `path`, once its heartbeat answers;
    its log beside `path` (chroma.log)."""
    import httpx

    chroma = Path(sys.executable).parent / "chroma"
    log = (path.parent / "chroma.log").open("ab")
    process = subprocess.Popen(
        [str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=bench_env(),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise SystemExit("chroma run did not start")


def apply_bench_env() -> None:
    os.environ.pop("OPENAI_API_KEY", None)
    os.environ.update(BENCH_ENV)


def ensure_doc_corpus() -> Path:
    """The Python docs' reST sources; installs Debian's python3.11-doc when they are missing."""
    if not (DOC_SOURCES.exists() and any(DOC_SOURCES.rglob("*.rst.txt"))):
        print(f"installing {DOC_PACKAGE} (the benchmark corpus) ...", flush=True)
        lock = ["-o", "DPkg::Lock::Timeout=900"]
        subprocess.run(["apt-get", *lock, "update", "-qq"], check=True)
        subprocess.run(["apt-get", *lock, "install", "-y", "-qq", DOC_PACKAGE], check=True)
    files = sorted(DOC_SOURCES.rglob("*.rst.txt"))
    if not files:
        raise SystemExit(f"no .rst.txt files under {DOC_SOURCES} after installing {DOC_PACKAGE}")
    return DOC_SOURCES


def parse_sizes(text: str) -> list[str]:
    labels = [part.strip() for part in text.split(",") if part.strip()]
    for label in labels:
        if label != "full" and not label.isdigit():
            raise SystemExit(f"--sizes takes chunk counts or 'full', e.g. {DEFAULT_SIZES}; got {label!r}")
    return labels


def chunk_counts(source_root: Path) -> dict[str, int]:
    """Chunks per file, with the assistant's own splitter and settings (no embedding, ~1 s)."""
    from assistant.settings import Settings
    from vectorstore.chunking import make_splitter, split_text
    from vectorstore.loaders import load_text

    settings = Settings()
    splitter = make_splitter(settings.chunk_size, settings.chunk_overlap)
    counts = {}
    for file in sorted(source_root.rglob("*.rst.txt")):
        rel = file.relative_to(source_root).as_posix()
        counts[rel] = len(split_text(rel, load_text(file), splitter))
    return counts


def corpus_dir(label: str) -> Path:
    return WORK / f"corpus-{label}"


def store_dir(label: str) -> Path:
    return WORK / f"store-{label}"


def build_corpus(label: str, source_root: Path | None = None) -> dict[str, Any]:
    """Copies a deterministic file subset reaching `label` chunks (or every file) into its own folder.

    Subsets are nested (the 1k files are the first files of the 10k subset), shuffled with a fixed seed so
    they sample the whole manual rather than one alphabetical corner.
    """
    source_root = source_root or ensure_doc_corpus()
    counts = chunk_counts(source_root)
    order = sorted(counts)
    random.Random(0).shuffle(order)
    chosen: list[str] = []
    total = 0
    target = None if label == "full" else int(label)
    for rel in order:
        if target is not None and total >= target:
            break
        chosen.append(rel)
        total += counts[rel]
    target_dir = corpus_dir(label)
    manifest = {"label": label, "files": sorted(chosen), "chunks": total}
    manifest_file = target_dir.parent / f"corpus-{label}.json"
    if not (
        manifest_file.exists() and json.loads(manifest_file.read_text()) == manifest and target_dir.exists()
    ):
        shutil.rmtree(target_dir, ignore_errors=True)
        for rel in chosen:
            dest = target_dir / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source_root / rel, dest)
        manifest_file.write_text(json.dumps(manifest, indent=1))
    size = sum((target_dir / rel).stat().st_size for rel in chosen)
    return {"label": label, "files": len(chosen), "chunks": total, "bytes": size, "dir": str(target_dir)}


# -- machine and versions -------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return {
        "nproc": int(nproc) if nproc.isdigit() else os.cpu_count(),
        "cpu_model": cpu,
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit() -> str:
    run = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"], capture_output=True, text=True)
    return run.stdout.strip() + ("+uncommitted changes" if dirty.stdout.strip() else "")


def meta(argv: Sequence[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve()
    with contextlib.suppress(ValueError):
        script = script.relative_to(ROOT)
    return {
        "command": ".venv/bin/python " + shlex.join([str(script), *argv[1:]]),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "versions": versions(),
        "commit": git_commit(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


# -- measurements ----------------------------------------------------------------------------------------
def proc_status(pid: int | str = "self") -> dict[str, float]:
    """VmRSS (current) and VmHWM (peak) in MB, from /proc."""
    out = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # kB on Linux


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (numpy's default method), without numpy."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * pct / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(values: Sequence[float], digits: int = 1) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), digits),
        "p95": round(percentile(values, 95), digits),
        "mean": round(statistics.fmean(values), digits) if values else float("nan"),
        "max": round(max(values), digits) if values else float("nan"),
    }


class Timer:
    """Wraps callables and adds up their wall time and calls, e.g. store.add inside an ingest."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
                self.calls[name] = self.calls.get(name, 0) + 1

        return timed

    def patch(self, obj: Any, attr: str, name: str | None = None) -> None:
        setattr(obj, attr, self.wrap(name or attr, getattr(obj, attr)))

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {
            name: {"seconds": round(self.seconds[name], 3), "calls": self.calls[name]}
            for name in self.seconds
        }


# -- result files ----------------------------------------------------------------------------------------
@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / (path.name + ".lock")).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def load_result(name: str) -> dict[str, Any]:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def save_result(name: str, data: dict[str, Any]) -> Path:
    path = RESULTS / f"{name}.json"
    with _locked(path):
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(tmp, path)
    return path


def merge_result(name: str, key: str, entry: dict[str, Any], run_meta: dict[str, Any]) -> Path:
    """Adds one size's figures to a result file keyed by size, so sizes can be measured in separate runs."""
    path = RESULTS / f"{name}.json"
    with _locked(path):
        data = json.loads(path.read_text()) if path.exists() else {}
        data.setdefault("runs", {})[key] = {**entry, "meta": run_meta}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(tmp, path)
    return path


def run_worker(args: Sequence[str], timeout: float | None = None, **extra_env: str) -> dict[str, Any]:
    """Runs `python <args>` in a fresh process whose last stdout line is a JSON object; returns it."""
    proc = subprocess.run(
        [PYTHON, *args],
        cwd=ROOT,
        env=bench_env(**extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise RuntimeError(f"worker {' '.join(args)} failed with exit code {proc.returncode}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])


def size_key(label: str) -> int:
    return 10**12 if label == "full" else int(label)
