"""Shared fixtures: an isolated Settings per test, the CRM on SQLite and PostgreSQL, and the
third-party corpora (optional)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

import crm.hashing
from crm.engine import normalise_url
from hub.settings import LOOPBACK_HOSTS, APISettings, Settings

#: variables that switch optional test backends on (or point at the corpora)
KEEP_ENV = {
    "PARLEY_ES_URL",
    "PARLEY_ES__API_KEY",
    "PARLEY_ES__USERNAME",
    "PARLEY_ES__PASSWORD",
    "PARLEY_ES__CA_CERTS",
    "PARLEY_CORPORA",
}

CORPORA = Path(
    os.environ.get("PARLEY_CORPORA", Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora")
)


@pytest.fixture(autouse=True)
def _hermetic_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests see no developer configuration: no PARLEY_* variables (but the test switches),
    and no parley.toml."""
    for name in list(os.environ):
        if name.startswith("PARLEY_") and not name.startswith("PARLEY_TEST_") and name not in KEEP_ENV:
            monkeypatch.delenv(name)
    monkeypatch.setenv("PARLEY_CONFIG", str(tmp_path / "no-parley.toml"))


#: the host of the test clients' base URL (``http://parley.test``): the API answers it in tests
TEST_HOST = "parley.test"


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 with tiny parameters: the real ones cost a third of a second per check on CI's
    cores, and tests check behaviour, not cost (tests/crm/test_credentials.py checks the real
    parameters are the library's defaults)."""
    monkeypatch.setattr(crm.hashing, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))
    crm.hashing._dummy_hash.cache_clear()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose whole state lives in a fresh temporary data directory; the API answers the
    test clients' host as well as the loopback names."""
    return Settings(
        data_dir=tmp_path / "data", demo=False, api=APISettings(allowed_hosts=[*LOOPBACK_HOSTS, TEST_HOST])
    )


@pytest.fixture(scope="session")
def corpora() -> Path:
    """``../shared/corpora``; tests that need it skip cleanly when it is absent."""
    if not CORPORA.is_dir():
        pytest.skip(f"third-party corpora not found at {CORPORA}")
    return CORPORA.resolve()


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (all held until every one is bound)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def postgres_url() -> str | None:
    """The PostgreSQL URL the CRM tests also run against, when ``PARLEY_TEST_POSTGRES_URL`` is set."""
    return os.environ.get("PARLEY_TEST_POSTGRES_URL") or None


def _postgres_settings(settings: Settings) -> Iterator[Settings]:
    base = postgres_url()
    if base is None:
        pytest.skip("PARLEY_TEST_POSTGRES_URL is not set")
    base = normalise_url(base)
    schema = f"crm_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield settings.model_copy(update={"database_url": url.render_as_string(hide_password=False)})
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def crm_settings(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Settings]:
    """Settings pointing the CRM at a fresh SQLite file or, when ``PARLEY_TEST_POSTGRES_URL`` is
    set, a fresh PostgreSQL schema of its own (so parallel runs never collide)."""
    if request.param == "sqlite":
        yield settings
    else:
        yield from _postgres_settings(settings)
