"""Storage of people, collections, conversations and feedback: SQLAlchemy 2 models, Alembic migrations,
small services.

`Storage.from_settings(settings)` builds the database (SQLite `<data_dir>/assistant.db` unless
RAG_DATABASE_URL says otherwise) and the services over it; nothing here is global. The schema is brought up to
date (`alembic upgrade head`) by `storage.database.migrate()` at start-up, or before the first query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant.storage.collections import CollectionInfo, CollectionService
from assistant.storage.conversations import (
    ConversationDetail,
    ConversationInfo,
    ConversationService,
    MessageRecord,
    Owner,
)
from assistant.storage.credentials import Passwords
from assistant.storage.db import Database, database_url
from assistant.storage.feedback import FeedbackRecord, FeedbackService
from assistant.storage.jobs import JobQueueService, JobRecord
from assistant.storage.sessions import SessionInfo, SessionService
from assistant.storage.users import NewKey, UserInfo, UserService

if TYPE_CHECKING:
    from assistant.settings import Settings

__all__ = [
    "CollectionInfo",
    "CollectionService",
    "ConversationDetail",
    "ConversationInfo",
    "ConversationService",
    "Database",
    "FeedbackRecord",
    "FeedbackService",
    "JobQueueService",
    "JobRecord",
    "MessageRecord",
    "NewKey",
    "Owner",
    "Passwords",
    "SessionInfo",
    "SessionService",
    "Storage",
    "UserInfo",
    "UserService",
    "database_url",
]


@dataclass
class Storage:
    database: Database
    users: UserService
    collections: CollectionService
    conversations: ConversationService
    sessions: SessionService
    jobs: JobQueueService
    feedback: FeedbackService

    @classmethod
    def open(
        cls, database: Database, passwords: Passwords | None = None, lease_seconds: float = 30.0
    ) -> Storage:
        return cls(
            database,
            UserService(database, passwords),
            CollectionService(database),
            ConversationService(database),
            SessionService(database),
            JobQueueService(database, lease_seconds),
            FeedbackService(database),
        )

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> Storage:
        return cls.open(Database.from_settings(settings, **options), lease_seconds=settings.job_lease_seconds)

    def close(self) -> None:
        self.database.dispose()
