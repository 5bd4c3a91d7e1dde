"""Bulk inserts and updates straight through the DB-API ``executemany``.

Identity resolution writes thousands of rows per batch; SQLAlchemy's per-parameter processing
is most of that cost in Python. These helpers convert values once, column by column, in the
exact storage format the table's SQLAlchemy types use (so rows read back identically) and hand
tuples to the driver.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Connection, Table

from crm.schema import UTCDateTime

__all__ = ["bulk_insert", "bulk_update"]

Converter = Callable[[Any], Any]


def _sqlite_datetime(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    # SQLAlchemy's SQLite DATETIME storage format (always six digits of microseconds, so text
    # comparisons in SQL order correctly); isoformat is several times faster than strftime
    return value.isoformat(sep=" ", timespec="microseconds")


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _converters(conn: Connection, table: Table, names: Sequence[str]) -> list[Converter | None]:
    sqlite = conn.dialect.name == "sqlite"
    converters: list[Converter | None] = []
    for name in names:
        column_type = table.c[name].type
        if isinstance(column_type, UTCDateTime):
            converters.append(_sqlite_datetime if sqlite else _aware)
        elif isinstance(column_type, JSON):
            converters.append(_json)
        else:
            converters.append(None)
    return converters


def _placeholder(conn: Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _cast(conn: Connection, table: Table, name: str, mark: str) -> str:
    # psycopg sends str as text; PostgreSQL needs the cast to store it in a json column.
    if conn.dialect.name == "postgresql" and isinstance(table.c[name].type, JSON):
        return f"CAST({mark} AS JSON)"
    return mark


def _tuples(
    rows: Sequence[Mapping[str, Any]], names: Sequence[str], converters: Sequence[Converter | None]
) -> list[tuple[Any, ...]]:
    pairs = list(zip(names, converters, strict=True))
    return [tuple(row[n] if c is None else c(row[n]) for n, c in pairs) for row in rows]


def bulk_insert(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], same: Mapping[str, Any] | None = None
) -> None:
    """INSERT ``rows`` (dicts with the same keys) into ``table``, in order; ``same`` holds
    values every row shares (a timestamp, say), converted once."""
    if not rows:
        return
    names = list(rows[0])
    shared = dict(same or {})
    mark = _placeholder(conn)
    everything = [*names, *shared]
    columns = ", ".join(_quote(conn, n) for n in everything)
    values = ", ".join(_cast(conn, table, n, mark) for n in everything)
    sql = f"INSERT INTO {_quote(conn, table.name)} ({columns}) VALUES ({values})"
    tuples = _tuples(rows, names, _converters(conn, table, names))
    if shared:
        tail = _tuples([shared], list(shared), _converters(conn, table, list(shared)))[0]
        tuples = [row + tail for row in tuples]
    conn.exec_driver_sql(sql, tuples)


def bulk_update(conn: Connection, table: Table, key: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """UPDATE ``table`` SET the other keys WHERE ``key`` = each row's ``key``."""
    if not rows:
        return
    names = [n for n in rows[0] if n != key]
    mark = _placeholder(conn)
    assignments = ", ".join(f"{_quote(conn, n)} = {_cast(conn, table, n, mark)}" for n in names)
    sql = f"UPDATE {_quote(conn, table.name)} SET {assignments} WHERE {_quote(conn, key)} = {mark}"
    ordered = [*names, key]
    conn.exec_driver_sql(sql, _tuples(rows, ordered, _converters(conn, table, ordered)))
