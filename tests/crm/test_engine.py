"""Engine construction: every connection attempt is bounded in time; migrations run once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from crm.engine import (
    PG_CONNECT_TIMEOUT_S,
    SCHEMA_HEAD,
    SQLITE_TIMEOUT_S,
    current_revision,
    make_engine,
    migrate,
    migrate_apart,
    normalise_url,
    schema_head,
    start_migration,
)
from hub.errors import FatalError
from tests.conftest import postgres_url


class _Captured(Exception):
    """Raised by the do_connect hook so no server is needed to see the connect arguments."""


def _connect_params(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    captured: dict[str, Any] = {}

    @event.listens_for(engine, "do_connect")
    def _capture(_dialect: Any, _record: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        captured.update(kwargs)
        raise _Captured

    try:
        with pytest.raises(_Captured), engine.connect():
            pass
    finally:
        engine.dispose()
    return captured


@pytest.mark.parametrize(
    "url",
    ["postgresql://u@db.invalid/crm", "postgres://u@db.invalid/crm", "postgresql+psycopg://u@db.invalid/crm"],
)
def test_postgresql_connections_have_a_connect_timeout(url: str) -> None:
    params = _connect_params(url)
    assert params["connect_timeout"] == PG_CONNECT_TIMEOUT_S == 10


def test_sqlite_connections_wait_for_a_locked_file_with_a_bound(tmp_path: Path) -> None:
    params = _connect_params(f"sqlite:///{tmp_path / 'crm.db'}")
    assert params["timeout"] == SQLITE_TIMEOUT_S


def test_a_real_postgresql_connection_carries_the_timeout() -> None:
    base = postgres_url()
    if base is None:
        pytest.skip("PARLEY_TEST_POSTGRES_URL is not set")
    engine = make_engine(normalise_url(base))
    try:
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            assert raw.info.get_parameters()["connect_timeout"] == str(PG_CONNECT_TIMEOUT_S)
    finally:
        engine.dispose()


def test_psycopg_pipeline_exit_noise_is_dropped_and_other_warnings_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    make_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test").dispose()  # installs the filter
    psycopg_log = logging.getLogger("psycopg")
    with caplog.at_level(logging.WARNING, logger="psycopg"):
        psycopg_log.warning("error ignored terminating %r: %s", "<psycopg.Pipeline>", "serialization failure")
        psycopg_log.warning("connection lost: %s", "server closed the connection")
    assert [record.getMessage() for record in caplog.records] == [
        "connection lost: server closed the connection"
    ]


def _loads_alembic(imports: str, call: str) -> bool:
    """Whether a fresh Python process running ``imports`` then ``call`` ends with Alembic loaded."""
    script = f"import sys\n{imports}\n{call}\nprint('alembic' in sys.modules)\n"
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=root, check=True, timeout=300
    )
    return {"True": True, "False": False}[done.stdout.strip()]


def test_the_schema_head_constant_is_the_newest_migration() -> None:
    assert schema_head() == SCHEMA_HEAD, "a new migration: set crm.engine.SCHEMA_HEAD to its revision"


def test_a_current_store_opens_without_loading_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = make_engine(url)
    with engine.connect() as conn:
        assert current_revision(conn) is None
    migrate(engine)
    with engine.connect() as conn:
        assert current_revision(conn) == SCHEMA_HEAD
    engine.dispose()
    # a second process opening the migrated store: Alembic (about 11 MB) stays unloaded
    assert not _loads_alembic("from crm.engine import make_engine, migrate", f"migrate(make_engine({url!r}))")


def test_a_fresh_store_is_migrated_apart_and_its_caller_never_loads_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    assert not _loads_alembic("from crm.engine import migrate_apart", f"migrate_apart({url!r})")
    engine = make_engine(url)
    with engine.connect() as conn:
        assert current_revision(conn) == SCHEMA_HEAD
    engine.dispose()


def test_a_migration_that_fails_apart_says_why(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:  # a store from a newer Parley: no migration path from here
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('9999')")
    engine.dispose()
    with pytest.raises(FatalError, match=r"migrating the CRM database .* failed: .*9999"):
        migrate_apart(url)


def test_a_migration_started_apart_runs_while_its_caller_goes_on(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    migration = start_migration(url)
    assert migration.needed
    engine = make_engine(url)
    try:
        migration.wait()
        migration.wait()  # a second wait returns at once
        with engine.connect() as conn:
            assert current_revision(conn) == SCHEMA_HEAD
        # a current store starts no child at all
        assert not start_migration(url).needed
    finally:
        engine.dispose()
