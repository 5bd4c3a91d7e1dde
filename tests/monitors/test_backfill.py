"""Backfilling a monitor from each knowledge-base backend (Elasticsearch when PARLEY_ES_URL is
set): its windows equal a brute-force count, across search pages, and the flow counting the
same messages afterwards counts nothing twice."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from api.monitor_backfill import backfill
from crm import CRMStore, open_crm
from hub.settings import Settings
from kb.base import KnowledgeBase
from tests.kb.conftest import BACKENDS, drop_kb, make_kb
from tests.monitors.helpers import (
    QUIET,
    SENTIMENTS,
    T0,
    TAGS,
    WORDS,
    brute_force,
    message,
    run_monitor_flow,
    stored,
)


@pytest.fixture(params=BACKENDS)
def kb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KnowledgeBase]:
    store = make_kb(request.param, tmp_path)
    yield store
    drop_kb(store)


@pytest.fixture
def crm(settings: Settings) -> Iterator[CRMStore]:
    store = open_crm(settings)
    yield store
    store.close()


def _messages(count: int) -> list:
    rng = random.Random(7)
    return [
        message(
            n,
            rng.sample(WORDS, rng.randint(1, 4)),
            T0 + timedelta(seconds=rng.randrange(0, 6 * 3600)),
            sentiment=rng.choice(SENTIMENTS),
            channel=rng.choice(["twitter", "email"]),
            hashtags=rng.sample(TAGS, rng.randint(0, 2)),
        )
        for n in range(count)
    ]


def test_backfill_counts_the_history_over_several_pages(
    kb: KnowledgeBase, crm: CRMStore, settings: Settings
) -> None:
    messages = _messages(2500)
    kb.upsert_messages(messages)
    kb.refresh()
    broad = crm.monitors.create("Broad", "acme OR kettle OR refund", alerts=QUIET)  # > 1 page
    narrow = crm.monitors.create("Narrow", "hashtag:acmefail -late", channels=["email"], alerts=QUIET)
    for monitor in (broad, narrow):
        found = backfill(kb, crm, monitor)
        expected = brute_force(monitor, messages)
        assert found == sum(w["volume"] for w in expected.values())
        assert stored(crm, monitor) == expected
        assert crm.monitors.get(monitor.id).backfilled_at is not None
    assert sum(w["volume"] for w in brute_force(broad, messages).values()) > 1000

    # the flow then meets the same messages (a replay, or a race with the backfill)
    run_monitor_flow(settings, messages[:300])
    assert stored(crm, broad) == brute_force(broad, messages)
