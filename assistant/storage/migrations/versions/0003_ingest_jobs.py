"""The durable ingestion queue: jobs any replica can read and any worker can take, and their uploads.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 20:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ingest_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_jobs")),
    )
    op.create_index(op.f("ix_ingest_jobs_state"), "ingest_jobs", ["state"], unique=False)
    op.create_index(
        op.f("ix_ingest_jobs_lease_expires_at"), "ingest_jobs", ["lease_expires_at"], unique=False
    )
    op.create_index(op.f("ix_ingest_jobs_created_at"), "ingest_jobs", ["created_at"], unique=False)
    op.create_table(
        "ingest_uploads",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["ingest_jobs.id"],
            name=op.f("fk_ingest_uploads_job_id_ingest_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "position", name=op.f("pk_ingest_uploads")),
    )


def downgrade() -> None:
    op.drop_table("ingest_uploads")
    op.drop_index(op.f("ix_ingest_jobs_created_at"), table_name="ingest_jobs")
    op.drop_index(op.f("ix_ingest_jobs_lease_expires_at"), table_name="ingest_jobs")
    op.drop_index(op.f("ix_ingest_jobs_state"), table_name="ingest_jobs")
    op.drop_table("ingest_jobs")
