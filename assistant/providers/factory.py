"""Chat-model and embeddings factories: one per kind, matching on the settings, importing optional
dependencies inside their branch."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from assistant.settings import Settings
from vectorstore.embeddings import LazyEmbeddings, build_embeddings
from vectorstore.errors import ProviderError


def secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def embeddings_from(settings: Settings) -> LazyEmbeddings:
    api_key = secret(settings.embeddings_api_key)
    if settings.embeddings_provider == "openai":
        api_key = api_key or secret(settings.openai_api_key)
    return build_embeddings(
        settings.embeddings_provider,
        settings.embeddings_model,
        base_url=settings.embeddings_base_url,
        api_key=api_key,
        backend=settings.embeddings_backend,
        threads=settings.embeddings_threads,
        cache_dir=settings.embeddings_cache_dir,
    )


def chat_model_from(settings: Settings) -> BaseChatModel | None:
    """The chat model, or None for the extractive answerer (which needs none)."""
    match settings.resolved_llm_provider:
        case "extractive":
            return None
        case "openai":
            key = secret(settings.llm_api_key) or secret(settings.openai_api_key)
            if not key:
                raise ProviderError("RAG_LLM_PROVIDER=openai needs OPENAI_API_KEY (or RAG_LLM_API_KEY)")
            return _chat_openai(settings, settings.llm_base_url, key)
        case "openai-compatible":
            if not settings.llm_base_url:
                raise ProviderError(
                    "RAG_LLM_PROVIDER=openai-compatible needs RAG_LLM_BASE_URL, "
                    "e.g. http://127.0.0.1:11434/v1 for Ollama or http://127.0.0.1:8080/v1 for llama.cpp"
                )
            return _chat_openai(settings, settings.llm_base_url, secret(settings.llm_api_key) or "not-needed")
        case "llamacpp":
            from assistant.providers.llamacpp import chat_llamacpp

            return chat_llamacpp(settings)
        case other:
            raise ProviderError(f"unknown RAG_LLM_PROVIDER {other!r}")


def _chat_openai(settings: Settings, base_url: str | None, api_key: str) -> BaseChatModel:
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as exc:
        raise ProviderError("pip install langchain-openai") from exc
    options: dict[str, Any] = {  # ChatOpenAI's pydantic aliases (max_tokens, timeout) are not typed
        "model": settings.llm_model,
        "base_url": base_url,
        "api_key": SecretStr(api_key),
        "temperature": settings.llm_temperature,
        "max_tokens": settings.llm_max_tokens,
        "timeout": settings.llm_timeout,
        "max_retries": settings.llm_max_retries,
        "streaming": True,
    }
    return ChatOpenAI(**options)


def model_label(settings: Settings) -> str:
    """What the UI and API say is answering."""
    match settings.resolved_llm_provider:
        case "extractive":
            return "extractive (offline, no generative model)"
        case "llamacpp":
            path = settings.llm_model_path
            return f"llamacpp: {path.name if path else '?'}"
        case "openai-compatible":
            return f"{settings.llm_model} @ {settings.llm_base_url}"
        case provider:
            return f"{provider}: {settings.llm_model}"
