"""Server mode: the assistant against a real `chroma run` process on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assistant.container import build_components
from assistant.settings import Settings
from tests.conftest import SEEDS, clean_env, free_port

CHROMA = Path(sys.executable).parent / "chroma"


pytestmark = pytest.mark.slow  # a `chroma run` server and the app on top of it: over 30 s a test


class ChromaServer:
    def __init__(self, path: Path, port: int, log: Path) -> None:
        self.path, self.port, self.log = path, port, log
        self.process: subprocess.Popen | None = None

    def start(self) -> ChromaServer:
        self.process = subprocess.Popen(
            [str(CHROMA), "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
            env=clean_env(ANONYMIZED_TELEMETRY="False"),
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/api/v2/heartbeat", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"chroma did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


@pytest.fixture
def chroma(tmp_path: Path) -> Iterator[ChromaServer]:
    server = ChromaServer(tmp_path / "chroma-data", free_port(), tmp_path / "chroma.log").start()
    yield server
    server.stop()


def test_assistant_ingests_and_answers_through_a_chroma_server(chroma: ChromaServer, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "app", chroma_host="127.0.0.1", chroma_port=chroma.port)
    c = build_components(settings)
    report = c.ingest.ingest([SEEDS])
    assert report.chunks_added > 0
    assert not (tmp_path / "app" / "chroma").exists(), "no embedded store when a server is configured"
    answer = c.chat.answer("With which country is Russia jointly chairing the Mine Action Centre?")
    assert "Cambodia" in answer.text and answer.citations

    # the data lives in the server: it survives a restart, and a second client sees it unchanged
    chroma.stop()
    chroma.start()
    again = build_components(
        Settings(data_dir=tmp_path / "other-app", chroma_host="127.0.0.1", chroma_port=chroma.port)
    )
    assert again.store.count() == report.chunks_added
    assert again.ingest.ingest([SEEDS]).chunks_added == 0
    # its keyword index was rebuilt from the server's stored texts (no local copy existed)
    assert "Cambodia" in again.chat.answer("Who co-chairs the Mine Action Centre with Russia?").text


def test_unreachable_chroma_server_is_a_clear_error(tmp_path: Path) -> None:
    from vectorstore.errors import StoreUnavailableError

    port = free_port()
    with pytest.raises(StoreUnavailableError, match=f"127.0.0.1:{port}"):
        build_components(Settings(data_dir=tmp_path, chroma_host="127.0.0.1", chroma_port=port))


def test_a_chroma_server_that_goes_away_gives_readable_errors(chroma: ChromaServer, seeded_dir: Path) -> None:
    from tests.conftest import start_server

    settings = Settings(
        data_dir=seeded_dir.parent / "unused", chroma_host="127.0.0.1", chroma_port=chroma.port
    )
    build_components(settings).ingest.ingest([SEEDS])
    app = start_server(
        chroma.path.parent / "app-data",
        chroma.path.parent / "app.log",
        RAG_CHROMA_HOST="127.0.0.1",
        RAG_CHROMA_PORT=str(chroma.port),
    )
    try:
        question = {"message": "With which country is Russia jointly chairing the Mine Action Centre?"}
        assert httpx.post(f"{app.url}/api/chat", json=question, timeout=120).status_code == 200
        chroma.stop()
        r = httpx.post(f"{app.url}/api/chat", json=question, timeout=120)
        assert r.status_code == 503 and "Chroma store is unreachable" in r.json()["error"]["message"]
        ready = httpx.get(f"{app.url}/readyz", timeout=30)
        assert ready.status_code == 503 and "store" in ready.json()["problems"]
    finally:
        app.stop()
