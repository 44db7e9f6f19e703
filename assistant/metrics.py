"""Prometheus metrics, in a registry of their own built with the container (no process-wide state): the parts
that record are handed this object's callbacks (ChatService, IngestService, IngestQueue, the request
middleware) and GET /metrics renders it for admins. Label values are a fixed few, never user text: a refusal
counts by its kind, a request by its route template."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from assistant.answering.service import Answer
    from vectorstore.ingest import IngestReport
    from vectorstore.jobs import IngestQueue, Job

# What a refusal's reason starts with → its kind (assistant/answering: the relevance gate, the extractive
# answerer's reasons, a model that declined).
REFUSAL_KINDS = (
    ("no passage relevant enough", "low_relevance"),
    ("no passage mentions", "names_missing"),
    ("the best passage does not mention", "names_unplaced"),
    ("the passages answer too little", "too_little"),
    ("no passage answers the question", "no_close_answer"),
    ("the model declined", "model_declined"),
)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


def refusal_kind(answer: Answer) -> str:
    """A refusal's reason as one of a few fixed labels (a reason quotes the question's names)."""
    if answer.empty_store:
        return "empty_store"
    reason = answer.refusal_reason
    for prefix, kind in REFUSAL_KINDS:
        if reason.startswith(prefix):
            return kind
    if reason.startswith("no ") and reason.endswith("in the passages' best answer"):
        return "wrong_answer_type"
    return "other" if reason else "unknown"


class Metrics:
    """Every metric the assistant exports; `render()` is the /metrics page."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Histogram(
            "assistant_request_duration_seconds",
            "HTTP request latency by route template (UI paths and unknown paths as `other`).",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.answers = Counter(
            "assistant_answers",
            "Answers by outcome (answered, refused, ungrounded) and, for refusals, the reason's kind.",
            ["outcome", "reason"],
            registry=r,
        )
        self.retrieval = Histogram(
            "assistant_retrieval_duration_seconds", "Condense and retrieve, per question.", registry=r
        )
        self.generation = Histogram(
            "assistant_generation_duration_seconds",
            "Compose the answer (model or extractive), per question that got that far.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ingest_chunks = Counter("assistant_ingest_chunks", "Chunks embedded and stored.", registry=r)
        self.ingest_seconds = Counter(
            "assistant_ingest_seconds",
            "Time spent ingesting (chunks/s = rate of chunks / rate of this).",
            registry=r,
        )
        self.ingest_files = Counter(
            "assistant_ingest_files",
            "Files ingested (changed) or skipped (unreadable).",
            ["outcome"],
            registry=r,
        )
        self.jobs = Counter(
            "assistant_ingest_jobs", "Ingestion jobs finished, by end state.", ["outcome"], registry=r
        )
        self.feedback = Counter(
            "assistant_feedback", "Feedback given on answers, by rating (up, down).", ["rating"], registry=r
        )

    # -- the callbacks the recording parts are given ------------------------------------------------------
    def record_answer(self, answer: Answer) -> None:
        if answer.refused:
            self.answers.labels("refused", refusal_kind(answer)).inc()
        else:
            self.answers.labels("ungrounded" if answer.ungrounded else "answered", "").inc()
        timings = answer.timings
        if "retrieve_ms" in timings:
            self.retrieval.observe(timings["retrieve_ms"] / 1000)
        if "generate_ms" in timings:
            self.generation.observe(timings["generate_ms"] / 1000)

    def record_ingest(self, report: IngestReport) -> None:
        self.ingest_chunks.inc(report.chunks_added)
        self.ingest_seconds.inc(report.seconds)
        self.ingest_files.labels("ingested").inc(report.files_changed)
        self.ingest_files.labels("skipped").inc(len(report.skipped))

    def record_feedback(self, rating: str) -> None:
        self.feedback.labels(rating).inc()

    def record_job(self, job: Job[object]) -> None:
        self.jobs.labels(job.state).inc()

    def record_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).observe(seconds)

    def watch_queue(self, queue: IngestQueue) -> None:
        """Queue depth, read from the queue when scraped."""
        self.registry.register(_QueueDepth(queue))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _QueueDepth(Collector):
    def __init__(self, queue: IngestQueue) -> None:
        self.queue = queue

    def collect(self) -> Iterator[Metric]:
        pending = self.queue.pending()
        gauge = GaugeMetricFamily(
            "assistant_ingest_queue_depth", "Ingestion jobs waiting or running.", labels=["state"]
        )
        for state in ("queued", "running"):
            gauge.add_metric([state], sum(job.state == state for job in pending))
        yield gauge
