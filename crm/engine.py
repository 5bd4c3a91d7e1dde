"""Engines, migrations and write transactions of the CRM store, for SQLite and PostgreSQL.

One URL picks the backend: ``sqlite:///path`` (the embedded default; WAL mode, writers
serialised by ``BEGIN IMMEDIATE``) or ``postgresql+psycopg://...`` (writes run SERIALIZABLE).
:func:`write` runs a unit of work in one transaction and retries it when the database reports
a conflict with a concurrent writer (serialization failure, deadlock, unique violation, a
locked SQLite file); after the last attempt it raises :class:`hub.errors.RetriableError`.
Library exceptions are translated here and nowhere else.
"""

from __future__ import annotations

import logging
import random
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from hub.errors import FatalError, RetriableError
from hub.sqlite_wal import enable_wal

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["Migration", "make_engine", "migrate", "migrate_apart", "start_migration", "write"]

log = logging.getLogger("parley.crm")

T = TypeVar("T")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: the newest revision in ``migrations/versions`` (a test keeps the two equal): a store at it
#: opens without loading Alembic, about 11 MB less in every process but the one migrating
SCHEMA_HEAD = "0013"
#: PostgreSQL SQLSTATEs that mean "a concurrent transaction got there first: try again"
RETRY_SQLSTATES = {"40001", "40P01", "23505", "55P03"}
#: an arbitrary constant: the advisory lock key that serialises concurrent migrators
MIGRATION_LOCK = 0x5041524C
#: seconds to wait for a PostgreSQL connection before giving up (an unreachable host must fail
#: the request, not hang a worker for the operating system's TCP timeout)
PG_CONNECT_TIMEOUT_S = 10
#: seconds a SQLite connection waits for another writer's lock
SQLITE_TIMEOUT_S = 30


def normalise_url(url: str) -> str:
    """Pick psycopg 3 for PostgreSQL whatever spelling the user wrote."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


class _PipelineExitNoise(logging.Filter):
    """Drops psycopg's "error ignored terminating <Pipeline>" warning.

    psycopg logs it when a pipelined ``executemany`` fails (a serialization failure between
    concurrent writers, say) and closing the pipeline fails again: the first error still
    propagates, and :func:`write` retries it or reports it, so the warning only repeats it, and
    under load it reached users as a stray "error" line of a run that succeeded.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("error ignored terminating")


_PSYCOPG_NOISE = _PipelineExitNoise()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get their directory created and WAL mode."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        connect_args: dict[str, Any] = {}
        if parsed.get_driver_name() in {"psycopg", "psycopg2"}:
            connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
            logging.getLogger("psycopg").addFilter(_PSYCOPG_NOISE)  # idempotent: one instance
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, connect_args=connect_args)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_TIMEOUT_S, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself, so writers can BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        enable_wal(dbapi_connection, timeout_s=SQLITE_TIMEOUT_S)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_TIMEOUT_S * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # A deferred transaction that later writes can fail with "database is locked" without
        # waiting; taking the write lock up front makes concurrent writers queue instead.
        immediate = conn.get_execution_options().get("parley_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def write_engine(engine: Engine) -> Engine:
    """The same pool, configured for write transactions."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="SERIALIZABLE", parley_write=True)
    return engine.execution_options(parley_write=True)


def _alembic_config(connection: Connection | None) -> Config:
    from alembic.config import Config

    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def current_revision(conn: Connection) -> str | None:
    """The store's schema revision (Alembic's ``alembic_version`` row), None when fresh."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to the newest revision (cheap when already current)."""
    try:
        with engine.connect() as conn:
            current = current_revision(conn)
        if current == SCHEMA_HEAD:
            return
        from alembic import command

        with engine.execution_options(parley_write=True).begin() as conn:
            if conn.dialect.name == "postgresql":
                # Two processes opening a fresh database at once must not both create tables.
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            command.upgrade(_alembic_config(conn), "head")
    except OperationalError as exc:
        raise FatalError(f"cannot open the CRM database ({engine.url!r}): {exc.orig}") from exc
    log.info("CRM schema migrated to %s", SCHEMA_HEAD)


class Migration:
    """A CRM migration running in a child process (:func:`start_migration`), or none needed."""

    def __init__(self, child: subprocess.Popen[str] | None, shown_url: str) -> None:
        self._child = child
        self._shown_url = shown_url
        #: whether the store was behind and a child was started to migrate it
        self.needed = child is not None

    def wait(self) -> None:
        """Block until the migration has finished; ``FatalError`` with the child's last line
        when it failed. Returns at once when there was nothing to migrate, or on a second call."""
        child, self._child = self._child, None
        if child is None:
            return
        try:
            out, err = child.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            raise FatalError(f"migrating the CRM database ({self._shown_url}) took over 10 minutes") from None
        if child.returncode != 0:
            lines = (err or out).strip().splitlines()
            reason = lines[-1] if lines else f"exit status {child.returncode}"
            raise FatalError(f"migrating the CRM database ({self._shown_url}) failed: {reason}")


def start_migration(url: str) -> Migration:
    """Start bringing the store at ``url`` to the newest revision in a short-lived child process
    when it is not there yet, so the calling process never loads Alembic and the migration
    scripts (about 11 MB it would keep for as long as it runs: a flow process runs for hours).
    The caller goes on (loading its models, say) and calls ``wait()`` before it opens the
    store. For the entry points of long-running processes; a store that is current costs one
    query and starts nothing."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            current = current_revision(conn)
    except OperationalError as exc:
        raise FatalError(f"cannot open the CRM database ({engine.url!r}): {exc.orig}") from exc
    finally:
        engine.dispose()
    if current == SCHEMA_HEAD:
        return Migration(None, repr(engine.url))
    child = subprocess.Popen(
        [sys.executable, "-m", "crm.migrate"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # the URL goes on stdin: a command line is readable by every user of the machine, and a
    # PostgreSQL URL may hold a password
    if child.stdin is not None:  # one line (the child reads a line); communicate() closes it
        with suppress(BrokenPipeError):  # a child that died at once: wait() reports why
            child.stdin.write(url + "\n")
            child.stdin.flush()
    return Migration(child, repr(engine.url))


def migrate_apart(url: str) -> None:
    """:func:`start_migration` and wait for it."""
    start_migration(url).wait()


def schema_head() -> str:
    """The newest revision as Alembic reads it from ``migrations/versions``."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config(None)).get_current_head()
    if head is None:
        raise FatalError(f"no CRM migrations found in {MIGRATIONS}")
    return head


def _retriable(exc: DBAPIError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in RETRY_SQLSTATES
    message = str(exc.orig).lower()
    return "database is locked" in message or "database is busy" in message


def write(engine: Engine, work: Callable[[Connection], T], *, attempts: int = 8) -> T:
    """Run ``work`` in one write transaction, retrying on conflicts with concurrent writers."""
    delay = 0.02
    for attempt in range(1, attempts + 1):
        try:
            with engine.begin() as conn:
                return work(conn)
        except DBAPIError as exc:
            if not _retriable(exc):
                raise
            if attempt == attempts:
                raise RetriableError(f"CRM write kept conflicting with other writers: {exc.orig}") from exc
            log.debug("CRM write conflict (%s); retry %d", exc.orig, attempt)
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 1.0)
    raise AssertionError("unreachable")
