"""Locust users for the load test: mixed chat, streamed chat, document listing, upload + delete, readiness.

Run through `benchmarks/run_load_test.py`, which starts the real app on 127.0.0.1 and runs Locust headless
with bounded users and time. Every request carries the API key (the gate is part of what is measured).
A response is a failure when it is a server error (5xx) or not what the request should get; an upload refused
because the ingestion queue is full (503 + Retry-After) is counted apart as `queue_full`, not hidden.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import uuid
from urllib.parse import urlsplit

from locust import HttpUser, between, events, task

KEY = os.environ.get("LOAD_TEST_KEY", "")
QUESTIONS = [
    "With which country is Russia jointly chairing the Mine Action Centre?",
    "What did Lavrov thank Malaysia for regarding the conflict in Ukraine?",
    "What documents were signed in Vientiane?",
    "What happened during Lavrov's meeting in Vientiane with the Lao minister?",
    "How do I bake sourdough bread?",  # refused: nothing relevant
]
_names = itertools.count()


@events.test_start.add_listener
def _only_local(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    host = urlsplit(environment.host or "").hostname
    if host != "127.0.0.1":
        raise SystemExit(f"the load test only targets 127.0.0.1, not {environment.host!r}")


class AssistantUser(HttpUser):
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        if KEY:
            self.client.headers["Authorization"] = f"Bearer {KEY}"

    @task(6)
    def chat(self) -> None:
        with self.client.post(
            "/api/chat",
            json={"message": random.choice(QUESTIONS)},
            name="POST /api/chat",
            catch_response=True,
        ) as r:
            if r.status_code != 200 or "answer" not in r.json():
                r.failure(f"{r.status_code}: {r.text[:200]}")

    @task(3)
    def chat_streamed(self) -> None:
        body = {
            "model": "grounded-assistant",
            "messages": [{"role": "user", "content": random.choice(QUESTIONS)}],
            "stream": True,
        }
        with self.client.post(
            "/v1/chat/completions",
            json=body,
            stream=True,
            name="POST /v1/chat/completions (stream)",
            catch_response=True,
        ) as r:
            lines = [line for line in r.iter_lines() if line]
            if r.status_code != 200 or not lines or lines[-1] != b"data: [DONE]":
                r.failure(f"{r.status_code}: stream did not end with [DONE]")
            elif any(b'"error"' in line for line in lines):
                r.failure("the stream carried an error event")

    @task(2)
    def list_documents(self) -> None:
        self.client.get("/api/documents", name="GET /api/documents")

    @task(1)
    def readiness(self) -> None:
        self.client.get("/readyz", name="GET /readyz")

    @task(1)
    def upload_and_delete(self) -> None:
        name = f"load-{os.getpid()}-{next(_names)}-{uuid.uuid4().hex[:6]}.txt"
        text = (
            f"Load test note {name}. The Varnholt committee on harbour dues met in Bergen on a Tuesday. "
            "It agreed to review the fees every spring and to publish the minutes within a week.\n"
        )
        with self.client.post(
            "/api/documents",
            files={"files": (name, text.encode(), "text/plain")},
            name="POST /api/documents",
            catch_response=True,
        ) as r:
            if r.status_code == 503 and r.headers.get("retry-after"):
                events.request.fire(
                    request_type="INFO",
                    name="queue_full",
                    response_time=0,
                    response_length=0,
                    exception=None,
                    context={},
                )
                r.success()
                return
            if r.status_code != 200:
                r.failure(f"{r.status_code}: {r.text[:200]}")
                return
        with self.client.delete(
            f"/api/documents/{name}", name="DELETE /api/documents/{source}", catch_response=True
        ) as r:
            if r.status_code != 200 or json.loads(r.text).get("deleted") != name:
                r.failure(f"{r.status_code}: {r.text[:200]}")
