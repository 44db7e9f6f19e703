"""Schemathesis against the live `/openapi.json` of a real server process: every response conforms to the
schema (statuses, content types, bodies), invalid input is rejected, unknown methods are 405, auth is
enforced. DELETE runs too, on a throwaway copy of the store."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Server, clean_env, serving_copy

KEY = "schema-key"
# Requests that the schema cannot tell apart from good ones and the API rightly refuses, by business rule:
# which message comes last (OpenAI's contract), and a file's name and content (type, readable text); a
# `conversation_id` or `collection` that is not the caller's (404).
CONFIG = """
[[operations]]
include-path = "/api/chat"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "404", "409", "5xx"]

[[operations]]
include-path = "/v1/chat/completions"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "404", "409", "5xx"]

[[operations]]
include-name = "POST /api/documents"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "409", "413", "415", "422", "5xx"]
"""


@pytest.fixture(scope="module")
def keyed_server(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving_copy(seeded_dir, tmp_path_factory.mktemp("schema"), RAG_API_KEYS=KEY) as srv:
        yield srv


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_live_api_conforms_to_its_schema(keyed_server: Server, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{keyed_server.url}/openapi.json",
        "--header",
        f"Authorization: Bearer {KEY}",
        "--max-examples",
        "8",
        "--seed",
        "20240601",
        "--request-timeout",
        "60",
        "--workers",
        "1",
        "--generation-database",
        "none",
    ]
    result = subprocess.run(
        command, cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=280, check=False
    )
    report = result.stdout[-12000:] + result.stderr[-3000:]
    assert result.returncode == 0, report
    assert "No issues found" in result.stdout or "passed" in result.stdout, report
