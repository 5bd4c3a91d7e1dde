"""Contacts, identities, processed messages, merge events and blocks, segments, dead letters.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 17:09:14.354727
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm.schema

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("name_override", sa.Text(), nullable=True),
        sa.Column("merged_into", sa.String(length=64), nullable=True),
        sa.Column("merged_at", crm.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", crm.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("first_seen", crm.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_seen", crm.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("sentiment_sum", sa.Float(), nullable=False),
        sa.Column("sentiment_n", sa.Integer(), nullable=False),
        sa.Column("sentiment_avg", sa.Float(), nullable=True),
        sa.Column("channel_counts", sa.JSON(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contacts_first_seen"), ["first_seen"], unique=False)
        batch_op.create_index(batch_op.f("ix_contacts_last_seen"), ["last_seen"], unique=False)
        batch_op.create_index(batch_op.f("ix_contacts_merged_into"), ["merged_into"], unique=False)
        batch_op.create_index(batch_op.f("ix_contacts_sentiment_avg"), ["sentiment_avg"], unique=False)

    op.create_table(
        "dead_letters",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=True),
        sa.Column("raw_ref", sa.Text(), nullable=True),
        sa.Column("created_at", crm.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dead_letters_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_dead_letters_stage"), ["stage"], unique=False)

    op.create_table(
        "merge_blocks",
        sa.Column("contact_a", sa.String(length=64), nullable=False),
        sa.Column("contact_b", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", crm.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("contact_a", "contact_b", name=op.f("pk_merge_blocks")),
    )
    op.create_table(
        "merge_events",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("survivor_id", sa.String(length=64), nullable=False),
        sa.Column("absorbed_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=True),
        sa.Column("identity_ids", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", crm.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("undone_at", crm.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("undone_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merge_events")),
    )
    with op.batch_alter_table("merge_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_merge_events_absorbed_id"), ["absorbed_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_merge_events_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_merge_events_survivor_id"), ["survivor_id"], unique=False)

    op.create_table(
        "processed_messages",
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("identity_id", sa.String(length=64), nullable=False),
        sa.Column("processed_at", crm.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_processed_messages")),
    )
    op.create_table(
        "segments",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("criteria", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("created_at", crm.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", crm.schema.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("name", name=op.f("uq_segments_name")),
    )
    op.create_table(
        "identities",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("native_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("handle", sa.Text(), nullable=True),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("email_note", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("phone_note", sa.Text(), nullable=True),
        sa.Column("linked_via", sa.String(length=64), nullable=True),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("first_seen", crm.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_seen", crm.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sentiment_sum", sa.Float(), nullable=False),
        sa.Column("sentiment_n", sa.Integer(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("created_at", crm.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_identities_contact_id_contacts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identities")),
    )
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_identities_contact_id"), ["contact_id"], unique=False)

    op.create_table(
        "segment_members",
        sa.Column("segment_id", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.String(length=64), nullable=False),
        sa.Column("added_at", crm.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_segment_members_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segments.id"],
            name=op.f("fk_segment_members_segment_id_segments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("segment_id", "contact_id", name=op.f("pk_segment_members")),
    )
    with op.batch_alter_table("segment_members", schema=None) as batch_op:
        batch_op.create_index("ix_segment_members_contact_id", ["contact_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("segment_members", schema=None) as batch_op:
        batch_op.drop_index("ix_segment_members_contact_id")

    op.drop_table("segment_members")
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identities_contact_id"))

    op.drop_table("identities")
    op.drop_table("segments")
    op.drop_table("processed_messages")
    with op.batch_alter_table("merge_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_merge_events_survivor_id"))
        batch_op.drop_index(batch_op.f("ix_merge_events_created_at"))
        batch_op.drop_index(batch_op.f("ix_merge_events_absorbed_id"))

    op.drop_table("merge_events")
    op.drop_table("merge_blocks")
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dead_letters_stage"))
        batch_op.drop_index(batch_op.f("ix_dead_letters_created_at"))

    op.drop_table("dead_letters")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_sentiment_avg"))
        batch_op.drop_index(batch_op.f("ix_contacts_merged_into"))
        batch_op.drop_index(batch_op.f("ix_contacts_last_seen"))
        batch_op.drop_index(batch_op.f("ix_contacts_first_seen"))

    op.drop_table("contacts")
