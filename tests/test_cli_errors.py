"""How the command line fails, as a user sees it in a real process: an error the assistant expects is one
line with what to do, with or without `-v`; an unexpected one says so and how to see more, and `-v` shows
its traceback (what a bug report needs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli import run


def corrupted_store(tmp_path: Path) -> Path:
    """A data dir whose Chroma database is not a database: a disk that failed, a copy cut short."""
    data = tmp_path / "data"
    (data / "chroma").mkdir(parents=True)
    (data / "chroma" / "chroma.sqlite3").write_bytes(b"this is not a SQLite database\n" * 200)
    return data


@pytest.mark.slow  # two CLI processes, each importing the whole app
def test_an_expected_error_is_one_line_even_with_verbose(tmp_path: Path) -> None:
    for args in (("ask", "hello"), ("-v", "ask", "hello")):
        out = run(*args, data=tmp_path / "data", RAG_LLM_PROVIDER="openai-compatible")
        assert out.returncode == 1, out.stderr
        assert "error: RAG_LLM_PROVIDER=openai-compatible needs RAG_LLM_BASE_URL" in out.stderr
        assert "Traceback" not in out.stderr and "unexpected" not in out.stderr


@pytest.mark.slow  # two CLI processes, each importing the whole app
def test_an_unexpected_error_says_so_and_verbose_shows_its_traceback(tmp_path: Path) -> None:
    data = corrupted_store(tmp_path)
    quiet = run("documents", data=data)
    assert quiet.returncode == 1
    assert quiet.stderr.count("\n") == 1, "one line"
    assert quiet.stderr.startswith("unexpected error: InternalError:") and "assistant -v" in quiet.stderr

    verbose = run("-v", "documents", data=data)
    assert verbose.returncode == 1
    assert "Traceback (most recent call last)" in verbose.stderr, verbose.stderr
    assert "assistant/cli.py" in verbose.stderr, "the trace reaches back to the command that failed"
    assert "file is not a database" in verbose.stderr.splitlines()[-1]
