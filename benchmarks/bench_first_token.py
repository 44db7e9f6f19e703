"""Time to the first visible token in the browser against the server's first token (issue 21).

    .venv/bin/python benchmarks/bench_first_token.py --label after            # 10 rounds a mode
    .venv/bin/python benchmarks/bench_first_token.py --label before --rounds 5

Starts `app.py` on 127.0.0.1 over a fresh data dir (seeds/ ingested), twice: offline (the extractive
answerer) and generative (an OpenAI-compatible model served by this script on 127.0.0.1, streaming a
word every 50 ms). Real Chromium (/usr/bin/chromium, Playwright) asks a question per round and records,
on the page's clock (the same system clock as this process):

- `click`: Send pressed; `bubble`: the answer's bubble (or typing indicator) appears;
- `sse_text`: the first server-sent event carrying the answer's text reaches the page;
- `visible`: the first answer text is in the bubble, at the next animation frame (painted);
- `states`: the distinct non-empty texts the bubble showed before the answer was complete.

The server's first token: generative, the moment the model wrote its first word (lag = visible − that);
offline, the API's own first streamed token for the same question (`POST /v1/chat/completions`), measured
just before. Results are merged under `--label` in benchmarks/results/first_token.json.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from benchmarks.benchlib import load_result, meta, save_result, summary
from benchmarks.run_load_test import HOST, free_port, start_app

CHROMIUM = "/usr/bin/chromium"
QUESTIONS = [
    "With which country is Russia jointly chairing the Mine Action Centre?",
    "What did Lavrov thank Malaysia for regarding the conflict in Ukraine?",
    "What documents were signed in Vientiane?",
]
WORDS = "Quillon reports that Russia jointly chairs the Mine Action Centre with Cambodia [1]. " * 3
NEEDLE = "Quillon"  # the generated answer's first word: nothing else on the page says it

# Installed before the app's own scripts: timestamps (epoch ms) of the server-sent events that carry the
# needle, whether Gradio reads them through fetch or EventSource.
SSE_PROBE = r"""
(() => {
  const now = () => performance.timeOrigin + performance.now();
  window.__sse = [];
  window.__trace = [];
  window.__needle = null;
  const note = (text) => {
    for (const m of text.matchAll(/"msg":\s*"(\w+)"/g)) window.__trace.push([now(), 'sse ' + m[1]]);
    if (window.__needle && text.includes(window.__needle)) window.__sse.push(now());
  };
  const fetch0 = window.fetch;
  window.fetch = async (...args) => {
    const url = String(args[0] && args[0].url || args[0]).replace(location.origin, '');
    window.__trace.push([now(), 'fetch ' + url.split('?')[0]]);
    const response = await fetch0(...args);
    window.__trace.push([now(), 'response ' + url.split('?')[0]]);
    if (url.includes('queue/data') && response.body) {
      const reader = response.clone().body.getReader();
      const decoder = new TextDecoder();
      (async () => { for (;;) { const { done, value } = await reader.read(); if (done) break;
        note(decoder.decode(value, { stream: true })); } })().catch(() => {});
    }
    return response;
  };
  const ES = window.EventSource;
  if (ES) window.EventSource = class extends ES {
    constructor(...a) { super(...a); this.addEventListener('message', (e) => note(String(e.data))); }
  };
})();
"""

# Watches the chat from the click on: the answer's bubble, its first text, and every text it shows.
WATCH = r"""
([needle, question]) => {
  const now = () => performance.timeOrigin + performance.now();
  const w = { bubble: null, visible: null, states: [] };
  window.__watch = w;
  window.__needle = needle;
  window.__sse = [];
  window.__trace = [];
  const text = () => {
    const users = document.querySelectorAll('#chatbot [data-testid="user"]');
    const bots = document.querySelectorAll('#chatbot [data-testid="bot"]');
    // this question's answer only, not what an earlier one still shows
    if (users.length !== 1 || users[0].innerText.trim() !== question || bots.length !== 1) return null;
    const content = bots[bots.length - 1].querySelector('.message-content') || bots[bots.length - 1];
    return content.innerText.trim();
  };
  const look = () => {
    const t = text();
    if (t === null) return;
    if (w.bubble === null) w.bubble = now();
    if (t && t.includes(needle) && w.states[w.states.length - 1] !== t) w.states.push(t);
    if (w.visible === null && t.includes(needle)) requestAnimationFrame(() => { w.visible = now(); });
  };
  window.__observer && window.__observer.disconnect();
  window.__observer = new MutationObserver(look);
  window.__observer.observe(document.querySelector('#chatbot'),
    { childList: true, subtree: true, characterData: true });
  w.click = now();
}
"""


class Model:
    """An OpenAI-compatible chat server streaming WORDS a word at a time; notes when it wrote the first."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.first_word: list[float] = []  # epoch ms, one per streamed request
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}/v1"

    @contextmanager
    def running(self) -> Iterator[Model]:
        model = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                payload = json.dumps({"object": "list", "data": [{"id": "bench-model", "object": "model"}]})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(payload.encode())

            def do_POST(self) -> None:
                json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                try:
                    for i, word in enumerate(re.findall(r"\S+\s*", WORDS)):
                        delta = {"content": word} | ({"role": "assistant"} if i == 0 else {})
                        chunk = {"id": "b", "object": "chat.completion.chunk", "created": 0, "model": "m"}
                        chunk["choices"] = [{"index": 0, "delta": delta, "finish_reason": None}]
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                        if i == 0:
                            model.first_word.append(time.time() * 1000)
                        time.sleep(model.delay)
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

        server = ThreadingHTTPServer((HOST, self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


def api_first_token(url: str, question: str) -> tuple[float, str]:
    """The API's first streamed token for `question`: (ms from the request, the answer's first words)."""
    model = httpx.get(f"{url}/v1/models", timeout=30).json()["data"][0]["id"]
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": question}]}
    started, first, text = time.perf_counter(), None, ""
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=120) as response:
        for line in response.iter_lines():
            if not line.startswith("data: {"):
                continue
            delta = json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
            if delta and first is None:
                first = (time.perf_counter() - started) * 1000
            text += delta
    return first or float("nan"), text


def ask(page: Any, question: str, needle: str) -> dict[str, Any]:
    """One question in the browser, from a cleared chat; the page's timestamps (epoch ms)."""
    page.locator("#clear").click()
    page.wait_for_function("document.querySelectorAll('#chatbot [data-testid=\"bot\"]').length === 0")
    page.locator("#question textarea").fill(question)
    page.evaluate(WATCH, [needle, question])
    page.locator("#send").click()
    asked = "document.querySelector('#chatbot [data-testid=\"user\"]') !== null"
    try:
        page.wait_for_function(asked, timeout=15_000)
    except Exception:  # a load event emptied the box before the click: ask again, from a fresh watch
        page.locator("#question textarea").fill(question)
        page.evaluate(WATCH, [needle, question])
        page.locator("#send").click()
    try:
        page.wait_for_function("window.__watch.visible !== null", timeout=60_000)
    except Exception:
        print("no answer text seen; the chat shows:", page.locator("#chatbot").inner_text()[-500:])
        raise
    page.wait_for_function(
        "document.querySelector('#send') !== null && document.querySelector('#stop') === null",
        timeout=120_000,
    )
    page.wait_for_timeout(300)
    watch: dict[str, Any] = page.evaluate("window.__watch")
    sse = page.evaluate("window.__sse")
    trace = [[round(t - watch["click"], 1), what] for t, what in page.evaluate("window.__trace")]
    trace += [[round(watch[k] - watch["click"], 1), k] for k in ("bubble", "visible") if watch[k]]
    trace.sort(key=lambda event: float(event[0]))
    return {**watch, "sse_text": sse[0] if sse else None, "states": len(watch["states"]), "trace": trace}


def rounds(url: str, n: int, model: Model | None) -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox"])
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.add_init_script(SSE_PROBE)
        page.goto(url)
        page.locator("#question textarea").wait_for()
        page.wait_for_timeout(3000)  # the page's load events (which set the chat and the box) are done
        for i in range(n + 1):  # the first round warms up and is not kept
            question = QUESTIONS[i % len(QUESTIONS)]
            server_ms, needle = float("nan"), NEEDLE
            if model is None:
                server_ms, text = api_first_token(url, question)
                needle = text.strip()[:12]
            seen = ask(page, question, needle)
            row = {
                "question": question,
                "click_to_bubble_ms": seen["bubble"] - seen["click"] if seen["bubble"] else None,
                "click_to_visible_ms": seen["visible"] - seen["click"],
                "sse_to_visible_ms": seen["visible"] - seen["sse_text"] if seen["sse_text"] else None,
                "states": seen["states"],
            }
            if model is not None:
                first = model.first_word[-1]
                row["model_first_to_sse_ms"] = seen["sse_text"] - first if seen["sse_text"] else None
                row["model_first_to_visible_ms"] = seen["visible"] - first
            else:
                row["api_first_token_ms"] = server_ms
            print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()}))
            row["trace"] = seen["trace"]
            if i:
                out.append(row)
        browser.close()
    return out


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = sorted(
        {k for row in rows for k, v in row.items() if isinstance(v, (int, float)) and k != "states"}
    )
    return {k: summary([row[k] for row in rows if row.get(k) is not None]) for k in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="where the runs go in the results, e.g. before, after")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--modes", default="extractive,generative")
    parser.add_argument("--word-delay", type=float, default=0.05, help="seconds between the model's words")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-first-token-"))
    run: dict[str, Any] = {"meta": meta()}
    try:
        for mode in args.modes.split(","):
            model = Model(args.word_delay) if mode == "generative" else None
            extra = {"RAG_LLM_PROVIDER": "extractive"}
            if model is not None:
                extra = {"RAG_LLM_PROVIDER": "openai-compatible", "RAG_LLM_BASE_URL": model.url,
                         "RAG_LLM_MODEL": "bench-model", "RAG_LLM_MAX_RETRIES": "0"}  # fmt: skip
            with model.running() if model is not None else _nothing():
                process, url = start_app(work / "data", "", work / f"{mode}.log", **extra)
                try:
                    rows = rounds(url, args.rounds, model)
                finally:
                    process.terminate()
                    process.wait(30)
            run[mode] = {"summary": summarise(rows), "rounds": rows}
    finally:
        for log in work.glob("*.log"):
            shutil.copy(log, Path(tempfile.gettempdir()) / f"bench-first-token-{log.name}")
        shutil.rmtree(work, ignore_errors=True)
    data = load_result("first_token")
    data.setdefault("runs", {})[args.label] = run
    print(save_result("first_token", data))
    print(json.dumps({mode: run[mode]["summary"] for mode in args.modes.split(",")}, indent=1))


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    main()
