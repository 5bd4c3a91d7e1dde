"""Switching a SQLite file to WAL mode, waiting for other processes the way every write does.

``PRAGMA journal_mode=WAL`` on a file still in rollback mode needs the file to itself, and
SQLite answers "database is locked" at once (the busy timeout does not apply) while another
connection holds a lock on it. Two processes opening a fresh data directory together hit
that; both stores (the knowledge base, the relational store) switch through
:func:`enable_wal`, which backs off and tries again within the connection's time budget.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from hub.backoff import backoff_delay

__all__ = ["enable_wal"]


def enable_wal(
    connection: sqlite3.Connection, *, timeout_s: float, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Put ``connection``'s file in WAL mode, retrying a locked file for up to ``timeout_s``.

    Raises the last ``sqlite3.OperationalError`` when the file stays locked that long.
    """
    deadline = time.monotonic() + timeout_s
    failures = 0
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            failures += 1
            passing = "locked" in str(exc) or "busy" in str(exc)
            if not passing or time.monotonic() >= deadline:
                raise
            sleep(backoff_delay(failures, base_s=0.01, max_s=0.5, jitter=True))
