"""Engine construction: every connection attempt is bounded in time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from crm.engine import PG_CONNECT_TIMEOUT_S, SQLITE_TIMEOUT_S, make_engine, normalise_url
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
