"""Fixtures of the feeds channel tests: a live local feed server and source helpers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from channels.feeds.source import FeedItem, FeedPartition, FeedSource
from tests.channels.feeds.feedserver import FeedServer, serve

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def feed_server(corpora: Path) -> Iterator[FeedServer]:
    """Serves corpora ``feeds/`` at ``/feeds/``, ``forums/`` at ``/forums/``, fixtures at ``/fixtures/``."""
    with serve({"feeds": corpora / "feeds", "forums": corpora / "forums", "fixtures": FIXTURES}) as server:
        yield server


@pytest.fixture
def fixture_server() -> Iterator[FeedServer]:
    """The same server with only our own fixtures (runs without the corpora)."""
    with serve({"fixtures": FIXTURES}) as server:
        yield server


def drain(
    source: FeedSource, resume_state: dict[str, Any] | None = None
) -> tuple[list[FeedItem], dict[str, Any]]:
    """Run a ``once`` source's partition to completion, the way Bytewax calls it."""
    part = source.build_part("feeds_in", "feeds", resume_state)
    items: list[FeedItem] = []
    guard = time.monotonic() + 30  # a hang guard, not a timing assertion
    try:
        while True:
            items.extend(part.next_batch())
            if time.monotonic() > guard:
                raise AssertionError("feed source did not finish its pass")
            time.sleep(0.005)
    except StopIteration:
        pass
    state = part.snapshot()
    part.close()
    return items, state


def settle(part: FeedPartition) -> list[FeedItem]:
    """Call ``next_batch`` until no fetch is in flight; returns what it emitted."""
    items = list(part.next_batch())
    guard = time.monotonic() + 30
    while part.in_flight:
        if time.monotonic() > guard:
            raise AssertionError("fetches did not finish")
        time.sleep(0.005)
        items.extend(part.next_batch())
    return items
