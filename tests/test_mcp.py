"""MCP with the official SDK's client: over real HTTP at /mcp on the real server (a process of its own, with
users: ada an admin, bob a member granted `default` only), and over stdio by spawning `assistant mcp`."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from tests.conftest import MOON_QUESTION, ROOT, TeamServer, clean_env, make_team

pytestmark = pytest.mark.slow  # a server process (the session's team server) and `assistant mcp` processes

T = TypeVar("T")
ANSWERABLE = "What is the mission of the Mine Action Centre?"
FAR = "What is the boiling point of mercury on Jupiter's moons?"
TOOLS = {"search", "ask", "list_documents", "get_passage"}


def run(session: Callable[[Client], Awaitable[T]], server: Any) -> T:
    async def go() -> T:
        async with Client(server, read_timeout_seconds=300) as client:
            return await session(client)

    return asyncio.run(go())


def over_http(url: str, key: str | None, statuses: list[int] | None = None) -> Any:
    """The SDK's streamable HTTP transport, sending `key` as a Bearer token (each response's status noted in
    `statuses`)."""
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}

    async def note(response: httpx2.Response) -> None:
        if statuses is not None:
            statuses.append(response.status_code)

    http = httpx2.AsyncClient(
        headers=headers, timeout=httpx2.Timeout(30, read=300), event_hooks={"response": [note]}
    )
    return streamable_http_client(f"{url}/mcp", http_client=http)


def payload(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def error_text(result: CallToolResult) -> str:
    assert result.is_error, result.structured_content
    return " ".join(getattr(block, "text", "") for block in result.content)


async def call(client: Client, tool: str, **arguments: Any) -> CallToolResult:
    return await client.call_tool(tool, arguments)


# -- over HTTP -----------------------------------------------------------------------------------------------
def test_http_lists_the_tools_and_searches_with_where_each_passage_is(team_server: TeamServer) -> None:
    async def session(client: Client) -> tuple[set[str], dict[str, Any], dict[str, Any]]:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        found = payload(await call(client, "search", query=MOON_QUESTION, k=3))
        hit = found["passages"][0]
        passage = payload(
            await call(client, "get_passage", source=hit["source"], start=hit["start"], end=hit["end"])
        )
        return tools, found, passage

    tools, found, passage = run(session, over_http(team_server.url, team_server.team.admin_key))
    assert tools == TOOLS
    assert len(found["passages"]) <= 3 + 3  # k, plus the section leads retrieval may add
    hit = found["passages"][0]
    assert hit["source"] == "lunar.txt" and "Quixotl" in hit["text"]
    assert {"section", "page", "start", "end", "score", "similarity"} <= set(hit)
    assert hit["end"] > hit["start"] >= 0
    # the passage read back by its offsets is the same text
    assert passage["text"] == hit["text"] and passage["source"] == "lunar.txt"


def test_http_ask_answers_with_citations_or_refuses_saying_why(team_server: TeamServer) -> None:
    async def session(client: Client) -> tuple[dict[str, Any], dict[str, Any]]:
        return (
            payload(await call(client, "ask", question=MOON_QUESTION)),
            payload(await call(client, "ask", question=FAR)),
        )

    answered, refused = run(session, over_http(team_server.url, team_server.team.admin_key))
    assert not answered["refused"] and "reservoirs" in answered["answer"]
    assert answered["citations"] and answered["citations"][0]["source"] == "lunar.txt"
    assert "[1]" in answered["answer"]
    assert refused["refused"] and refused["citations"] == []
    assert refused["refusal_reason"]


@pytest.mark.parametrize("key", [None, "not-a-key"])
def test_http_without_a_valid_key_is_401_before_any_tool_runs(
    team_server: TeamServer, key: str | None
) -> None:
    # what the SDK's client sends first, as a plain POST: the gate answers before MCP sees it
    headers = {"Accept": "application/json, text/event-stream"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    r = httpx.post(f"{team_server.url}/mcp", json=request, headers=headers, timeout=30)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "tools" not in r.text

    async def session(client: Client) -> object:
        return await client.list_tools()

    statuses: list[int] = []
    with pytest.raises(Exception, match="error"):  # the SDK's client cannot even connect
        run(session, over_http(team_server.url, key, statuses))
    assert statuses and set(statuses) == {401}


def test_http_a_member_sees_only_the_collections_granted(team_server: TeamServer) -> None:
    async def session(client: Client) -> dict[str, Any]:
        return {
            "moon": await call(client, "search", query=MOON_QUESTION, collection="moon"),
            "all": payload(await call(client, "search", query=MOON_QUESTION)),
            "docs": payload(await call(client, "list_documents")),
            "passage": await call(client, "get_passage", source="lunar.txt", start=0, end=20),
            "ask": payload(await call(client, "ask", question=MOON_QUESTION)),
        }

    seen = run(session, over_http(team_server.url, team_server.team.member_key))
    assert "moon" in error_text(seen["moon"])  # named, refused
    assert all(p["source"] != "lunar.txt" for p in seen["all"]["passages"])
    sources = {d["source"] for d in seen["docs"]["documents"]}
    assert sources and "lunar.txt" not in sources
    assert all(d["path"] == "" for d in seen["docs"]["documents"])  # no server paths for a member
    assert "not_found (404)" in error_text(seen["passage"])  # not "forbidden": it stays unseen
    assert "Quixotl" not in json.dumps(seen["ask"]["citations"])


def test_http_too_many_sources_is_the_same_clear_error_as_the_api_and_the_server_goes_on(
    team_server: TeamServer,
) -> None:
    """N17 at the MCP door: 40,000 document names reached the store's filter (an SQL variable limit) and came
    back "internal error"; `/api/chat` says "at most 1000"."""
    names = [f"doc-{i:05d}.txt" for i in range(40_000)]

    async def session(client: Client) -> dict[str, Any]:
        return {
            "search": await call(client, "search", query=MOON_QUESTION, sources=names),
            "ask": await call(client, "ask", question=MOON_QUESTION, sources=names),
            "long": await call(client, "search", query=MOON_QUESTION, sources=["a" * 2000]),
            "after": payload(await call(client, "search", query=MOON_QUESTION, k=3)),
        }

    seen = run(session, over_http(team_server.url, team_server.team.member_key))
    for tool in ("search", "ask"):
        assert "at most 1000" in error_text(seen[tool]) and "internal" not in error_text(seen[tool]), tool
    assert "1024 characters" in error_text(seen["long"])
    assert seen["after"]["passages"], "the server answers the next call"


# -- over stdio ----------------------------------------------------------------------------------------------
def stdio(data_dir: Path, **env: str) -> StdioServerParameters:
    """`assistant mcp` as a desktop agent starts it: a subprocess speaking MCP on stdin/stdout."""
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "assistant.cli", "mcp"],
        env=clean_env(RAG_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT), **env),
        cwd=str(data_dir.parent),
    )


@pytest.fixture(scope="module")
def team_dir(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_team(seeded_dir, tmp_path_factory.mktemp("stdio-team"))


def test_stdio_as_the_local_admin_searches_answers_and_refuses(team_dir: Any) -> None:
    async def session(client: Client) -> dict[str, Any]:
        return {
            "tools": {tool.name for tool in (await client.list_tools()).tools},
            "search": payload(await call(client, "search", query=MOON_QUESTION, collection="moon")),
            "answered": payload(await call(client, "ask", question=MOON_QUESTION)),
            "refused": payload(await call(client, "ask", question=FAR)),
        }

    seen = run(session, stdio(team_dir.data_dir))
    assert seen["tools"] == TOOLS
    assert seen["search"]["passages"][0]["source"] == "lunar.txt"
    assert not seen["answered"]["refused"] and seen["answered"]["citations"][0]["source"] == "lunar.txt"
    assert seen["refused"]["refused"] and seen["refused"]["refusal_reason"]


def test_stdio_with_a_members_key_keeps_to_their_collections(team_dir: Any) -> None:
    async def session(client: Client) -> dict[str, Any]:
        return {
            "moon": await call(client, "search", query=MOON_QUESTION, collection="moon"),
            "docs": payload(await call(client, "list_documents")),
        }

    seen = run(session, stdio(team_dir.data_dir, RAG_MCP_API_KEY=team_dir.member_key))
    assert "moon" in error_text(seen["moon"])
    assert "lunar.txt" not in {d["source"] for d in seen["docs"]["documents"]}


def test_stdio_with_a_bad_key_refuses_to_start(team_dir: Any) -> None:
    import subprocess

    params = stdio(team_dir.data_dir, RAG_MCP_API_KEY="ga_not-a-key")
    done = subprocess.run(
        [params.command, *params.args],
        env=params.env,
        cwd=params.cwd,
        input="",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "RAG_MCP_API_KEY is not a valid key" in done.stderr
    assert done.stdout == ""  # nothing on the protocol channel
