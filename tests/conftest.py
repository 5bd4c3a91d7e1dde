"""Shared fixtures: an isolated Settings per test and the third-party corpora (optional)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hub.settings import Settings

CORPORA = Path(
    os.environ.get("PARLEY_CORPORA", Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora")
)


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


def postgres_url() -> str | None:
    """The PostgreSQL URL the CRM tests also run against, when ``PARLEY_TEST_POSTGRES_URL`` is set."""
    return os.environ.get("PARLEY_TEST_POSTGRES_URL") or None
