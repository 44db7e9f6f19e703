"""The database: an engine and a session factory built from the settings, and its migrations.

SQLite in the data dir by default (`<data_dir>/assistant.db`); any SQLAlchemy URL through `RAG_DATABASE_URL`
(e.g. `postgresql+psycopg://user:password@host/db`). The schema is Alembic's (`migrations/`): `migrate()` runs
`upgrade head`, once per `Database`, at start-up or before the first session, whichever comes first.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

if TYPE_CHECKING:
    from alembic.config import Config

    from assistant.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DB_FILE = "assistant.db"
# any constant: PostgreSQL processes starting together take turns migrating
_PG_MIGRATION_LOCK = 0x6761_7373  # "gass"


def database_url(settings: Settings) -> URL:
    """RAG_DATABASE_URL, else a SQLite file in the data dir."""
    if settings.database_url:
        return make_url(settings.database_url)
    return URL.create("sqlite+pysqlite", database=str(settings.data_dir / DB_FILE))


def _sqlite_file(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.database.startswith("file:"):  # a URI filename: leave it to SQLite
        return None
    return Path(url.database)


class Database:
    """An engine, its session factory, and the schema brought up to date."""

    def __init__(self, url: str | URL, *, echo: bool = False, migrate: bool = True) -> None:
        self.url = make_url(url)
        self.auto_migrate = migrate
        self._migrated = False
        self._lock = threading.Lock()
        options: dict[str, Any] = {"echo": echo}
        if self.url.get_backend_name() == "sqlite":
            # pooled connections move between threads (FastAPI runs sync routes in a pool); a writer waits
            # up to 30 s for another to finish instead of failing with "database is locked"
            options["connect_args"] = {"check_same_thread": False, "timeout": 30}
            if self.url.database in (None, "", ":memory:"):
                options["poolclass"] = StaticPool  # one in-memory database shared by every session
        else:
            options["pool_pre_ping"] = True
        self.engine: Engine = create_engine(self.url, **options)
        if self.url.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            path = _sqlite_file(self.url)
            if path is not None:  # the file's folder is made when first connecting, not before
                event.listen(
                    self.engine, "do_connect", lambda *_: path.parent.mkdir(parents=True, exist_ok=True)
                )
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> Database:
        return cls(database_url(settings), **options)

    @property
    def label(self) -> str:
        """The URL without its password, for logs and messages."""
        return self.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed when the block ends, rolled back if it raises."""
        if self.auto_migrate and not self._migrated:
            self.migrate()
        with self.sessions() as session, session.begin():
            yield session

    def migrate(self) -> None:
        """`alembic upgrade head`, idempotent; processes starting together take turns (a file lock for SQLite,
        an advisory lock for PostgreSQL)."""
        from alembic import command

        with self._lock:
            if self._migrated:
                return
            with ExitStack() as stack:
                path = _sqlite_file(self.url)
                if path is not None:
                    from filelock import FileLock

                    path.parent.mkdir(parents=True, exist_ok=True)  # for the lock file
                    stack.enter_context(FileLock(f"{path}.migrate.lock"))
                connection = stack.enter_context(self.engine.begin())
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
                    )
                command.upgrade(alembic_config(self.url, connection), "head")
            self._migrated = True

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: URL, connection: Connection | None = None) -> Config:
    """Alembic's configuration without an alembic.ini: the scripts in `migrations/`, this URL or
    connection."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")  # ON DELETE CASCADE, and no orphan rows
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not wait for a writer
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
