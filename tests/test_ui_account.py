"""The UI says who is signed in and offers the way out (issue 21); the open single-user app says nothing."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from fastapi.testclient import TestClient
from starlette.requests import Request

from assistant.access.sessions import COOKIE
from assistant.container import build_container
from assistant.server import create_api
from assistant.settings import Settings
from assistant.ui.app import account_html


def as_gradio(cookie: str) -> gr.Request:
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"cookie", cookie.encode())],
             "query_string": b"", "scheme": "http", "server": ("localhost", 80)}  # fmt: skip
    return gr.Request(request=Request(scope))


def test_the_header_names_the_signed_in_person_and_signing_out_ends_the_session(tmp_path: Path) -> None:
    container = build_container(Settings(data_dir=tmp_path / "data"))
    app = create_api(container)
    gate = app.state.gate
    assert account_html(gate, as_gradio("")) == "", "no users yet: the open app names no one"
    assert container.storage is not None
    container.storage.users.add("bob", "correct horse battery")
    browser = TestClient(app, base_url="http://localhost")
    r = browser.post("/login", data={"name": "bob", "key": "correct horse battery"}, follow_redirects=False)
    cookie = f"{COOKIE}={browser.cookies[COOKIE]}"
    shown = account_html(gate, as_gradio(cookie))
    assert "Signed in as <strong>bob</strong> (member)" in shown and "href='/logout'" in shown
    assert browser.get("/logout", follow_redirects=False).headers["location"] == "/login"
    assert account_html(gate, as_gradio(cookie)) == "", "signed out: the old cookie names no one"
    assert r.status_code == 303
