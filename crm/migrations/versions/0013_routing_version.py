"""Routing rows count their changes: ``version`` goes up by one in every transaction that
changes a row, so the knowledge base can refuse a projection older than the one it shows.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 23:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversation_routing", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("conversation_routing", schema=None) as batch_op:
        batch_op.drop_column("version")
