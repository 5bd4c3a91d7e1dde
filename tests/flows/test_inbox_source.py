"""The inbox source: webhook pushes accepted by the real API reach the real ingest flow once each,
and a restarted flow (resumed from its Bytewax snapshot) loses and duplicates nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import run_main

from api.app import create_app
from crm import CRMStore, open_crm
from crm.engine import make_engine
from flows.inbox import InboxPartition, InboxSource, inbox_sources
from flows.ingest import build_flow, default_sources
from flows.report import IngestReport
from hub.models import DeadLetter, Envelope, message_id
from hub.settings import Settings
from kb import open_kb
from tests.channels.signed_webhook import SIGNATURE_HEADER, configured, push_body, register, sign
from tests.conftest import free_ports


@pytest.fixture
def hub(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    register(monkeypatch)
    return configured(settings)


@pytest.fixture
def crm(hub: Settings) -> Iterator[CRMStore]:
    store = open_crm(hub)
    yield store
    store.close()


def small_batches(settings: Settings, batch: int) -> Settings:
    return settings.model_copy(
        update={"webhooks": settings.webhooks.model_copy(update={"inbox_read_batch": batch})}
    )


def envelopes(first: int, count: int) -> list[Envelope]:
    return [
        Envelope(
            channel="hooktest",
            kind="parley.message",
            account="brand",
            payload={"native_id": f"m{n}", "text": "hi"},
        )
        for n in range(first, first + count)
    ]


def native_ids(items: list[Envelope | DeadLetter]) -> list[str]:
    return [item.payload["native_id"] for item in items if isinstance(item, Envelope)]


# --- the partition on its own ---------------------------------------------------------------


def test_reads_in_order_and_resumes_after_its_snapshot(hub: Settings, crm: CRMStore) -> None:
    settings = small_batches(hub, 5)
    crm.add_inbox(envelopes(1, 12))
    part = InboxPartition(open_crm(settings), settings, None)
    assert native_ids(part.next_batch()) == [f"m{n}" for n in range(1, 6)]
    assert part.next_awake() is None, "a full batch: call again at once"
    snapshot = part.snapshot()
    assert native_ids(part.next_batch()) == [f"m{n}" for n in range(6, 11)]
    part.close()  # a crash: m6..m10 were emitted after the last snapshot

    resumed = InboxPartition(open_crm(settings), settings, snapshot)
    assert native_ids(resumed.next_batch()) == [f"m{n}" for n in range(6, 11)], "read again: at least once"
    assert native_ids(resumed.next_batch()) == ["m11", "m12"]
    wake = resumed.next_awake()
    assert wake is not None and wake > datetime.now(UTC), "a partial batch: poll later"
    assert wake <= datetime.now(UTC) + timedelta(seconds=settings.webhooks.inbox_poll_s)
    assert resumed.next_batch() == [], "never blocks: nothing new is an empty batch"
    crm.add_inbox(envelopes(13, 1))
    assert native_ids(resumed.next_batch()) == ["m13"]
    resumed.close()


def test_without_a_snapshot_it_starts_after_the_rows_already_read(hub: Settings, crm: CRMStore) -> None:
    crm.add_inbox(envelopes(1, 3))
    first = InboxPartition(open_crm(hub), hub, None)
    assert len(first.next_batch()) == 3
    first.close()
    crm.add_inbox(envelopes(4, 2))
    fresh = InboxPartition(open_crm(hub), hub, None)  # e.g. a new recovery directory
    assert native_ids(fresh.next_batch()) == ["m4", "m5"]
    fresh.close()


def test_unread_rows_behind_the_cursor_are_read_not_skipped(hub: Settings, crm: CRMStore) -> None:
    crm.add_inbox(envelopes(1, 3))  # ids 1..3 in a store newer than the snapshot below
    part = InboxPartition(open_crm(hub), hub, 1000)
    assert native_ids(part.next_batch()) == ["m1", "m2", "m3"]
    part.close()


def test_once_ends_when_nothing_is_new(hub: Settings, crm: CRMStore) -> None:
    crm.add_inbox(envelopes(1, 2))
    part = InboxPartition(open_crm(hub), hub, None, once=True)
    assert len(part.next_batch()) == 2
    with pytest.raises(StopIteration):
        part.next_batch()
    part.close()


def test_a_store_that_is_down_is_retried_later_not_a_crash(hub: Settings) -> None:
    # the real store class over a PostgreSQL address nothing listens on
    down = CRMStore(make_engine(f"postgresql+psycopg://parley@127.0.0.1:{free_ports(1)[0]}/none"))
    part = InboxPartition(down, hub, 7)
    assert part.next_batch() == []
    wake = part.next_awake()
    assert wake is not None and wake > datetime.now(UTC)
    assert part.snapshot() == 7, "the cursor is kept"
    part.close()


# --- when the ingest flow gets an inbox source ----------------------------------------------


def test_no_inbox_source_without_webhooks_or_waiting_rows(settings: Settings) -> None:
    assert inbox_sources(settings) == []
    assert default_sources(settings) == []


def test_a_configured_webhook_channel_gets_the_inbox_source(hub: Settings) -> None:
    assert [name for name, _ in inbox_sources(hub)] == ["inbox_in"]


def test_a_registered_but_unconfigured_channel_does_not(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch)
    assert inbox_sources(settings) == []


def test_unread_rows_get_the_inbox_source_until_they_are_read(settings: Settings) -> None:
    store = open_crm(settings)
    store.add_inbox(envelopes(1, 1))
    assert [name for name, _ in default_sources(settings)] == ["inbox_in"]
    store.mark_inbox_read(0, 1)
    assert default_sources(settings) == []
    store.close()


# --- the whole path: API → inbox → flow → KB ----------------------------------------------


async def _push(settings: Settings, first: int, count: int, per_push: int = 5) -> None:
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://parley.test"
    ) as client:
        for start in range(first, first + count, per_push):
            body = push_body(start, min(per_push, first + count - start))
            response = await client.post(
                "/webhooks/hooktest/brand", content=body, headers={SIGNATURE_HEADER: sign(body)}
            )
            assert response.status_code == 200
    app.state.crm.close()
    app.state.kb.close()


def _run(settings: Settings, recovery: Path) -> IngestReport:
    report = IngestReport()
    flow = build_flow(settings, [("inbox_in", InboxSource(settings, once=True))], report=report)
    run_main(flow, epoch_interval=timedelta(milliseconds=200), recovery_config=RecoveryConfig(str(recovery)))
    return report


def test_a_burst_is_ingested_once_and_a_restart_neither_loses_nor_repeats(
    hub: Settings, tmp_path: Path
) -> None:
    settings = small_batches(hub, 16)
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    init_db_dir(recovery, 1)

    asyncio.run(_push(settings, 1, 40))
    first = _run(settings, recovery)
    assert first.read == 40 and first.created == 40 and first.dead_letters == 0

    asyncio.run(_push(settings, 41, 15))  # the flow is down while these arrive
    crm = open_crm(settings)
    crm.mark_inbox_read(40, 55)  # so only the Bytewax snapshot knows where the flow stopped
    crm.close()
    second = _run(settings, recovery)
    assert second.read == 15, "resumed from the snapshot: only the new pushes are read"
    assert second.created == 15 and second.duplicates == 0

    kb = open_kb(settings)
    try:
        assert kb.count_messages() == 55
        stored = kb.get_message(message_id("hooktest", "m55"))
        assert stored is not None and stored.account == "brand" and "kettle" in stored.text
    finally:
        kb.close()
    crm = open_crm(settings)
    assert crm.first_unread_inbox() is None and crm.count_inbox() == 55
    crm.close()
