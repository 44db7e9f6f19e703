"""Start-up: `python app.py --port P` to /healthz answering and to the first answered POST /api/chat,
and the import time of the heavy packages, each in a fresh interpreter.

    .venv/bin/python benchmarks/bench_startup.py [--sizes 1000,10000,full] [--repeats 2]

Needs the seeded stores from bench_ingest.py (the server must not ingest seeds/ on start).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import benchlib

IMPORTS = [
    "torch",
    "sentence_transformers",
    "transformers",
    "chromadb",
    "gradio",
    "langchain_core",
    "langchain_text_splitters",
    "fastapi",
    "scipy",
    "assistant.container",
    "assistant.server",
]
QUESTION = "How do I read a file line by line?"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(url: str, body: dict | None = None, timeout: float = 5.0) -> tuple[int, dict | str]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if body is not None else {}
    req = urllib.request.Request(
        url, data=data, headers=headers, method="POST" if body is not None else "GET"
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        raw = resp.read().decode()
        try:
            return resp.status, json.loads(raw)
        except json.JSONDecodeError:
            return resp.status, raw


def launch(data: Path, timeout: float = 600.0) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = benchlib.WORK / f"startup-{port}.log"
    env = benchlib.bench_env(RAG_DATA_DIR=str(data))
    with log.open("w") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [benchlib.PYTHON, "app.py", "--port", str(port)],
            cwd=benchlib.ROOT,
            env=env,
            stdout=out,
            stderr=out,
        )
        try:
            health_s = None
            while time.perf_counter() - started < timeout:
                if proc.poll() is not None:
                    raise RuntimeError(f"app.py exited with {proc.returncode}; see {log}")
                with contextlib.suppress(OSError, urllib.error.URLError):
                    if _request(base + "/healthz", timeout=1.0)[0] == 200:
                        health_s = time.perf_counter() - started
                        break
                time.sleep(0.05)
            if health_s is None:
                raise RuntimeError(f"/healthz did not answer within {timeout:.0f}s; see {log}")
            rss_ready = benchlib.proc_status(proc.pid).get("VmRSS")
            sent = time.perf_counter()
            status, body = _request(base + "/api/chat", {"message": QUESTION}, timeout=timeout)
            first_chat_s = time.perf_counter() - started
            first_request_ms = (time.perf_counter() - sent) * 1000
            if status != 200 or not isinstance(body, dict) or not body.get("answer"):
                raise RuntimeError(f"/api/chat answered {status}: {str(body)[:300]}")
            sent = time.perf_counter()
            _request(base + "/api/chat", {"message": QUESTION}, timeout=timeout)
            second_request_ms = (time.perf_counter() - sent) * 1000
            sent = time.perf_counter()
            ui_status = _request(base + "/", timeout=timeout)[0]
            ui_ms = (time.perf_counter() - sent) * 1000
            status_mb = benchlib.proc_status(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    log.unlink(missing_ok=True)
    return {
        "healthz_s": round(health_s, 2),
        "first_chat_s": round(first_chat_s, 2),
        "first_chat_request_ms": round(first_request_ms, 1),
        "first_chat_timings": body.get("timings", {}),
        "second_chat_request_ms": round(second_request_ms, 1),
        "ui_get_ms": round(ui_ms, 1),
        "ui_status": ui_status,
        "rss_mb": {
            "at_healthz": rss_ready,
            "after_chats": status_mb.get("VmRSS"),
            "peak": status_mb.get("VmHWM"),
        },
        "refused": body.get("refused"),
    }


def import_times(repeats: int) -> dict[str, Any]:
    env = benchlib.bench_env()
    code = "import time; t = time.perf_counter(); import {0}; print(time.perf_counter() - t)"
    out: dict[str, Any] = {}
    baseline = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([benchlib.PYTHON, "-c", "pass"], cwd=benchlib.ROOT, env=env, check=True)
        baseline.append(time.perf_counter() - started)
    out["python -c pass"] = {"median_s": round(statistics.median(baseline), 3)}
    for module in IMPORTS:
        times = []
        for _ in range(repeats):
            run = subprocess.run(
                [benchlib.PYTHON, "-c", code.format(module)],
                cwd=benchlib.ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            times.append(float(run.stdout.strip().splitlines()[-1]))
        out[module] = {"median_s": round(statistics.median(times), 3), "runs_s": [round(t, 3) for t in times]}
        print(f"[imports] {module}: {out[module]['median_s']} s", flush=True)
    return out


def importtime_tree(module: str = "assistant.server", top: int = 12) -> dict[str, Any]:
    """`python -X importtime -c 'import assistant.server'`, self time summed per top-level package.

    Self times add up to the whole import; a package's figure excludes the other packages it imports.
    """
    run = subprocess.run(
        [benchlib.PYTHON, "-X", "importtime", "-c", f"import {module}"],
        cwd=benchlib.ROOT,
        env=benchlib.bench_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    by_package: dict[str, float] = {}
    total = 0.0
    pattern = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)$")
    for line in run.stderr.splitlines():
        match = pattern.match(line)
        if not match:
            continue
        package = match.group(4).split(".")[0]
        by_package[package] = by_package.get(package, 0.0) + int(match.group(1)) / 1e6
        if match.group(4) == module:
            total = int(match.group(2)) / 1e6
    ranked = sorted(by_package.items(), key=lambda item: item[1], reverse=True)
    return {
        "module": module,
        "total_s": round(total, 3),
        "self_s_by_package": [{"package": name, "self_s": round(sec, 3)} for name, sec in ranked[:top]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default=benchlib.DEFAULT_SIZES, help="seeded stores to start on")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-imports", action="store_true")
    args = parser.parse_args()
    run_meta = benchlib.meta()
    result: dict[str, Any] = benchlib.load_result("startup")
    result["meta"] = run_meta
    result["question"] = QUESTION
    result.setdefault("server", {})
    for label in benchlib.parse_sizes(args.sizes):
        data = benchlib.store_dir(label)
        if not (data / "chroma").exists():
            print(f"[startup {label}] no seeded store at {data}; skipped", flush=True)
            continue
        runs = []
        for i in range(args.repeats):
            loadavg = [round(x, 2) for x in os.getloadavg()]
            run = launch(data)
            run["loadavg_start"] = loadavg
            runs.append(run)
            print(
                f"[startup {label}] run {i + 1}: /healthz {run['healthz_s']} s, "
                f"first answer {run['first_chat_s']} s",
                flush=True,
            )
        result["server"][label] = {
            "runs": runs,
            "healthz_s_median": round(statistics.median(r["healthz_s"] for r in runs), 2),
            "first_chat_s_median": round(statistics.median(r["first_chat_s"] for r in runs), 2),
        }
    if not args.skip_imports:
        result["imports"] = import_times(max(3, args.repeats))
        result["importtime_assistant_server"] = importtime_tree()
    result["meta"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print("wrote", benchlib.save_result("startup", result), file=sys.stderr)


if __name__ == "__main__":
    main()
