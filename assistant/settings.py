"""One typed settings object decides every provider; nothing else reads the environment."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent

LLMProvider = Literal["auto", "openai", "openai-compatible", "llamacpp", "extractive"]
EmbeddingsProvider = Literal["local", "openai", "openai-compatible"]


# The userinfo ends at the LAST `@` of the authority: a password may hold `@` (S16-residual).
_USERINFO = re.compile(r"(?<=://)[^/\s?#]*@")
_SECRET_QUERY = re.compile(
    r"(?i)([?&](?:api[-_]?key|key|token|access_token|password|passwd|pwd|sslpassword|secret|sig)=)[^&#\s]*"
)


def redact_url(url: str) -> str:
    """A URL safe to show: user:password@ dropped, key-like query parameters masked (S16)."""
    return _SECRET_QUERY.sub(r"\1****", _USERINFO.sub("", url))


def redact_urls(text: str) -> str:
    """Every URL inside a message (an error, a model label) redacted as `redact_url` does."""
    return redact_url(text) if "://" in text or "=" in text else text


class Settings(BaseSettings):
    """Every knob of the assistant, from `RAG_*` env vars, a `.env` file, or keyword arguments."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Where things live
    data_dir: Path = Field(ROOT / "data", description="Chroma store, keyword index and uploads.")
    docs_dir: Path = Field(ROOT / "seeds", description="Documents ingested by default.")
    collection: str = Field("documents", description="Chroma collection name.")
    chroma_host: str | None = Field(None, description="Chroma server host; unset = embedded store.")
    chroma_port: int = Field(8000, description="Chroma server port.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the users/conversations database, e.g. "
        "postgresql+psycopg://user:password@host/db; unset = SQLite file assistant.db in the data dir.",
    )

    # Chunking and retrieval
    chunk_size: int = Field(
        800,
        ge=100,
        le=8000,
        description="Characters per chunk; a change re-chunks every file when next ingested.",
    )
    chunk_overlap: int = Field(120, ge=0, le=2000, description="Characters shared by neighbouring chunks.")
    k: int = Field(6, ge=1, le=50, description="Ranked passages given to the answerer.")
    section_leads: int = Field(
        3,
        ge=0,
        le=10,
        description="The top N passages each bring their section's opening chunk (added to the k).",
    )
    part_passages: int = Field(
        2,
        ge=0,
        le=5,
        description='A question asking two or more things ("..., and which ...") is also searched part by '
        "part; each part's N best passages join the k when not among them (0 = off; one embedding per part).",
    )
    duplicate_overlap: float = Field(
        0.9,
        ge=0.5,
        le=1.0,
        description="A passage sharing this share of its words (Jaccard) with one ranked above it, and "
        "no different number, as the same text in two versions or copies of a document does, is skipped "
        "for the next (1.0 = off).",
    )
    retrieval_mode: Literal["hybrid", "dense", "bm25"] = Field("hybrid", description="How passages are found")
    min_relevance: float = Field(
        0.25, description="Cosine similarity below which a passage is not relevant enough to answer from."
    )

    # Embeddings
    embeddings_provider: EmbeddingsProvider = Field("local", description="Where vectors come from.")
    embeddings_model: str = Field(
        "all-MiniLM-L6-v2", description="Model name (local: bundled all-MiniLM-L6-v2 or a local path)."
    )
    embeddings_base_url: str | None = Field(None, description="OpenAI-compatible embeddings server.")
    embeddings_api_key: SecretStr | None = Field(None, description="Key for the embeddings server.")
    embeddings_backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx-int8",
        description="How the local model runs: onnx-int8 (int8 weights on ONNX Runtime, 2.6x torch's speed, "
        "same retrieval), onnx (fp32) or torch (sentence-transformers); each is its own embedding id, so "
        "switching needs `assistant ingest --reindex`.",
    )
    embeddings_threads: int | None = Field(
        None, ge=1, description="CPU threads for the local embedding model; unset = the cores available."
    )
    embeddings_cache_dir: Path | None = Field(
        None, description="Where ONNX exports of the local model are kept; unset: ~/.cache/grounded-assistant"
    )

    # Chat model
    llm_provider: LLMProvider = Field(
        "auto", description="Who answers; `auto`: OpenAI with a key, else offline extractive."
    )
    llm_model: str = Field("gpt-4o-mini", description="Chat model name for openai/openai-compatible.")
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1"
    )
    llm_api_key: SecretStr | None = Field(None, description="Key for the model server, if it wants one.")
    openai_api_key: SecretStr | None = Field(
        None, validation_alias="OPENAI_API_KEY", description="OpenAI key; with it `auto` means OpenAI."
    )
    llm_temperature: float = Field(0.1, ge=0.0, le=2.0, description="Sampling temperature.")
    llm_max_tokens: int = Field(512, ge=16, le=32000, description="Longest answer, in tokens.")
    llm_context_window: int = Field(
        8192, ge=512, description="Model context window in tokens; prompts are trimmed to fit."
    )
    llm_timeout: float = Field(60.0, gt=0, description="Seconds to wait for the model server.")
    llm_max_retries: int = Field(2, ge=0, le=10, description="Retries of a failed model call.")
    llm_model_path: Path | None = Field(None, description="GGUF file for the llamacpp provider.")
    llm_threads: int | None = Field(None, ge=1, description="CPU threads for the llamacpp provider.")

    # Server
    host: str = Field("127.0.0.1", description="Interface to serve on.")
    port: int = Field(7860, ge=1, le=65535, description="Port of the UI and the API.")
    api_keys: str | None = Field(
        None,
        description="Comma-separated keys; when set, every route but /healthz, /readyz and /login needs one "
        "(bots: `Authorization: Bearer <key>`; browsers sign in at /login and get a session cookie).",
    )
    session_secret: SecretStr | None = Field(
        None,
        description="Signs browser session cookies; unset: generated once into RAG_DATA_DIR/session_secret "
        "(mode 0600).",
    )
    mcp_api_key: SecretStr | None = Field(
        None,
        description="`assistant mcp` (stdio) acts as the holder of this key (one of RAG_API_KEYS: an admin; "
        "a user's key: that user and their collections); unset: the local admin, as the other CLI commands.",
    )
    session_hours: float = Field(12.0, gt=0, description="How long a browser session lasts, in hours.")
    sign_in_concurrency: int = Field(
        1, ge=1, le=64, description="Password checks run at once (argon2: 64 MB and a core each); more wait."
    )
    trusted_proxies: str | None = Field(
        None,
        description="Comma-separated addresses of reverse proxies whose X-Forwarded-For is believed (sign-in "
        "throttling counts the client's address); unset: none, the peer's address is the client's.",
    )
    allowed_hosts: str | None = Field(
        None,
        description="Comma-separated Host names the server answers to (DNS-rebinding guard); unset: "
        "localhost, 127.0.0.1, ::1 and RAG_HOST. `*` allows any.",
    )
    max_message_chars: int = Field(4000, ge=1, description="Longest question, in characters.")
    max_turn_chars: int = Field(
        8000, ge=1, description="Longest earlier message of a conversation, in characters."
    )
    max_history_chars: int = Field(
        48000, ge=0, description="Most characters in a conversation's earlier messages together."
    )
    max_history_turns: int = Field(50, ge=0, description="Most earlier questions in a conversation.")
    max_request_kb: int = Field(
        1024,
        ge=64,
        description="Largest JSON request body on /api and /v1, in KB (413 beyond it).",
    )
    max_upload_mb: float = Field(20.0, gt=0, description="Largest upload, in MB.")
    max_upload_files: int = Field(
        10, ge=1, le=1000, description="Most files in one upload request (API and UI)."
    )
    ui_queue_size: int = Field(
        64, ge=1, description="Most UI requests waiting in Gradio's queue; more are refused with a message."
    )
    ingest_workers: int = Field(1, ge=1, le=8, description="Uploads ingested at the same time.")
    ingest_queue: int = Field(
        16, ge=1, description="Most uploads waiting to be ingested; more are refused (503, Retry-After)."
    )
    ingest_in_process: bool = Field(
        True,
        description="Each app process also takes queued ingestion jobs (RAG_INGEST_WORKERS threads); false "
        "when `assistant worker` processes do it (docs/deployment.md).",
    )
    job_lease_seconds: float = Field(
        30.0,
        ge=2,
        le=3600,
        description="How long a worker's hold on a job lasts without renewal: a worker killed mid-job loses "
        "the job to another this long after.",
    )
    model_id: str = Field("grounded-assistant", description="Model id the API announces.")

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        """`RAG_LLM_BASE_URL=` in a .env means unset, not the empty string."""
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value != ""}
        return data

    @property
    def resolved_llm_provider(self) -> str:
        """`auto` means OpenAI when a key is set, else the offline extractive answerer."""
        if self.llm_provider != "auto":
            return self.llm_provider
        return "openai" if self.openai_api_key else "extractive"

    @property
    def api_key_list(self) -> list[str]:
        return [key.strip() for key in (self.api_keys or "").split(",") if key.strip()]

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [p.strip() for p in (self.trusted_proxies or "").split(",") if p.strip()]

    @property
    def allowed_host_list(self) -> list[str]:
        """Host names the server answers to: RAG_ALLOWED_HOSTS, else the local names and the bind host."""
        if self.allowed_hosts:
            return [h.strip() for h in self.allowed_hosts.split(",") if h.strip()]
        hosts = ["localhost", "127.0.0.1", "::1", "[::1]"]
        if self.host not in hosts and self.host not in ("0.0.0.0", "::", ""):
            hosts.append(self.host)
        return hosts

    def describe(self) -> dict[str, Any]:
        """Effective values with secrets masked, for `assistant config` and the UI."""
        values = self.model_dump()
        for key, value in values.items():
            if isinstance(getattr(self, key), SecretStr) and value is not None:
                values[key] = "****"
            elif isinstance(value, Path):
                values[key] = str(value)
            elif isinstance(value, str) and key.endswith("_url") and key != "database_url":
                values[key] = redact_url(value)  # S16: no user:password@ or ?key= from a URL setting
        if values.get("api_keys"):
            values["api_keys"] = f"**** ({len(self.api_key_list)} keys)"
        if values.get("database_url"):  # the URL without its password
            from sqlalchemy import make_url
            from sqlalchemy.exc import ArgumentError

            try:
                shown = make_url(values["database_url"]).render_as_string(hide_password=True)
                # S16-residual: `?password=` masked too; a password holding a raw `@` is parsed into the
                # host by SQLAlchemy (user:***@tail@host): then all of the userinfo goes
                many = shown.count("@") > 1
                values["database_url"] = redact_url(shown) if many else _SECRET_QUERY.sub(r"\1****", shown)
            except ArgumentError:
                values["database_url"] = "**** (not a valid URL)"
        values["llm_provider (resolved)"] = self.resolved_llm_provider
        return values
