"""Server-side browser sessions, user ids never reused, and conversations owned by a key of RAG_API_KEYS.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 12:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("key_tag", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_sessions")),
    )
    op.create_index(op.f("ix_sessions_user_id"), "sessions", ["user_id"], unique=False)
    op.create_index(op.f("ix_sessions_expires_at"), "sessions", ["expires_at"], unique=False)
    user_ids = op.create_table(
        "user_ids",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_ids")),
        sqlite_autoincrement=True,
    )
    # the next id handed out comes after every id in use (ids freed before this revision may be reused once)
    bind = op.get_bind()
    highest = bind.scalar(sa.text("SELECT MAX(id) FROM users"))
    if highest:
        op.bulk_insert(user_ids, [{"id": highest}])
        if bind.dialect.name == "postgresql":  # an explicit id does not move a serial column's sequence
            bind.execute(
                sa.text("SELECT setval(pg_get_serial_sequence('user_ids', 'id'), :n)"), {"n": highest}
            )
    # plain ALTER TABLE ADD COLUMN: a batch copy would drop `conversations`, and SQLite's DROP TABLE deletes
    # its rows first, cascading to every message
    op.add_column("conversations", sa.Column("owner_key", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_conversations_owner_key"), "conversations", ["owner_key"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_conversations_owner_key"), table_name="conversations")
    op.drop_column("conversations", "owner_key")
    op.drop_table("user_ids")
    op.drop_index(op.f("ix_sessions_expires_at"), table_name="sessions")
    op.drop_index(op.f("ix_sessions_user_id"), table_name="sessions")
    op.drop_table("sessions")
