"""`assistant ...`: a thin command line over the same services the UI and API use."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

from assistant.datadir import private_umask
from assistant.offline import offline_environment
from assistant.settings import Settings
from vectorstore.errors import ProviderError

if TYPE_CHECKING:
    from assistant.container import Container
    from assistant.storage import Storage

app = typer.Typer(
    pretty_exceptions_enable=False,
    help="A grounded assistant: answers from your documents, with citations. Offline by default.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    for noisy in ("httpx", "chromadb", "sentence_transformers", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _components(settings: Settings) -> Container:
    from assistant.container import build_container

    try:
        container = build_container(settings)
        if container.storage is not None:
            container.storage.database.migrate()  # the users/collections/conversations schema, up to date
        return container
    except Exception as exc:
        _fail(exc)


def _settings(**overrides: Any) -> Settings:
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"RAG_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors())
        console.print(f"[bold red]invalid settings:[/] {problems} ({fields})")
        raise typer.Exit(2) from None


def _expected(exc: BaseException) -> bool:
    """An error raised on purpose, its message written for the user (an AssistantError, or a lower layer's
    error the API maps to one, or a provider misconfiguration): its one line says everything."""
    from assistant.server.errors import as_assistant_error

    return isinstance(exc, ProviderError) or as_assistant_error(exc) is not None


def _fail(exc: BaseException, code: int = 1, expected: bool = False) -> NoReturn:
    """Prints the error's message and exits non-zero. An unexpected error (a bug, or a failure nobody
    foresaw) says so, and `-v` prints its traceback first: what a bug report needs."""
    if expected or _expected(exc):
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(code)
    verbose = logging.getLogger().isEnabledFor(logging.INFO)  # -v: see _setup_logging
    if verbose:
        sys.stderr.write("".join(traceback.format_exception(exc)))
    hint = "" if verbose else " (run `assistant -v ...` to see its traceback)"
    console.print(
        f"[bold red]unexpected error:[/] {type(exc).__name__}: {exc}{hint}", highlight=False, soft_wrap=True
    )
    raise typer.Exit(code)


@app.callback()
def main_options(
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Log what happens; an unexpected error shows its traceback."),
    ] = False,
) -> None:
    offline_environment()  # before anything imports huggingface_hub or gradio
    _setup_logging(verbose)


@app.command()
def config() -> None:
    """Show the effective settings (env vars RAG_*, .env), secrets masked."""
    table = Table("setting", "value", title="Effective settings")
    for key, value in _settings().describe().items():
        table.add_row(key, str(value))
    Console().print(table)


@app.command()
def ingest(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders (default: RAG_DOCS_DIR).")
    ] = None,
    reindex: Annotated[bool, typer.Option(help="Drop the index and embed every document again.")] = False,
    if_empty: Annotated[bool, typer.Option(help="Only ingest when the store is empty.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    collection: Annotated[
        str | None,
        typer.Option(
            "--collection", help="The collection the documents go to (created if new; default: default)."
        ),
    ] = None,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Then keep watching the paths: re-ingest files added or changed, remove documents whose "
            "files are deleted, one line per change, until Ctrl-C.",
        ),
    ] = False,
) -> None:
    """Add documents of the supported types (docs/configuration.md); unchanged chunks are kept."""
    from vectorstore.ingest import DEFAULT_COLLECTION

    settings = _settings()
    c = _components(settings)
    into = collection or DEFAULT_COLLECTION
    if collection is not None:
        from assistant.storage.users import check_name

        try:
            check_name(collection, "collection")
            if c.storage is not None and c.storage.collections.get(collection) is None:
                c.storage.collections.add(collection)
        except Exception as exc:
            _fail(exc)
    if if_empty and c.store.count() > 0:
        console.print(f"store already holds {c.store.count()} chunks; nothing to do")
        return
    targets = paths or [settings.docs_dir]
    try:
        if reindex:
            report = c.ingest.reindex(progress=sys.stderr.isatty())
        else:
            report = c.ingest.ingest(targets, progress=sys.stderr.isatty(), collection=into)
    except Exception as exc:
        _fail(exc)
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        console.print(f"[green]ingested:[/] {report.summary()}")
        for skipped in report.skipped:
            console.print(f"[yellow]skipped[/] {escape(str(skipped.path))}: {escape(skipped.reason)}")
    if watch:
        _watch(c, targets, into)


def _watch(c: Container, paths: list[Path], collection: str) -> None:
    """`ingest --watch`: one line per change on stdout until Ctrl-C (see vectorstore.watch)."""
    import threading

    from vectorstore.watch import watch

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        _fail(
            FileNotFoundError(f"cannot watch {', '.join(missing)}: no such file or directory"), expected=True
        )
    console.print(f"watching {', '.join(str(p) for p in paths)} for changes (Ctrl-C to stop)")
    stop = threading.Event()
    try:
        watch(c.ingest, paths, stop, lambda line: print(line, flush=True), collection)
    except KeyboardInterrupt:
        stop.set()
    console.print("stopped watching")


@app.command()
def documents(
    delete: Annotated[str | None, typer.Option(help="Remove this document (its source name).")] = None,
) -> None:
    """List the ingested documents, or delete one."""
    c = _components(_settings())
    if delete:
        try:
            removed = c.ingest.delete(delete)
        except KeyError:
            _fail(ValueError(f"no document named {delete!r}; see `assistant documents`"), expected=True)
        console.print(f"removed {delete} ({removed} chunks)")
        return
    table = Table("source", "title", "chunks", "chars", "path")
    for doc in c.ingest.list_documents():
        # names and titles come from documents: text, never rich markup ("[link=...]")
        table.add_row(
            escape(doc.source), escape(doc.title), str(doc.chunks), str(doc.chars), escape(doc.path)
        )
    Console().print(table)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print answer, citations and passages as JSON.")
    ] = False,
    k: Annotated[int | None, typer.Option(help="Passages to retrieve.")] = None,
) -> None:
    """Answer one question from the documents, with citations."""
    from assistant.answering.service import Done, TextDelta

    c = _components(_settings())
    try:
        if as_json:
            from assistant.schemas import AnswerPayload

            payload = AnswerPayload.of(c.chat.answer(question, k=k)).to_json()
            print(json.dumps(payload, indent=2, ensure_ascii=False))
            return
        out = Console()
        final = None
        for event in c.chat.stream(question, k=k):
            if isinstance(event, TextDelta):
                out.print(event.text, end="", soft_wrap=True, markup=False, highlight=False)
            elif isinstance(event, Done):
                final = event.answer
        out.print()
        if final is not None:
            for cit in final.citations:
                source = escape(cit.source)
                out.print(f"[bold]\\[{cit.n}][/] {source} \\[{cit.start}:{cit.end}]", highlight=False)
            if final.ungrounded:
                out.print("[yellow]note: the model cited no passage; this answer is not grounded.[/]")
    except Exception as exc:
        _fail(exc)


@app.command("eval")
def evaluate(
    datasets: Annotated[
        list[str],
        typer.Argument(
            help="Question sets, JSON lines (id, question, history, answerable, must, evidence, type), each "
            "as FILE or FILE=CORPUS_DIR (default corpus: RAG_DOCS_DIR)."
        ),
    ],
    compare: Annotated[
        bool, typer.Option(help="Also run the naive baseline, dense-only and BM25-only retrieval.")
    ] = False,
    variants: Annotated[
        str | None,
        typer.Option(
            help=(
                "Comma-separated variants to run: named ones (assistant.evaluation.variants), or any "
                "setting changed, e.g. 'answerer min_gain=0.1 tie_ratio=0.85' or 'retriever k=8'."
            )
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for the JSON and Markdown reports.")] = Path("reports"),
    k: Annotated[int | None, typer.Option(help="Passages to retrieve.")] = None,
) -> None:
    """Measure evidence retrieved, citation support, answer correctness, refusals and latency, per set,
    per half (tuning / held-out) and per question type."""
    from assistant import evaluation
    from assistant.evaluation.variants import COMPARE, check

    settings = _settings()
    try:
        sets = [evaluation.parse_set(spec, settings.docs_dir) for spec in datasets]
    except (OSError, ValueError) as exc:  # a set that is missing or malformed
        _fail(exc, expected=True)
    chosen = (
        [v.strip() for v in variants.split(",")] if variants else (COMPARE if compare else ["hybrid (ours)"])
    )
    try:
        check(chosen, k)
    except ValueError as exc:  # an unknown variant or setting: nothing has run yet
        _fail(exc, expected=True)
    report = evaluation.evaluate_sets(settings, sets, chosen, k=k)
    _print_eval(report)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    (out / "eval.md").write_text(evaluation.markdown(report))
    console.print(f"reports: {out / 'eval.json'}, {out / 'eval.md'}")


def _print_failures(printer: Console, name: str, data: dict[str, Any], shown: int = 20) -> None:
    """The items each variant failed, and why: a replayed 👎 that gives the same answer is one."""
    for variant, result in data["variants"].items():
        failed = [item for item in result["items"] if item.get("failed")]
        if not failed:
            continue
        total = len(result["items"])
        printer.print(f"{escape(name)}, {escape(variant)}: {len(failed)} of {total} items failing")
        for item in failed[:shown]:
            printer.print(f"  FAIL {escape(item['id'])}: {escape(item['failed'])}")
        if len(failed) > shown:
            printer.print(f"  … and {len(failed) - shown} more (eval.json lists them all)")


def _print_eval(report: dict[str, Any]) -> None:
    from assistant.evaluation import COLUMNS

    printer = Console(width=None if sys.stdout.isatty() else 180)
    for name, data in report["sets"].items():
        table = Table(
            "variant", "half", *(label for _, label in COLUMNS), title=f"{name}: {data['items']} items"
        )
        for variant, result in data["variants"].items():
            summary = result["summary"]
            rows = [(h, summary["by_half"][h]) for h in ("tune", "held-out") if h in summary["by_half"]]
            for half, block in [*rows, ("all", summary["overall"])]:
                cells = ("–" if block[key] is None else str(block[key]) for key, _ in COLUMNS)
                table.add_row(variant, half, *cells)
        printer.print(table)
        _print_failures(printer, name, data)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface (default RAG_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default RAG_PORT, 7860).")] = None,
    ingest_seeds: Annotated[
        bool, typer.Option(help="Ingest RAG_DOCS_DIR first if the store is empty.")
    ] = True,
) -> None:
    """Serve the chat UI and the API on one port."""
    from assistant.server import run

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    run(_settings(**overrides), ingest_if_empty=ingest_seeds)


@app.command("mcp")
def mcp_stdio() -> None:
    """Serve MCP over stdin/stdout for a desktop agent (docs/mcp.md); as RAG_MCP_API_KEY's holder if set."""
    from assistant.mcp_server.stdio import run_stdio

    container = _components(_settings())
    try:
        run_stdio(container)
    except Exception as exc:
        _fail(exc)


# --- people and collections (assistant.storage; the database of RAG_DATABASE_URL or <data dir>/assistant.db)

users_app = typer.Typer(help="People who may sign in or call the API.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (stored as hashes: a key is shown once).", no_args_is_help=True)
collections_app = typer.Typer(help="Named document sets, and who may use them.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(collections_app, name="collections")
feedback_app = typer.Typer(help="Feedback on answers (👍 / 👎), as evaluation cases.", no_args_is_help=True)
app.add_typer(feedback_app, name="feedback")


@contextmanager
def _storage() -> Iterator[Storage]:
    """The storage services; an AssistantError (or a database error) is printed and exits non-zero."""
    from sqlalchemy.exc import SQLAlchemyError

    from assistant.errors import AssistantError
    from assistant.storage import Storage

    try:
        storage = Storage.from_settings(_settings())
        storage.database.migrate()
    except Exception as exc:
        _fail(exc)
    try:
        yield storage
    except (AssistantError, SQLAlchemyError, OSError) as exc:
        _fail(exc)
    finally:
        storage.close()


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True))


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Sign-in name: letters, digits, '.', '_', '@', '-'.")],
    admin: Annotated[bool, typer.Option("--admin", help="May manage documents, collections, users.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
    ] = False,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="No browser sign-in: the API key only (a bot).")
    ] = False,
) -> None:
    """Create a user; prints the user's API key as the last line (shown once)."""
    password = None if no_password else _read_password(password_stdin)
    with _storage() as storage:
        made = storage.users.add(name, password, admin=admin)
    console.print(f"created {'admin' if admin else 'member'} {made.user.name}; API key (shown once):")
    print(made.api_key)


@feedback_app.command("export")
def feedback_export(
    out: Annotated[Path, typer.Option("--out", help="The JSON lines file to write.")] = Path("cases.jsonl"),
    rating: Annotated[str | None, typer.Option(help="Only this rating: up or down (default: both).")] = None,
) -> None:
    """Write everyone's feedback as evaluation cases (eval/dev.jsonl's format, plus `must_not`): a 👍
    answer's cited spans become its evidence, a 👎 a case that must not give the same answer again (an
    unanswerable one when marked "wrong source"). Replay them with `assistant eval FILE[=CORPUS_DIR]`."""
    from assistant.evaluation.cases import cases_of, write_cases

    if rating not in (None, "up", "down"):
        _fail(ValueError(f"--rating is up or down, not {rating!r}"), code=2, expected=True)
    with _storage() as storage:
        records = storage.feedback.list_all(limit=None, rating=rating)
    cases = cases_of(records)
    try:
        write_cases(cases, out)
    except OSError as exc:
        _fail(exc, expected=True)
    console.print(f"{len(cases)} cases from {len(records)} ratings: {out}")


@users_app.command("list")
def users_list() -> None:
    """Every user: role, whether a password is set, how many API keys."""
    with _storage() as storage:
        users = storage.users.list()
    table = Table("name", "role", "password", "keys", "created")
    for user in users:
        role = "admin" if user.is_admin else "member"
        table.add_row(
            user.name,
            role,
            "yes" if user.has_password else "no",
            str(user.keys),
            f"{user.created_at:%Y-%m-%d %H:%M}",
        )
    Console().print(table)


@users_app.command("password")
def users_password(
    name: Annotated[str, typer.Argument(help="The user whose password is set.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
    ] = False,
    remove: Annotated[bool, typer.Option("--remove", help="No password: API keys only.")] = False,
) -> None:
    """Set (or remove) a user's browser sign-in password."""
    password = None if remove else _read_password(password_stdin)
    with _storage() as storage:
        storage.users.set_password(name, password)
    console.print(f"{name}: password {'removed' if remove else 'set'}")


@users_app.command("remove")
def users_remove(name: Annotated[str, typer.Argument(help="The user to remove.")]) -> None:
    """Remove a user, with their API keys, grants and conversations."""
    with _storage() as storage:
        storage.users.remove(name)
    console.print(f"removed {name}, their keys, grants and conversations")


@keys_app.command("rotate")
def keys_rotate(name: Annotated[str, typer.Argument(help="The user whose key is replaced.")]) -> None:
    """Replace a user's API keys with a new one, printed as the last line (shown once)."""
    with _storage() as storage:
        made = storage.users.rotate_key(name)
    console.print(f"{name}'s old keys no longer work; new API key (shown once):")
    print(made.api_key)


@collections_app.command("add")
def collections_add(name: Annotated[str, typer.Argument(help="Collection name.")]) -> None:
    """Create a collection."""
    with _storage() as storage:
        storage.collections.add(name)
    console.print(f"created collection {name}")


@collections_app.command("list")
def collections_list() -> None:
    """Every collection and the members it is granted to (admins may use all)."""
    with _storage() as storage:
        collections = storage.collections.list()
    table = Table("collection", "granted to", "created")
    for collection in collections:
        table.add_row(
            collection.name, ", ".join(collection.users) or "–", f"{collection.created_at:%Y-%m-%d %H:%M}"
        )
    Console().print(table)


@collections_app.command("grant")
def collections_grant(
    name: Annotated[str, typer.Argument(help="Collection name.")],
    user: Annotated[str, typer.Argument(help="The user who may use it.")],
) -> None:
    """Let a user ask about a collection."""
    with _storage() as storage:
        storage.collections.grant(name, user)
    console.print(f"{user} may use {name}")


@collections_app.command("revoke")
def collections_revoke(
    name: Annotated[str, typer.Argument(help="Collection name.")],
    user: Annotated[str, typer.Argument(help="The user who may no longer use it.")],
) -> None:
    """Take a collection back from a user."""
    with _storage() as storage:
        storage.collections.revoke(name, user)
    console.print(f"{user} may no longer use {name}")


def main() -> None:
    private_umask()  # N11: what the CLI writes into the data dir is the owner's alone
    app()


@app.command()
def worker(
    threads: Annotated[
        int, typer.Option(min=1, max=32, help="Jobs taken at the same time (one thread each).")
    ] = 1,
) -> None:
    """Take ingestion jobs from the queue in the database until stopped (docs/deployment.md)."""
    # As many as you like, on any host that reaches the database and the Chroma server; the replicas then
    # run with RAG_INGEST_IN_PROCESS=false. SIGTERM or Ctrl-C gives a running job back to the queue at its
    # next safe point; a worker killed outright loses it to another when its lease runs out.
    import signal
    import threading

    from assistant.server.ingest_jobs import stored_upload_work
    from assistant.worker import WorkerPool

    c = _components(_settings())
    if c.storage is None:
        _fail(RuntimeError("no database configured: a worker takes its jobs from RAG_DATABASE_URL"), 2, True)
    pool = WorkerPool(c.storage.jobs, stored_upload_work(c.ingest), threads)
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    pool.start()
    names = ", ".join(w.name for w in pool.workers)
    console.print(
        f"worker {names} taking jobs from {c.storage.database.label}", markup=False, highlight=False
    )
    while not stopped.wait(1.0):  # signals are handled between waits
        pass
    console.print("stopping: a running job goes back to the queue", markup=False, highlight=False)
    pool.stop(wait=True)


if __name__ == "__main__":
    main()
