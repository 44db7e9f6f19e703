"""Request and response models of the HTTP API. The answer itself is `assistant.schemas.AnswerPayload`,
shared with the CLI; citations and passages are the answering package's own models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from assistant.access.scopes import MAX_NAME_CHARS, MAX_SOURCES
from assistant.answering.citations import Citation
from assistant.schemas import AnswerPayload
from vectorstore.ingest import DocumentInfo

__all__ = ["AnswerPayload"]

NOT_BLANK = r"\S"  # JSON Schema patterns search: at least one character that is not white space
# N17: the schema states the bound that `scope_for` enforces for every door
DocumentName = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]


# -- OpenAI-compatible ---------------------------------------------------------------------------------------
# Requests are validated strictly (no "1" for 1, no 0 for false): what the schema says is what is accepted.
class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") in ("text", None))
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    """OpenAI's request; fields we do not use (temperature, tools, ...) are accepted and ignored."""

    model_config = ConfigDict(extra="allow", strict=True)
    model: str = Field(description="The id from GET /v1/models.")
    messages: list[ChatMessage] = Field(min_length=1, description="The last one must come from the user.")
    stream: bool = False


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    """OpenAI's chat.completion, plus the cited passages and the `ungrounded` flag."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    citations: list[Citation]
    ungrounded: bool


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "grounded-assistant"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# -- native ------------------------------------------------------------------------------------------------
class HistoryTurn(BaseModel):
    model_config = ConfigDict(strict=True)
    role: Literal["user", "assistant"]
    content: str


class ChatRequest(BaseModel):
    model_config = ConfigDict(strict=True)
    message: str = Field(
        min_length=1,
        description="The question; at most RAG_MAX_MESSAGE_CHARS characters.",
        json_schema_extra={"pattern": NOT_BLANK},
    )
    history: list[HistoryTurn] = Field(
        default_factory=list, description="Earlier turns; at most RAG_MAX_HISTORY_TURNS questions."
    )
    k: int | None = Field(None, ge=1, le=50, description="Passages to retrieve (default RAG_K).")
    conversation_id: str | None = Field(
        None,
        max_length=64,
        description="Continue this stored conversation: its history is loaded server-side (`history` is then "
        "ignored). Absent: a new conversation is created; either way its id is returned.",
    )
    collection: str | list[str] | None = Field(
        None,
        description="Search only this collection (or these); default: every collection the caller may use.",
    )
    sources: list[DocumentName] | None = Field(
        None,
        max_length=MAX_SOURCES,
        description=f"Search only these documents (names as in GET /api/documents); at most {MAX_SOURCES}.",
    )


class ChatResponse(AnswerPayload):
    conversation_id: str | None = Field(
        None,
        description="The stored conversation this exchange was added to (send it with the next message).",
    )
    message_id: int | None = Field(
        None, description="The stored answer's id: rate it with POST /api/feedback (None when not stored)."
    )


# -- feedback (issue 23) -----------------------------------------------------------------------------------
class FeedbackCreate(BaseModel):
    model_config = ConfigDict(strict=True)
    # le: the column is a 32-bit integer (PostgreSQL refuses a larger one with an error, not a miss)
    message_id: int = Field(
        ge=1, le=2**31 - 1, description="The answer rated: `message_id` from POST /api/chat."
    )
    rating: Literal["up", "down"]
    wrong_source: bool = Field(False, description="The answer rests on the wrong passages or documents.")
    comment: str = Field("", max_length=2000, description="Optional, at most 2000 characters; kept as text.")


class FeedbackOut(BaseModel):
    """A rating with what it rates: the question as asked, the answer, its citations and its trace (the
    standalone query, the chunks retrieved with their scores, the scope, the store version, the settings)."""

    id: int
    message_id: int
    conversation_id: str
    rating: Literal["up", "down"]
    wrong_source: bool
    comment: str
    created_at: datetime
    updated_at: datetime
    question: str
    answer: str
    citations: list[dict[str, Any]]
    trace: dict[str, Any]
    user: str = Field(description="Who gave it: a user's name, a key's fingerprint, or '' (single-user app).")


class FeedbackList(BaseModel):
    feedback: list[FeedbackOut]


# -- conversations -----------------------------------------------------------------------------------------
class ConversationSummary(BaseModel):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    messages: int


class ConversationList(BaseModel):
    conversations: list[ConversationSummary]


class ConversationMessage(BaseModel):
    role: Literal["user", "assistant"]
    content: str
    citations: list[dict[str, Any]] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
    created_at: datetime


class ConversationDetail(BaseModel):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    messages: list[ConversationMessage]


class ConversationRename(BaseModel):
    model_config = ConfigDict(strict=True)
    title: str = Field(min_length=1, max_length=200, json_schema_extra={"pattern": NOT_BLANK})


class ConversationDeleted(BaseModel):
    deleted: str


class DocumentList(BaseModel):
    documents: list[DocumentInfo]  # the ingest service's own record, so its new fields show here too


class IngestedFile(BaseModel):
    """The file name and the ingest report's fields (files_seen, chunks_added, chunks_removed, skipped...)."""

    model_config = ConfigDict(extra="allow")
    filename: str


class UploadResult(BaseModel):
    ingested: list[IngestedFile]


class DeleteResult(BaseModel):
    deleted: str
    chunks_removed: int


# -- ingestion jobs ----------------------------------------------------------------------------------------
JobStateName = Literal["queued", "running", "done", "failed", "cancelled"]
StageName = Literal["reading", "parsing", "chunking", "embedding", "saving", "indexing"]


class JobFile(BaseModel):
    name: str
    state: JobStateName
    chunks: int = Field(
        description="Chunks of this file embedded so far (reported after each batch the model runs; written "
        "to the store in batches of 64)."
    )
    chunks_total: int | None = Field(
        description="Chunks this file has to embed (unchanged ones are kept); null until it is chunked."
    )
    error: str | None = Field(description="Why this file could not be ingested.")
    stage: StageName | None = Field(
        None,
        description="What the running file is doing: reading, parsing (text extraction), chunking, "
        "embedding, saving, indexing (the keyword index); null while queued and once it ended.",
    )
    stage_started_at: float | None = Field(None, description="When the file entered its stage (Unix time).")
    pages: int = Field(0, description="Pages of this file parsed so far (a PDF's).")
    pages_total: int | None = Field(None, description="The PDF's pages; null for other files.")


class JobLinks(BaseModel):
    job: str = Field(description="GET: the job's state and progress; DELETE: cancel it.")
    documents: str = Field(description="The documents, once the job is done.")


class JobInfo(BaseModel):
    """An upload ingested in the background (`POST /api/documents?wait=false`)."""

    id: str = Field(description="Unguessable: poll GET /api/jobs/{id}.")
    name: str
    state: JobStateName
    cancel_requested: bool = Field(
        description="A cancel was asked for; a running job stops at its next batch."
    )
    files_done: int = Field(description="Files finished (done or failed).")
    files_total: int
    chunks_done: int = Field(description="Chunks embedded, over all files so far.")
    chunks_total: int = Field(description="Chunks to embed of the files chunked so far (grows file by file).")
    percent: int = Field(
        0,
        ge=0,
        le=100,
        description="How much of the job is done: each file counts equally, a running one by its share of "
        "chunks embedded (a PDF: a quarter for its pages parsed, the rest for its chunks); 100 only once the "
        "job has ended.",
    )
    files: list[JobFile]
    report: UploadResult | None = Field(None, description="The ingest report, once the job has ended.")
    error: str | None = Field(None, description="Why the job failed, or that it was cancelled.")
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    links: JobLinks


class JobList(BaseModel):
    jobs: list[JobInfo] = Field(
        description="Pending and recently finished jobs (the last 100, up to an hour), newest first."
    )


# -- ops ---------------------------------------------------------------------------------------------------
class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    chunks: int = Field(description="Chunks in the store; -1 when it cannot be read.")
    model: str
    problems: dict[str, str] | None = Field(None, description="What is not ready, by component.")
