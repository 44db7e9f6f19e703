"""A stand-in for OpenAI's cloud (which tests cannot reach), speaking the real chat-completions wire format.

It answers from the passages in the prompt like an obedient model would, and can be told to misbehave:
`mode` = "grounded" (cites [1] and an invalid [9]), "ungrounded" (cites nothing), "unsupported" (a second
sentence its cited passage does not hold), "slow" (sleeps first),
"error" (HTTP 500), "empty" (no content at all).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse


@dataclass
class FakeState:
    mode: str = "grounded"
    delay: float = 0.0
    in_flight: int = 0
    max_in_flight: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)


def _answer(body: dict[str, Any], mode: str) -> str:
    system = next((m["content"] for m in body["messages"] if m["role"] == "system"), "")
    if system.startswith("Rewrite"):
        return (
            body["messages"][-1]["content"]
            .replace("Last question:", "")
            .replace("Standalone question:", "")
            .strip()
        )
    user = body["messages"][-1]["content"] if body["messages"][-1]["role"] == "user" else ""
    first = re.search(r'<document n="1"[^>]*>\n(.+?)\n</document>', user, re.S)
    body_text = re.sub(r"^#+ .*$", "", first.group(1), flags=re.M).strip() if first else ""
    sentence = re.split(r"(?<=[.!?])\s", body_text)[0] if body_text else "Nothing."
    if mode == "empty":
        return ""
    if mode == "ungrounded":
        return f"I believe the answer is well known: {sentence}"
    if mode == "unsupported":  # one sentence the passage holds, one it does not
        return f"{sentence} [1] The warranty on it lasts 99 years, according to Zorblat Industries [1]."
    return f"{sentence} [1] This is also noted elsewhere [9]."


def make_app(state: FakeState) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": "gpt-fake", "object": "model", "created": 0, "owned_by": "t"}],
        }

    @app.post("/v1/chat/completions", response_model=None)
    async def completions(request: Request) -> Any:
        body = await request.json()
        if request.headers.get("authorization") != "Bearer sk-test":
            return JSONResponse({"error": {"message": "bad key", "type": "invalid_request_error"}}, 401)
        state.requests.append(body)
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            if state.mode == "slow" or state.delay:
                await asyncio.sleep(state.delay or 5)
            if state.mode == "error":
                return JSONResponse({"error": {"message": "boom", "type": "server_error"}}, 500)
            text = _answer(body, state.mode)
        finally:
            state.in_flight -= 1
        base = {"id": "chatcmpl-fake", "created": int(time.time()), "model": body["model"]}
        if not body.get("stream"):
            return {
                **base,
                "object": "chat.completion",
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
            }

        def frames():
            for i, word in enumerate(re.findall(r"\S+\s*", text)):
                delta = {"role": "assistant", "content": word} if i == 0 else {"content": word}
                chunk = {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                }
                yield f"data: {json.dumps(chunk)}\n\n"
            end = {
                **base,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
            yield f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n"

        return StreamingResponse(frames(), media_type="text/event-stream")

    return app


class FakeOpenAI:
    """Runs the fake on 127.0.0.1 in a thread; `.url` is the base URL ending in /v1."""

    def __init__(self, port: int) -> None:
        self.state = FakeState()
        self.port = port
        self.url = f"http://127.0.0.1:{port}/v1"
        config = uvicorn.Config(make_app(self.state), host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> FakeOpenAI:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
