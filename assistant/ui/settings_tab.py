"""The Settings tab: which model answers, the passages slider, and every effective setting."""

from __future__ import annotations

import gradio as gr

from assistant.settings import Settings


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


def build_settings_tab(settings: Settings, model_label: str, k: gr.Slider) -> None:
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
            gr.JSON(settings.describe(), label="Effective settings")
