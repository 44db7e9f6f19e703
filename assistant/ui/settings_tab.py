"""The Settings tab: which model answers, the passages slider, and every effective setting."""

from __future__ import annotations

from typing import Any

import gradio as gr

from assistant.access import Gate
from assistant.settings import Settings
from assistant.ui.access import is_admin


def mode_text(extractive: bool, model_label: str) -> str:
    if extractive:
        return (
            "**Offline extractive mode.** No language model is used and nothing leaves this machine. "
            "Each answer is made of sentences copied word for word from your documents, each followed by "
            "its citation. It cannot paraphrase, summarise, or combine facts into new sentences, so ask "
            "specific questions. For written answers, start the server with a model: set "
            "`RAG_LLM_PROVIDER` (`openai`, `openai-compatible`, `llamacpp`) or `OPENAI_API_KEY`."
        )
    return (
        f"**Generative mode** with `{model_label}`. Answers are written by the model from the retrieved "
        "passages only, and cite them; an answer that cites nothing is flagged as not grounded."
    )


def passages_slider(settings: Settings) -> gr.Slider:
    """Passages per question (k): made here, rendered in this tab, read by the Chat tab's events."""
    return gr.Slider(
        1,
        20,
        value=settings.k,
        step=1,
        label="Passages retrieved per question (k)",
        info="More passages can find more, but add noise; applies to your next question.",
        elem_id="k",
        render=False,
    )


def effective_settings(settings: Settings, gate: Gate | None, request: gr.Request | None) -> dict[str, Any]:
    """The server's settings for an admin; a member is told they are an admin's to see (N8: no data dir,
    host or paths for members)."""
    if is_admin(gate, request):
        return settings.describe()
    return {"note": "The server's settings are shown to admins only."}


def build_settings_tab(
    settings: Settings,
    model_label: str,
    k: gr.Slider,
    demo: gr.Blocks | None = None,
    gate: Gate | None = None,
) -> None:
    provider = settings.resolved_llm_provider
    extractive = provider == "extractive"
    with gr.Tab("Settings", id="settings", elem_id="settings-tab"):
        gr.Markdown(mode_text(extractive, model_label), elem_id="mode-note", elem_classes=["notice"])
        with gr.Row():
            gr.Textbox(value=model_label, label="Answering model", interactive=False, elem_id="model-name")
            gr.Textbox(
                value=provider + (" (offline)" if extractive else ""),
                label="Provider",
                interactive=False,
                elem_id="provider",
            )
            gr.Textbox(
                value=f"{settings.embeddings_model} ({settings.embeddings_provider})",
                label="Embedding model",
                interactive=False,
                elem_id="embedding-model",
            )
        k.render()
        with gr.Accordion("All effective settings (set by RAG_* environment variables)", open=False):
            # filled per request (never in the page's config, which every signed-in person can read)
            shown = gr.JSON(None, label="Effective settings", elem_id="effective-settings")
    if demo is not None:

        def on_load(request: gr.Request) -> dict[str, Any]:
            return effective_settings(settings, gate, request)

        demo.load(on_load, None, shown, api_visibility="private")
