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
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, Connection, Table

from crm.schema import UTCDateTime

__all__ = ["bulk_insert", "bulk_update", "bulk_upsert"]

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
    return list(_converters_for(conn.dialect.name, table, tuple(names)))


@lru_cache(maxsize=256)
def _converters_for(dialect: str, table: Table, names: tuple[str, ...]) -> tuple[Converter | None, ...]:
    # kept per (dialect, table, columns): routing writes the same few shapes in every batch
    converters: list[Converter | None] = []
    for name in names:
        column_type = table.c[name].type
        if isinstance(column_type, UTCDateTime):
            converters.append(_sqlite_datetime if dialect == "sqlite" else _aware)
        elif isinstance(column_type, JSON):
            converters.append(_json)
        else:
            converters.append(None)
    return tuple(converters)


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


#: statements built by (dialect, table, kind, columns, key): building one is string work that
#: every routing batch repeated for the same few shapes
_STATEMENTS: dict[tuple[str, str, str, tuple[str, ...], str], str] = {}


def _statement(conn: Connection, table: Table, kind: str, names: tuple[str, ...], key: str = "") -> str:
    cache_key = (conn.dialect.name, table.name, kind, names, key)
    sql = _STATEMENTS.get(cache_key)
    if sql is None:
        mark = _placeholder(conn)
        if kind == "update":
            assignments = ", ".join(f"{_quote(conn, n)} = {_cast(conn, table, n, mark)}" for n in names)
            sql = f"UPDATE {_quote(conn, table.name)} SET {assignments} WHERE {_quote(conn, key)} = {mark}"
        else:
            columns = ", ".join(_quote(conn, n) for n in names)
            values = ", ".join(_cast(conn, table, n, mark) for n in names)
            sql = f"INSERT INTO {_quote(conn, table.name)} ({columns}) VALUES ({values})"
            if kind == "upsert":
                changed = ", ".join(
                    f"{_quote(conn, n)} = excluded.{_quote(conn, n)}" for n in names if n != key
                )
                sql += f" ON CONFLICT ({_quote(conn, key)}) DO UPDATE SET {changed}"
        _STATEMENTS[cache_key] = sql
    return sql


def _insert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    same: Mapping[str, Any] | None,
    kind: str,
    key: str = "",
) -> None:
    if not rows:
        return
    names = list(rows[0])
    shared = dict(same or {})
    sql = _statement(conn, table, kind, (*names, *shared), key)
    tuples = _tuples(rows, names, _converters(conn, table, names))
    if shared:
        tail = _tuples([shared], list(shared), _converters(conn, table, list(shared)))[0]
        tuples = [row + tail for row in tuples]
    conn.exec_driver_sql(sql, tuples)


def bulk_insert(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], same: Mapping[str, Any] | None = None
) -> None:
    """INSERT ``rows`` (dicts with the same keys) into ``table``, in order; ``same`` holds
    values every row shares (a timestamp, say), converted once."""
    _insert(conn, table, rows, same, "insert")


def bulk_upsert(
    conn: Connection,
    table: Table,
    key: str,
    rows: Sequence[Mapping[str, Any]],
    same: Mapping[str, Any] | None = None,
) -> None:
    """:func:`bulk_insert`, a row whose ``key`` (the table's primary key, one column) is stored
    already updating its other columns instead (``ON CONFLICT ... DO UPDATE``: SQLite and
    PostgreSQL)."""
    _insert(conn, table, rows, same, "upsert", key)


def bulk_update(conn: Connection, table: Table, key: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """UPDATE ``table`` SET the other keys WHERE ``key`` = each row's ``key``."""
    if not rows:
        return
    names = [n for n in rows[0] if n != key]
    sql = _statement(conn, table, "update", tuple(names), key)
    ordered = [*names, key]
    conn.exec_driver_sql(sql, _tuples(rows, ordered, _converters(conn, table, ordered)))
