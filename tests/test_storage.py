"""Users, API keys, collections and conversations on a real database: a SQLite file, and a real PostgreSQL
server (Debian's `postgresql`, `make postgres`) started for the session on 127.0.0.1 in a throwaway cluster.
Every test runs against both; without PostgreSQL installed its half is skipped, saying so."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner

from assistant.errors import ConflictError, InvalidRequestError, NotFoundError
from assistant.settings import Settings
from assistant.storage import Database, Passwords, Storage
from assistant.storage.db import alembic_config
from assistant.storage.models import Base
from tests.conftest import PostgresServer

TABLES = {
    "users",
    "user_ids",
    "api_keys",
    "collections",
    "collection_grants",
    "conversations",
    "messages",
    "sessions",
    "ingest_jobs",
    "ingest_uploads",
    "feedback",
}
CHEAP_ARGON2 = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8 * 1024, parallelism=1),))


# --- one empty database per test, on each backend


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+pysqlite:///{tmp_path / 'data' / 'assistant.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


@pytest.fixture
def storage(db_url: str) -> Iterator[Storage]:
    opened = Storage.open(Database(db_url), Passwords(CHEAP_ARGON2))
    yield opened
    opened.close()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


# --- schema


def test_the_first_admin_takes_over_the_single_user_conversations(db_url: str) -> None:
    """Issue 21: the conversations of the login-free phase become the first admin's, not nobody's."""
    storage = Storage.open(Database(db_url), Passwords(CHEAP_ARGON2))
    try:
        local = storage.conversations.create(None, "before accounts")
        storage.users.add("member", "long enough password")
        assert storage.conversations.get(local.id, None) is not None, "a member does not take them"
        admin = storage.users.add("boss", "long enough password", admin=True).user
        assert storage.conversations.get(local.id, admin.id) is not None
        assert storage.conversations.list(None) == []
        later = storage.conversations.create(None)
        storage.users.add("second", "long enough password", admin=True)
        assert storage.conversations.get(later.id, None) is not None, "only the first admin takes them"
    finally:
        storage.close()


def test_a_database_of_the_first_revision_keeps_its_data_and_never_reuses_an_id(db_url: str) -> None:
    """0001 -> 0002 on a database in use: its users, conversations and messages stay; the next user gets an
    id above every id in use, and a removed user's id is not handed out again (N2)."""
    db = Database(db_url, migrate=False)
    try:
        with db.engine.begin() as connection:
            command.upgrade(alembic_config(db.url, connection), "0001")
            connection.exec_driver_sql(
                "INSERT INTO users (id, name, is_admin, created_at) VALUES (7, 'old', false, '2026-11-30')"
            )
            connection.exec_driver_sql(
                "INSERT INTO conversations (id, owner_id, title, created_at, updated_at) "
                "VALUES ('c1', 7, 't', '2026-11-30', '2026-11-30')"
            )
        db.migrate()
        storage = Storage.open(db, Passwords(CHEAP_ARGON2))
        assert storage.conversations.get("c1", 7) is not None, "the old user's conversation is kept"
        new = storage.users.add("new", "long enough password")
        assert new.user.id > 7
        storage.users.remove("new")
        assert storage.users.add("newer", "long enough password").user.id > new.user.id
    finally:
        db.dispose()


def test_migrations_create_the_schema_from_empty_and_match_the_models(db_url: str) -> None:
    db = Database(db_url)
    try:
        assert db.current_revision() is None
        db.migrate()
        assert _tables(db_url) == TABLES | {"alembic_version"}
        assert db.current_revision() == "0004"
        db.migrate()  # idempotent, also from another process's Database
        other = Database(db_url)
        other.migrate()
        other.dispose()
        with db.engine.connect() as connection:
            drift = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert drift == [], f"the models and the migrations disagree; add a migration: {drift}"
        with db.engine.begin() as connection:
            command.downgrade(alembic_config(db.url, connection), "base")
        assert _tables(db_url) == {"alembic_version"}
    finally:
        db.dispose()


def test_processes_starting_together_migrate_once(db_url: str) -> None:
    databases = [Database(db_url) for _ in range(4)]
    errors: list[BaseException] = []

    def start(db: Database) -> None:
        try:
            db.migrate()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(db,)) for db in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for db in databases:
        db.dispose()
    assert errors == []
    assert _tables(db_url) == TABLES | {"alembic_version"}


def test_the_default_database_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    storage = Storage.from_settings(Settings(data_dir=tmp_path / "data"))
    try:
        assert storage.database.url.get_backend_name() == "sqlite"
        storage.users.add("alice")  # migrated before the first query
        assert (tmp_path / "data" / "assistant.db").is_file()
    finally:
        storage.close()
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    assert Database.from_settings(Settings(data_dir=tmp_path, database_url=url)).url.database == str(
        tmp_path / "elsewhere.db"
    )
    masked = Settings(database_url="postgresql+psycopg://bob:s3cret@db.example/assistant").describe()
    assert "s3cret" not in masked["database_url"] and "bob" in masked["database_url"]


# --- people


def test_an_api_key_authenticates_is_stored_only_as_a_hash_and_a_rotated_one_stops_working(
    storage: Storage,
) -> None:
    made = storage.users.add("bot")
    assert made.api_key.startswith("ga_") and len(made.api_key) > 40
    user = storage.users.authenticate_key(made.api_key)
    assert user is not None and user.name == "bot" and not user.is_admin
    with storage.database.engine.connect() as connection:
        stored = [row.key_hash for row in connection.execute(text("SELECT key_hash FROM api_keys"))]
    assert stored == [hashlib.sha256(made.api_key.encode()).hexdigest()]

    rotated = storage.users.rotate_key("bot")
    assert rotated.api_key != made.api_key
    assert storage.users.authenticate_key(made.api_key) is None
    again = storage.users.authenticate_key(rotated.api_key)
    assert again is not None and again.name == "bot" and again.keys == 1
    for wrong in ("", "ga_", rotated.api_key[:-1], rotated.api_key + "x", "Bearer " + rotated.api_key):
        assert storage.users.authenticate_key(wrong) is None
    with pytest.raises(NotFoundError):
        storage.users.rotate_key("nobody")


def test_passwords_verify_and_wrong_ones_fail(storage: Storage) -> None:
    storage.users.add("alice", "correct horse battery")
    storage.users.add("bot")  # no password: API key only
    user = storage.users.authenticate_password("alice", "correct horse battery")
    assert user is not None and user.name == "alice" and user.has_password
    assert storage.users.authenticate_password("alice", "correct horse batterY") is None
    assert storage.users.authenticate_password("alice", "") is None
    assert storage.users.authenticate_password("nobody", "correct horse battery") is None
    assert storage.users.authenticate_password("bot", "anything at all") is None
    with storage.database.engine.connect() as connection:
        hashes = [
            row[0] for row in connection.execute(text("SELECT password_hash FROM users WHERE name='alice'"))
        ]
    assert hashes[0].startswith("$argon2id$") and "correct horse" not in hashes[0]
    with pytest.raises(InvalidRequestError):
        storage.users.add("carol", "short")

    # the default hasher (pwdlib's recommended argon2id) upgrades an older, cheaper hash on sign-in
    default = Storage.open(storage.database)
    assert default.users.authenticate_password("alice", "correct horse battery") is not None
    with storage.database.engine.connect() as connection:
        upgraded = connection.execute(text("SELECT password_hash FROM users WHERE name='alice'")).scalar_one()
    assert upgraded != hashes[0] and "m=65536" in upgraded
    assert storage.users.authenticate_password("alice", "correct horse battery") is not None


def test_names_are_checked_and_unique(storage: Storage) -> None:
    storage.users.add("alice", admin=True)
    with pytest.raises(ConflictError):
        storage.users.add("alice")
    for bad in ("", "two words", "../x", "-dash", "x" * 65, "tab\t"):
        with pytest.raises(InvalidRequestError):
            storage.users.add(bad)
        with pytest.raises(InvalidRequestError):
            storage.collections.add(bad)
    storage.collections.add("hr")
    with pytest.raises(ConflictError):
        storage.collections.add("hr")
    assert [(u.name, u.is_admin, u.keys) for u in storage.users.list()] == [("alice", True, 1)]
    assert storage.users.count() == 1


def test_removing_a_user_removes_their_keys_grants_and_conversations(storage: Storage) -> None:
    alice = storage.users.add("alice").user
    bob_key = storage.users.add("bob").api_key
    storage.collections.add("hr")
    storage.collections.grant("hr", "alice")
    conversation = storage.conversations.create(alice.id, "mine")
    storage.conversations.append(conversation.id, alice.id, "user", "hello")
    storage.users.remove("alice")
    assert storage.users.get("alice") is None
    assert storage.conversations.get(conversation.id, alice.id) is None
    assert storage.collections.get("hr") is not None and storage.collections.get("hr").users == ()  # type: ignore[union-attr]
    with storage.database.engine.connect() as connection:
        for table in ("messages", "conversations", "collection_grants"):
            assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0
        assert connection.execute(text("SELECT count(*) FROM api_keys")).scalar_one() == 1
    assert storage.users.authenticate_key(bob_key) is not None
    with pytest.raises(NotFoundError):
        storage.users.remove("alice")


# --- collections


def test_grants_restrict_collections(storage: Storage) -> None:
    admin = storage.users.add("root", admin=True).user
    alice = storage.users.add("alice").user
    bob = storage.users.add("bob").user
    for name in ("hr", "eng", "legal"):
        storage.collections.add(name)
    storage.collections.grant("hr", "alice")
    storage.collections.grant("eng", "alice")
    storage.collections.grant("eng", "alice")  # twice is harmless
    storage.collections.grant("legal", "bob")

    assert storage.collections.names_for(admin) == ["eng", "hr", "legal"]
    assert storage.collections.names_for(alice) == ["eng", "hr"]
    assert storage.collections.names_for(bob) == ["legal"]
    assert storage.collections.may_use(alice, "hr") and not storage.collections.may_use(bob, "hr")
    assert storage.collections.resolve(alice) == ["eng", "hr"]
    assert storage.collections.resolve(alice, ["hr", "hr"]) == ["hr"]
    with pytest.raises(NotFoundError):
        storage.collections.resolve(alice, ["legal"])  # exists, but not alice's: reported as missing
    with pytest.raises(NotFoundError):
        storage.collections.resolve(bob, ["nonexistent"])
    assert storage.collections.resolve(admin, ["legal"]) == ["legal"]
    listed = {c.name: c.users for c in storage.collections.list()}
    assert listed == {"eng": ("alice",), "hr": ("alice",), "legal": ("bob",)}

    storage.collections.revoke("hr", "alice")
    assert storage.collections.names_for(alice) == ["eng"]
    storage.collections.remove("eng")
    assert storage.collections.names_for(alice) == []
    with pytest.raises(NotFoundError):
        storage.collections.grant("eng", "alice")
    with pytest.raises(NotFoundError):
        storage.collections.grant("legal", "nobody")


# --- conversations

CITATIONS = [
    {
        "n": 1,
        "source": "000_Лавров.txt",
        "start": 120,
        "end": 348,
        "text": 'Malaysia\'s "balanced" position — on the Ukrainian crisis…\n[2]',
        "page": None,
        "section": ["Statement", "Ukraine"],
        "score": 0.8125,
        "ocr": False,
    },
    {"n": 3, "source": "notes.md", "start": 0, "end": 12, "text": "<b>not html</b>", "page": 4},
]


def test_messages_keep_their_citations_timings_and_fields(storage: Storage) -> None:
    owner = storage.users.add("alice").user.id
    conversation = storage.conversations.create(owner)
    pair = storage.conversations.add_exchange(
        conversation.id,
        owner,
        "What did Lavrov thank Malaysia for?",
        "Its balanced position on the Ukrainian crisis. [1] [3]",
        citations=CITATIONS,
        timings={"retrieve": 0.0123, "generate": 1.5, "total": 1.5123},
        meta={"model": "extractive", "refused": False, "ungrounded": False},
    )
    assert pair is not None
    detail = storage.conversations.get(conversation.id, owner)
    assert detail is not None
    asked, answered = detail.messages
    assert (asked.role, asked.citations, asked.timings) == ("user", [], {})
    assert answered.role == "assistant"
    assert answered.citations == CITATIONS
    assert answered.timings == {"retrieve": 0.0123, "generate": 1.5, "total": 1.5123}
    assert answered.meta == {"model": "extractive", "refused": False, "ungrounded": False}
    assert asked.created_at.tzinfo is not None and asked.created_at <= answered.created_at
    assert detail.title == "What did Lavrov thank Malaysia for?"  # the first question, as no title was given
    with pytest.raises(InvalidRequestError):
        storage.conversations.append(conversation.id, owner, "system", "you are...")  # type: ignore[arg-type]


def test_one_user_cannot_read_another_users_conversation(storage: Storage) -> None:
    alice = storage.users.add("alice").user.id
    bob = storage.users.add("bob").user.id
    mine = storage.conversations.create(alice, "alice's")
    storage.conversations.add_exchange(
        mine.id, alice, "secret question", "secret answer", citations=CITATIONS
    )
    theirs = storage.conversations.create(bob, "bob's")

    for stranger in (bob, None):  # another user, and the local login-free owner
        assert storage.conversations.get(mine.id, stranger) is None
        assert storage.conversations.history_for(mine.id, stranger) is None
        assert storage.conversations.rename(mine.id, stranger, "taken") is None
        assert storage.conversations.append(mine.id, stranger, "user", "injected") is None
        assert storage.conversations.add_exchange(mine.id, stranger, "q", "a") is None
        assert storage.conversations.delete(mine.id, stranger) is False
    assert [c.id for c in storage.conversations.list(bob)] == [theirs.id]
    assert storage.conversations.list(None) == []
    assert storage.conversations.get("no-such-id", alice) is None

    detail = storage.conversations.get(mine.id, alice)
    assert detail is not None and detail.title == "alice's" and len(detail.messages) == 2
    assert [m.content for m in detail.messages] == ["secret question", "secret answer"]


def test_conversations_are_created_listed_renamed_and_deleted(storage: Storage) -> None:
    owner = storage.users.add("alice").user.id
    first = storage.conversations.create(owner)
    second = storage.conversations.create(owner, "  planning   notes ")
    assert second.title == "planning notes" and first.title == ""
    storage.conversations.append(first.id, owner, "user", "A question that is long " * 10)
    listed = storage.conversations.list(owner)
    assert [c.id for c in listed] == [first.id, second.id]  # the most recently active first
    assert listed[0].messages == 1 and listed[0].title.endswith("…") and len(listed[0].title) == 80
    assert storage.conversations.list(owner, limit=1, offset=1)[0].id == second.id

    renamed = storage.conversations.rename(second.id, owner, "Budget")
    assert renamed is not None and renamed.title == "Budget"
    assert [c.id for c in storage.conversations.list(owner)] == [second.id, first.id]
    with pytest.raises(InvalidRequestError):
        storage.conversations.rename(second.id, owner, "x" * 201)

    assert storage.conversations.delete(first.id, owner) is True
    assert storage.conversations.delete(first.id, owner) is False
    assert [c.id for c in storage.conversations.list(owner)] == [second.id]

    local = storage.conversations.create(None, "no login")  # the local single-user app's
    assert [c.id for c in storage.conversations.list(None)] == [local.id]
    assert storage.conversations.get(local.id, owner) is None


def test_history_for_gives_the_turns_chat_service_takes(storage: Storage) -> None:
    owner = storage.users.add("alice").user.id
    conversation = storage.conversations.create(owner)
    assert storage.conversations.history_for(conversation.id, owner) == []
    for n in range(3):
        storage.conversations.add_exchange(conversation.id, owner, f"q{n}", f"a{n} [1]", citations=CITATIONS)
    history = storage.conversations.history_for(conversation.id, owner)
    assert history == [
        {"role": role, "content": f"{letter}{n}" + (" [1]" if role == "assistant" else "")}
        for n in range(3)
        for role, letter in (("user", "q"), ("assistant", "a"))
    ]
    last = storage.conversations.history_for(conversation.id, owner, max_messages=2)
    assert last == [{"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2 [1]"}]


def test_a_conversation_survives_reopening_the_database(db_url: str) -> None:
    first = Storage.open(Database(db_url), Passwords(CHEAP_ARGON2))
    made = first.users.add("alice", "correct horse battery")
    conversation = first.conversations.create(made.user.id)
    first.conversations.add_exchange(
        conversation.id, made.user.id, "Who chairs it?", "Russia and Laos. [1]", citations=CITATIONS
    )
    first.close()

    second = Storage.open(Database(db_url), Passwords(CHEAP_ARGON2))  # a new engine: a restarted server
    try:
        user = second.users.authenticate_key(made.api_key)
        assert user is not None
        assert second.users.authenticate_password("alice", "correct horse battery") is not None
        detail = second.conversations.get(conversation.id, user.id)
        assert detail is not None and detail.title == "Who chairs it?"
        assert [(m.role, m.content) for m in detail.messages] == [
            ("user", "Who chairs it?"),
            ("assistant", "Russia and Laos. [1]"),
        ]
        assert detail.messages[1].citations == CITATIONS
        history = second.conversations.history_for(conversation.id, user.id)
        assert history is not None and history[-1] == {"role": "assistant", "content": "Russia and Laos. [1]"}
    finally:
        second.close()


# --- the command line


def test_cli_users_keys_and_collections(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.cli import app

    monkeypatch.setenv("RAG_DATABASE_URL", db_url)
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None, code: int = 0) -> str:
        result = runner.invoke(app, list(args), input=stdin)
        assert result.exit_code == code, (args, result.stdout, result.stderr)
        return result.stdout

    key = run("users", "add", "alice", "--password-stdin", stdin="correct horse battery\n").splitlines()[-1]
    admin_key = run("users", "add", "root", "--admin", "--no-password").splitlines()[-1]
    prompted = run("users", "add", "carol", stdin="carol's password\ncarol's password\n").splitlines()[-1]
    run("users", "add", "alice", "--no-password", code=1)

    storage = Storage.open(Database(db_url))
    try:
        alice = storage.users.authenticate_key(key)
        assert alice is not None and alice.name == "alice" and not alice.is_admin
        root = storage.users.authenticate_key(admin_key)
        assert root is not None and root.is_admin and not root.has_password
        assert storage.users.authenticate_password("alice", "correct horse battery") is not None
        assert storage.users.authenticate_password("carol", "carol's password") is not None
        assert storage.users.authenticate_key(prompted) is not None
        assert all(name in run("users", "list") for name in ("alice", "root", "carol"))

        new_key = run("keys", "rotate", "alice").splitlines()[-1]
        assert new_key != key and storage.users.authenticate_key(key) is None
        assert storage.users.authenticate_key(new_key) is not None

        run("collections", "add", "hr")
        run("collections", "grant", "hr", "alice")
        run("collections", "grant", "hr", "nobody", code=1)
        assert "alice" in run("collections", "list")
        assert storage.collections.names_for(alice) == ["hr"]

        run("users", "password", "carol", "--password-stdin", stdin="a new password\n")
        assert storage.users.authenticate_password("carol", "carol's password") is None
        assert storage.users.authenticate_password("carol", "a new password") is not None
        run("users", "remove", "carol")
        run("users", "remove", "carol", code=1)
        assert storage.users.get("carol") is None
    finally:
        storage.close()


# --- feedback on answers (issue 23): only the answer's owner rates it or reads the rating


def _answered(storage: Storage, owner: int | str | None, question: str = "Who signed?") -> int:
    conversation = storage.conversations.create(owner)
    stored = storage.conversations.add_exchange(
        conversation.id,
        owner,
        question,
        "Lavrov signed [1].",
        citations=[{"n": 1, "source": "a.txt", "start": 3, "end": 20, "text": "Lavrov signed it"}],
        trace={"question": question, "query": "who signed", "retrieved": [{"id": "c1", "score": 0.5}]},
    )
    assert stored is not None
    return stored[1].id


def test_feedback_is_the_answer_owners_and_keeps_the_trace(storage: Storage) -> None:
    ann = storage.users.add("ann").user.id
    ben = storage.users.add("ben").user.id
    answer = _answered(storage, ann)
    counted: list[str] = []
    storage.feedback.on_rate = counted.append
    assert storage.feedback.rate(answer, ben, "down") is None, "another user's answer is missing"
    assert storage.feedback.rate(answer - 1, ann, "up") is None, "a question is not an answer"
    rated = storage.feedback.rate(answer, ann, "down", wrong_source=True, comment="  not that <b>doc</b> ")
    assert rated is not None
    assert (rated.rating, rated.wrong_source, rated.comment) == ("down", True, "not that <b>doc</b>")
    assert (rated.question, rated.answer, rated.user) == ("Who signed?", "Lavrov signed [1].", "ann")
    assert rated.citations[0]["text"] == "Lavrov signed it"
    assert rated.trace["retrieved"] == [{"id": "c1", "score": 0.5}]
    again = storage.feedback.rate(answer, ann, "up")  # a second rating replaces the first
    assert again is not None and again.id == rated.id and again.rating == "up" and not again.wrong_source
    assert storage.feedback.rate(answer, ann, "up") is not None  # the same again: kept, not counted again
    assert counted == ["down", "up"]
    assert [f.rating for f in storage.feedback.list(ann)] == ["up"]
    assert storage.feedback.list(ben) == []
    _answered(storage, "key:abc")  # a key's answers are not the single-user app's
    assert storage.feedback.rate(_answered(storage, "key:abc"), None, "up") is None
    assert [f.user for f in storage.feedback.list_all()] == ["ann"]


def test_feedback_refuses_unknown_ratings_and_long_comments(storage: Storage) -> None:
    answer = _answered(storage, None)
    with pytest.raises(InvalidRequestError):
        storage.feedback.rate(answer, None, "meh")
    with pytest.raises(InvalidRequestError):
        storage.feedback.rate(answer, None, "down", comment="x" * 2001)
    assert storage.feedback.list(None) == []


def test_feedback_finds_the_answer_a_chat_shows_and_goes_with_its_conversation(storage: Storage) -> None:
    first = _answered(storage, None, "First?")
    conversation = storage.conversations.get(next(c.id for c in storage.conversations.list(None)), None)
    assert conversation is not None
    assert storage.feedback.answer_id(conversation.id, None, 0, "Lavrov signed [1].") == first
    assert storage.feedback.answer_id(conversation.id, None, 3, "Lavrov signed [1].") == first
    assert storage.feedback.answer_id(conversation.id, None, 0, "something else") is None
    assert storage.feedback.answer_id(conversation.id, 7, 0, "Lavrov signed [1].") is None
    assert storage.feedback.rate(first, None, "down") is not None
    assert storage.conversations.delete(conversation.id, None)
    assert storage.feedback.list_all() == []


def test_ratings_of_one_answer_at_once_leave_one_row(storage: Storage) -> None:
    """A double click sends two ratings together: both are taken, one row stays, the last word wins."""
    answer = _answered(storage, None)
    errors: list[BaseException] = []

    def rate(rating: str) -> None:
        try:
            assert storage.feedback.rate(answer, None, rating) is not None
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=rate, args=("down",)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [f.rating for f in storage.feedback.list(None)] == ["down"]
