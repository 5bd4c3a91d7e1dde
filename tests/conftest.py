"""Shared fixtures: an isolated Settings per test and the third-party corpora (optional)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from hub.settings import Settings

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


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose whole state lives in a fresh temporary data directory."""
    return Settings(data_dir=tmp_path / "data", demo=False)


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
