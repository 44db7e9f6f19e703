"""Where answers and vectors come from: chat models (OpenAI, OpenAI-compatible servers, llama.cpp in-process)
and embeddings, built from the settings."""

from assistant.providers.factory import chat_model_from, embeddings_from, model_label, secret

__all__ = ["chat_model_from", "embeddings_from", "model_label", "secret"]
