"""The browser UI (Gradio): `app` composes one module per tab (`chat`, `documents`, `settings_tab`), the
Sources panel (`sources`) and the static assets (`assets`)."""

from assistant.ui.app import build_ui, theme
from assistant.ui.assets import CSS

__all__ = ["CSS", "build_ui", "theme"]
