"""Load test: the real app on 127.0.0.1 under Locust (mixed chat, streamed chat, listing, upload + delete).

    .venv/bin/python benchmarks/run_load_test.py                 # 10 users, 60 s
    .venv/bin/python benchmarks/run_load_test.py --users 20 --seconds 120

Starts `app.py` on 127.0.0.1 (a free port) over a fresh data dir with seeds/ ingested and RAG_API_KEYS set,
warms it up with one answer, records its RSS, runs Locust headless with the users and time given, records
the RSS again, and writes benchmarks/results/load_test.json and the "Load test" section of
docs/benchmarks.md (between its markers). Only 127.0.0.1 is ever targeted.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "load_test.json"
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- load-test:start -->", "<!-- load-test:end -->"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    process = psutil.Process(pid)
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        total += child.memory_info().rss
    return round(total / 1e6, 1)


def child_env(data: Path, key: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env.update(RAG_DATA_DIR=str(data), RAG_DOCS_DIR=str(ROOT / "seeds"), RAG_API_KEYS=key, **extra)
    return env


def start_app(data: Path, key: str, log: Path, **extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--host", HOST, "--port", str(port)],
        env=child_env(data, key, **extra),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 600  # the first start ingests seeds/
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the app exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit("the app did not start in 600 s")


def run_locust(url: str, key: str, users: int, seconds: int, out: Path) -> None:
    assert url.startswith(f"http://{HOST}:"), url
    command = [
        str(Path(sys.executable).parent / "locust"),
        "-f",
        str(ROOT / "benchmarks" / "load_test.py"),
        "--headless",
        "--host",
        url,
        "--users",
        str(users),
        "--spawn-rate",
        str(max(1, users // 5)),
        "--run-time",
        f"{seconds}s",
        "--stop-timeout",
        "30",
        "--csv",
        str(out / "locust"),
        "--only-summary",
        "--exit-code-on-error",
        "0",
    ]
    env = {**os.environ, "LOAD_TEST_KEY": key}
    subprocess.run(command, env=env, check=True, timeout=seconds + 180)


def read_stats(out: Path) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    with (out / "locust_stats.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["Name"] != "Aggregated" and r["Type"] != "INFO"]
    with (out / "locust_stats.csv").open() as handle:
        queue_full = [r for r in csv.DictReader(handle) if r["Type"] == "INFO"]
    failures: list[dict[str, str]] = []
    path = out / "locust_failures.csv"
    if path.exists():
        with path.open() as handle:
            failures = list(csv.DictReader(handle))
    endpoints = [
        {
            "endpoint": r["Name"],
            "requests": int(r["Request Count"]),
            "failures": int(r["Failure Count"]),
            "p50_ms": float(r["50%"]),
            "p95_ms": float(r["95%"]),
            "max_ms": float(r["Max Response Time"]),
            "rps": round(float(r["Requests/s"]), 2),
        }
        for r in rows
    ]
    if queue_full:
        endpoints.append(
            {"endpoint": "queue_full (uploads refused 503)", "requests": int(queue_full[0]["Request Count"])}
        )
    return endpoints, failures


def server_errors(failures: list[dict[str, str]]) -> int:
    count = 0
    for f in failures:
        error = f.get("Error", "")
        if any(f"{code}" in error[:40] for code in range(500, 600)) or "ConnectionError" in error:
            count += int(f.get("Occurrences", 1))
    return count


def markdown(result: dict[str, Any]) -> str:
    lines = [
        START,
        "## Load test (Locust, the real app on 127.0.0.1)",
        "",
        f"Run {result['date']} on {result['machine']} "
        f"(load average before the run: {result['load_before']}).",
        "",
        f"Command: `{result['command']}`. {result['users']} users for {result['seconds']} s, spawning "
        f"{result['spawn_rate']}/s; each user waits 0.5–2 s between requests and picks: chat (6), streamed "
        "chat (3), list documents (2), readiness (1), upload a small .txt then delete it (1). Every request "
        "carries the API key. The app runs the offline extractive answerer over seeds/. Five questions are "
        "asked over and over, so after the first few most answers reuse the query-vector cache: the cost of "
        "a first ask is in *Query latency* above.",
        "",
        "| endpoint | requests | failures | p50 ms | p95 ms | max ms | req/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in result["endpoints"]:
        if "p50_ms" not in e:
            lines.append(f"| {e['endpoint']} | {e['requests']} | | | | | |")
            continue
        lines.append(
            f"| {e['endpoint']} | {e['requests']} | {e['failures']} | {e['p50_ms']:.0f} | "
            f"{e['p95_ms']:.0f} | {e['max_ms']:.0f} | {e['rps']} |"
        )
    lines += [
        "",
        f"**Server errors (5xx or dropped connections): {result['server_errors']}.** "
        f"Failures of any kind: {result['failures']}.",
        f"RSS of the app: {result['rss_before_mb']} MB after one warm-up answer, {result['rss_after_mb']} MB "
        f"after the run ({result['rss_after_mb'] - result['rss_before_mb']:+.1f} MB).",
        "",
        "Reproduce: `.venv/bin/python benchmarks/run_load_test.py` "
        "(results in benchmarks/results/load_test.json).",
        END,
    ]
    return "\n".join(lines)


def write_doc(section: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Performance benchmarks\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        _, after = rest.split(END, 1)
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--data", type=Path, help="a seeded data dir to copy (default: ingest seeds/ afresh)")
    parser.add_argument("--no-doc", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args()

    key = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="load-test-") as tmp:
        work = Path(tmp)
        data = work / "data"
        if args.data:
            shutil.copytree(args.data, data)
        load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        process, url = start_app(data, key, work / "app.log")
        try:
            auth = {"Authorization": f"Bearer {key}"}
            warm = httpx.post(
                f"{url}/api/chat",
                json={"message": "What documents were signed in Vientiane?"},
                headers=auth,
                timeout=300,
            )
            warm.raise_for_status()
            rss_before = rss_mb(process.pid)
            run_locust(url, key, args.users, args.seconds, work)
            rss_after = rss_mb(process.pid)
            endpoints, failures = read_stats(work)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        log_tail = (work / "app.log").read_text(errors="replace")[-2000:]

    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{psutil.virtual_memory().total / 1e9:.1f} GB RAM, Python {platform.python_version()}",
        "load_before": load_before,
        "command": (
            f".venv/bin/python benchmarks/run_load_test.py --users {args.users} --seconds {args.seconds}"
        ),
        "users": args.users,
        "seconds": args.seconds,
        "spawn_rate": max(1, args.users // 5),
        "endpoints": endpoints,
        "failures": sum(int(f.get("Occurrences", 1)) for f in failures),
        "failure_kinds": failures,
        "server_errors": server_errors(failures),
        "rss_before_mb": rss_before,
        "rss_after_mb": rss_after,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    section = markdown(result)
    print(section)
    if result["failures"]:
        print("app log tail:\n" + log_tail, file=sys.stderr)
    if not args.no_doc:
        write_doc(section)


if __name__ == "__main__":
    main()
