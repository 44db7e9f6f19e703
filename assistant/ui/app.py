"""The Blocks app: a header, then one module per tab (Chat, Documents, Settings) over the container."""

from __future__ import annotations

import html

import gradio as gr

from assistant.access import Gate
from assistant.container import Container
from assistant.traces import answer_trace
from assistant.ui.access import principal_of
from assistant.ui.chat import build_chat_tab
from assistant.ui.conversations import Conversations
from assistant.ui.documents import build_documents_tab
from assistant.ui.feedback import build_feedback_tab
from assistant.ui.settings_tab import build_settings_tab, passages_slider
from assistant.ui.sidebar import build_sidebar


def theme() -> gr.themes.Base:
    """System fonts: the default theme fetches Google Fonts, which an offline machine cannot reach."""
    return gr.themes.Soft(
        font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
    )


def _header(extractive: bool, model_label: str) -> None:
    badge = (
        "<span class='mode-badge offline' id='mode-badge'>offline · extractive</span>"
        if extractive
        else f"<span class='mode-badge' id='mode-badge'>{html.escape(model_label)}</span>"
    )
    gr.HTML(
        f"<div class='app-header'><h1>Grounded assistant</h1>{badge}</div>"
        "<p class='tagline'>Answers only from your documents, and shows where each answer comes from</p>",
        js_on_load=None,
        elem_id="header",
    )


def account_html(gate: Gate | None, request: gr.Request | None) -> str:
    """Who is signed in, and the way out; nothing for the open single-user app (no one signs in)."""
    if gate is None or not gate.enabled:
        return ""
    principal = principal_of(gate, request)
    if principal is None:
        return ""
    who = principal.name or ("an access key" if principal.id.startswith("key:") else principal.id)
    role = "admin" if principal.is_admin else "member"
    return (
        f"<div class='account' id='account'>Signed in as <strong>{html.escape(who)}</strong> ({role}) · "
        "<a href='/logout' id='sign-out'>Sign out</a></div>"
    )


def build_ui(container: Container, gate: Gate | None = None) -> gr.Blocks:
    """The UI; with the server's `gate`, the Documents admin controls are an admin's only."""
    settings, chat = container.settings, container.chat
    # delete_cache: Gradio's upload cache is emptied of anything older than an hour (uploads are deleted as
    # soon as they are ingested; this catches abandoned ones).
    with gr.Blocks(title="Grounded assistant", analytics_enabled=False, delete_cache=(900, 3600)) as demo:
        _header(settings.resolved_llm_provider == "extractive", chat.model_label)
        account = gr.HTML("", elem_id="account-bar")

        def who(request: gr.Request) -> str:
            return account_html(gate, request)

        demo.load(who, None, account, api_visibility="private", queue=False)
        k = passages_slider(settings)
        conversations = (
            Conversations(
                container.storage,
                gate,
                container.ingest.list_documents,
                trace=lambda question, answer, k, scope: answer_trace(
                    settings, container.store, question, answer, k=k, scope=scope
                ),
            )
            if container.storage is not None
            else None
        )
        bar = build_sidebar() if conversations is not None else None
        with gr.Tabs(elem_id="tabs"):
            build_chat_tab(chat, k, settings.max_message_chars, demo, conversations, bar)
            build_documents_tab(
                demo,
                container.ingest,
                settings.max_upload_mb,
                container.ingest_queue,
                gate,
                storage=container.storage,
            )
            build_settings_tab(settings, chat.model_label, k, demo, gate)
            if conversations is not None:
                build_feedback_tab(conversations)
    # S3: a bounded queue (more waiting events are refused with "the queue is full") and bounded concurrency;
    # the chat events have their own limit (4, `answer`), uploads theirs (`upload`).
    demo.queue(max_size=settings.ui_queue_size, default_concurrency_limit=2)
    return demo
