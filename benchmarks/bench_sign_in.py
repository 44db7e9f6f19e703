"""A member's chat latency while strangers guess passwords (issue 18, N4), on the real app over 127.0.0.1.

    .venv/bin/python benchmarks/bench_sign_in.py                  # 20 guessers, 30 s per phase

Starts `app.py` over a fresh data dir (seeds/ ingested) with an admin and a member, then measures the member's
`POST /api/chat` latency in three phases of the same length: quiet; 20 threads guessing passwords from one
address; 20 threads guessing from 20 rotating addresses behind a proxy the server trusts
(RAG_TRUSTED_PROXIES=127.0.0.1, so each guess counts as another client's: the per-address limit does not
help there, only the bounded password hashing does). Records the p50/p95 of the chat, the sign-in answers
by status and the server's peak RSS; writes benchmarks/results/sign_in.json. Only 127.0.0.1 is targeted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from benchmarks.benchlib import machine, percentile
from benchmarks.run_load_test import HOST, rss_mb, start_app

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "sign_in.json"
QUESTION = "With which country is Russia jointly chairing the Mine Action Centre?"


def make_users(data: Path) -> str:
    """An admin and a member granted `default`; the member's key."""
    from assistant.settings import Settings
    from assistant.storage import Storage

    storage = Storage.from_settings(Settings(data_dir=data))
    storage.users.add("ada", "correct horse battery", admin=True)
    key = storage.users.add("bob", "correct horse battery").api_key
    storage.collections.add("default")
    storage.collections.grant("default", "bob")
    storage.close()
    return key


def guess(url: str, stop: threading.Event, codes: Counter[int], rotate: bool, n: int) -> None:
    i = 0
    with httpx.Client(base_url=url, timeout=60) as client:
        while not stop.is_set():
            i += 1
            headers = {"X-Forwarded-For": f"10.{n}.{i // 250 % 250}.{i % 250 + 1}"} if rotate else {}
            r = client.post("/login", data={"name": f"user{n}", "key": "wrong guess"}, headers=headers)
            codes[r.status_code] += 1


def phase(url: str, key: str, pid: int, seconds: float, guessers: int, rotate: bool) -> dict[str, Any]:
    stop, codes = threading.Event(), Counter[int]()
    threads = [
        threading.Thread(target=guess, args=(url, stop, codes, rotate, n), daemon=True)
        for n in range(guessers)
    ]
    for thread in threads:
        thread.start()
    latencies, peak = [], rss_mb(pid)
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as member:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            assert member.post("/api/chat", json={"message": QUESTION}).status_code == 200
            latencies.append(time.perf_counter() - started)
            peak = max(peak, rss_mb(pid))
    stop.set()
    for thread in threads:
        thread.join(60)
    return {
        "guessers": guessers,
        "rotating_addresses": rotate,
        "chats": len(latencies),
        "chat_p50_s": round(percentile(latencies, 50), 3),
        "chat_p95_s": round(percentile(latencies, 95), 3),
        "sign_in_answers": {str(k): v for k, v in sorted(codes.items())},
        "peak_rss_mb": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guessers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-sign-in-"))
    try:
        key = make_users(work / "data")
        process, url = start_app(work / "data", "", work / "app.log", RAG_TRUSTED_PROXIES=HOST)
        try:
            warm = {"Authorization": f"Bearer {key}"}
            httpx.post(f"{url}/api/chat", json={"message": QUESTION}, headers=warm, timeout=300)
            phases = [
                phase(url, key, process.pid, args.seconds, 0, False),
                phase(url, key, process.pid, args.seconds, args.guessers, False),
                phase(url, key, process.pid, args.seconds, args.guessers, True),
            ]
        finally:
            process.terminate()
            process.wait(30)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "phases": phases,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(phases, indent=2))


if __name__ == "__main__":
    main()
