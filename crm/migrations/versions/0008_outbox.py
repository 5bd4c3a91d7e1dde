"""Replies: the outbox (one row per reply, its delivery state), internal notes, canned responses.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 04:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm.schema

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.String:
    return sa.String(length=64)


def _when() -> crm.schema.UTCDateTime:
    return crm.schema.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", _id(), nullable=False),
        sa.Column("conversation_id", _id(), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("account", sa.Text(), nullable=False),
        sa.Column("in_reply_to", _id(), nullable=True),
        sa.Column("author_id", _id(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=256), nullable=True),
        sa.Column("request_digest", sa.String(length=64), nullable=True),
        sa.Column("private", sa.Boolean(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("canned_response_id", _id(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _when(), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("lease_until", _when(), nullable=True),
        sa.Column("handed_over_at", _when(), nullable=True),
        sa.Column("platform_id", sa.Text(), nullable=True),
        sa.Column("message_id", _id(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("recorded", sa.Boolean(), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.Column("sent_at", _when(), nullable=True),
        sa.Column("delivered_at", _when(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index(op.f("ix_outbox_conversation_id"), "outbox", ["conversation_id"])
    op.create_index(op.f("ix_outbox_author_id"), "outbox", ["author_id"])
    op.create_index("ix_outbox_state_next_attempt_at", "outbox", ["state", "next_attempt_at"])
    op.create_index(
        "uq_outbox_author_id_idempotency_key", "outbox", ["author_id", "idempotency_key"], unique=True
    )
    op.create_table(
        "notes",
        sa.Column("id", _id(), nullable=False),
        sa.Column("conversation_id", _id(), nullable=False),
        sa.Column("author_id", _id(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
    )
    op.create_index(op.f("ix_notes_conversation_id"), "notes", ["conversation_id"])
    op.create_table(
        "canned_responses",
        sa.Column("id", _id(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("shortcut", sa.String(length=64), nullable=False),
        sa.Column("variants", sa.JSON(), nullable=False),
        sa.Column("created_by", _id(), nullable=True),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_responses")),
        sa.UniqueConstraint("shortcut", name=op.f("uq_canned_responses_shortcut")),
    )


def downgrade() -> None:
    op.drop_table("canned_responses")
    op.drop_index(op.f("ix_notes_conversation_id"), table_name="notes")
    op.drop_table("notes")
    op.drop_index("uq_outbox_author_id_idempotency_key", table_name="outbox")
    op.drop_index("ix_outbox_state_next_attempt_at", table_name="outbox")
    op.drop_index(op.f("ix_outbox_author_id"), table_name="outbox")
    op.drop_index(op.f("ix_outbox_conversation_id"), table_name="outbox")
    op.drop_table("outbox")
