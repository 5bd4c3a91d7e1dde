"""Alembic environment of the CRM store.

Programmatic runs (``crm.engine.migrate``) hand over an open connection in
``config.attributes["connection"]``; command-line runs build an engine from ``-x url=...``
or ``PARLEY_DATABASE_URL``.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from crm.schema import metadata

config = context.config


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # type: ignore[attr-defined]
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(
        "PARLEY_DATABASE_URL", "sqlite:///data/crm.sqlite3"
    )
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
