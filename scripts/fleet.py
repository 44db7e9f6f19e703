"""`make fleet`: a whole fleet on 127.0.0.1 in one command, stopped together on Ctrl-C.

PostgreSQL (a cluster of its own under .fleet/, made on first use with the server binaries of Debian's
`postgresql`), a `chroma run` server, two app replicas that leave ingestion to the workers, and two
`assistant worker` processes. What each part is for: docs/deployment.md. The data stays in .fleet/ between
runs; delete the folder to start empty.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
HOME = Path(os.environ.get("FLEET_DIR", ROOT / ".fleet")).resolve()
PG_PORT, CHROMA_PORT, REPLICA_PORTS = 55432, 58000, (7861, 7862)
DATABASE_URL = f"postgresql+psycopg://postgres@127.0.0.1:{PG_PORT}/postgres"


def pg_bin() -> Path:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name)
    )
    if not found:
        sys.exit("PostgreSQL's server is not installed: run `make postgres` first")
    return found[-1].parent


def as_postgres() -> dict[str, Any]:
    """initdb and postgres refuse to run as root: as root they run as Debian's `postgres` user."""
    return {"user": "postgres", "group": "postgres", "extra_groups": []} if os.geteuid() == 0 else {}


def start_postgres(logs: Path) -> subprocess.Popen[bytes]:
    data = HOME / "pg"
    if not (data / "PG_VERSION").exists():
        HOME.mkdir(parents=True, exist_ok=True)
        data.mkdir(mode=0o700, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(data, "postgres", "postgres")
        initdb = [str(pg_bin() / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
        subprocess.run([*initdb, "--locale=C", "--no-instructions"], check=True, **as_postgres())
    serve = [
        str(pg_bin() / "postgres"),
        "-D",
        str(data),
        "-h",
        "127.0.0.1",
        "-p",
        str(PG_PORT),
        "-k",
        str(data),
    ]
    return subprocess.Popen(
        serve, stdout=(logs / "postgres.log").open("ab"), stderr=subprocess.STDOUT, **as_postgres()
    )


def wait_until(what: str, ready: Any, process: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{what} exited with {process.returncode}: see {HOME / 'logs'}")
        try:
            if ready():
                print(f"{what}: up", flush=True)
                return
        except (httpx.HTTPError, OSError, psycopg.Error):
            pass
        time.sleep(0.5)
    sys.exit(f"{what} did not start in {timeout:.0f}s: see {HOME / 'logs'}")


def postgres_ready() -> bool:
    with psycopg.connect(f"host=127.0.0.1 port={PG_PORT} user=postgres dbname=postgres", connect_timeout=1):
        return True


def main() -> None:
    logs = HOME / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(
        RAG_DATABASE_URL=DATABASE_URL,
        RAG_CHROMA_HOST="127.0.0.1",
        RAG_CHROMA_PORT=str(CHROMA_PORT),
        RAG_INGEST_IN_PROCESS="false",
        RAG_SESSION_SECRET=os.environ.get("RAG_SESSION_SECRET", "fleet-local-only"),
    )
    started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(name: str, argv: list[str], **extra: str) -> subprocess.Popen[bytes]:
        out = (logs / f"{name}.log").open("ab")
        process = subprocess.Popen(argv, cwd=ROOT, env={**env, **extra}, stdout=out, stderr=subprocess.STDOUT)
        started.append((name, process))
        return process

    try:
        pg = start_postgres(logs)
        started.append(("postgres", pg))
        wait_until("postgres", postgres_ready, pg)
        chroma = Path(sys.executable).parent / "chroma"
        db = spawn("chroma", [str(chroma), "run", "--path", str(HOME / "chroma"), "--port", str(CHROMA_PORT)])
        wait_until(
            "chroma", lambda: httpx.get(f"http://127.0.0.1:{CHROMA_PORT}/api/v2/heartbeat").is_success, db
        )
        for n in (1, 2):
            spawn(
                f"worker{n}",
                [sys.executable, "-m", "assistant.cli", "worker"],
                RAG_DATA_DIR=str(HOME / f"w{n}"),
            )
        for n, port in enumerate(REPLICA_PORTS, 1):
            app = [sys.executable, "app.py", "--port", str(port)]
            if n > 1:  # the first replica ingests RAG_DOCS_DIR into an empty store; one is enough
                app.append("--no-ingest-seeds")
            replica = spawn(f"replica{n}", app, RAG_DATA_DIR=str(HOME / f"r{n}"))
            url = f"http://127.0.0.1:{port}"
            wait_until(f"replica {n} on {url}", lambda u=url: httpx.get(f"{u}/healthz").is_success, replica)
        print(f"fleet up: replicas on ports {REPLICA_PORTS}, logs in {logs}; Ctrl-C stops it all", flush=True)
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        while not stop.wait(1.0):  # Ctrl-C also reaches the children: they stop on their own too
            pass
    finally:
        for name, process in reversed(started):  # workers give their jobs back; postgres stops last
            if process.poll() is None:
                process.send_signal(signal.SIGINT if name == "postgres" else signal.SIGTERM)
        for _name, process in reversed(started):
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        print("fleet stopped", flush=True)


if __name__ == "__main__":
    main()
