"""SLA benchmark: business-time arithmetic, the tracker following the event log, and what the
``sla`` object costs the inbox page. SQLite, and PostgreSQL when reachable.

    .venv/bin/python bench/sla.py                 # 5,000 conversations, 6 events each
    .venv/bin/python bench/sla.py --n 20000
    .venv/bin/python bench/sla.py --backends sqlite

Prints, each against a baseline measured in the same run:

  * clock: ``due_at`` calls/s for an 8-hour target in Berlin office hours with two pauses,
    against calendar time (the same call without a calendar);
  * tracker: events/s applied by ``store.sla.follow()`` (clocks written, cursor moved), against
    reading the same events from the log alone (``store.events.read`` pages);
  * inbox: p50/p95 of ``GET /conversations`` (the whole app: auth, search, clocks,
    serialisation) for pages of 25 and 200, before the tracker has written any clock and after
    every conversation has one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from crm import CRMStore, open_crm
from crm.engine import normalise_url
from crm.events import NewEvent
from crm.sla import SlaPolicySpec
from crm.sla.clock import BusinessCalendar, due_at
from hub.models import Conversation
from hub.settings import Settings
from kb import open_kb
from kb.base import KnowledgeBase

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
OFFICE = {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}


def _rate(count: int, work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return count / (time.perf_counter() - start)


def bench_clock(calls: int) -> None:
    calendar = BusinessCalendar.from_spec("Europe/Berlin", OFFICE, holidays=["2026-12-25"])
    starts = [T0 + timedelta(minutes=37 * i) for i in range(calls)]
    pauses = [
        [(s + timedelta(hours=1), s + timedelta(hours=20)), (s + timedelta(days=2), s + timedelta(days=3))]
        for s in starts
    ]
    target = timedelta(hours=8)
    business = _rate(
        calls, lambda: [due_at(s, target, calendar, p) for s, p in zip(starts, pauses, strict=True)]
    )
    calendar_time = _rate(
        calls, lambda: [due_at(s, target, None, p) for s, p in zip(starts, pauses, strict=True)]
    )
    print(
        f"clock: due_at {business:,.0f} calls/s in business hours, {calendar_time:,.0f} calls/s in calendar "
        f"time (ratio {business / calendar_time:.2f})"
    )


def _events(n: int) -> list[NewEvent]:
    """Per conversation: created, inbound, pending, open, outbound reply, resolved."""
    new: list[NewEvent] = []
    for i in range(n):
        cid, at = f"cnv_{i}", T0 + timedelta(minutes=i)
        sent = at.isoformat()
        new += [
            NewEvent(
                type="conversation.created",
                conversation_id=cid,
                data={"channel": "email", "message_id": f"m{i}", "sent_at": sent},
            ),
            NewEvent(
                type="message.created",
                conversation_id=cid,
                data={"message_id": f"m{i}", "direction": "in", "sent_at": sent},
            ),
            NewEvent(
                type="conversation.status_changed",
                conversation_id=cid,
                data={"from": "open", "to": "pending"},
            ),
            NewEvent(
                type="conversation.status_changed",
                conversation_id=cid,
                data={"from": "pending", "to": "open"},
            ),
            NewEvent(
                type="message.created",
                conversation_id=cid,
                data={"message_id": f"r{i}", "direction": "out", "sent_at": sent, "sent_by": "a1"},
            ),
            NewEvent(
                type="conversation.status_changed",
                conversation_id=cid,
                data={"from": "open", "to": "resolved"},
            ),
        ]
    return new


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"p50 {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"


def bench_store(name: str, stores: Callable[[], AbstractContextManager[Settings]], n: int) -> None:
    """The tracker on filled stores, then each inbox page size on fresh filled stores."""
    with stores() as settings:
        crm, kb = open_crm(settings), open_kb(settings)
        try:
            _fill(crm, kb, n)
            total = crm.events.last_id()

            def read_all() -> None:
                after = 0
                while page := crm.events.read(after=after, limit=500):
                    after = page[-1].id

            reading = _rate(total, read_all)
            following = _rate(total, crm.sla.follow)
        finally:
            crm.close()
            kb.close()
    print(
        f"{name}: tracker {following:,.0f} events/s applied ({n:,} conversations, {total:,} events); "
        f"reading them alone {reading:,.0f} events/s (ratio {following / reading:.2f})"
    )
    for size in (25, 200):
        with stores() as settings:
            crm, kb = open_crm(settings), open_kb(settings)
            try:
                _fill(crm, kb, n)
            finally:
                crm.close()
                kb.close()
            _page(name, settings, size)


def _fill(crm: CRMStore, kb: KnowledgeBase, n: int) -> None:
    crm.sla.policies.create(
        SlaPolicySpec.model_validate(
            {
                "name": "default",
                "first_response_minutes": 60,
                "next_response_minutes": 120,
                "resolution_minutes": 960,
                "business_hours": {"timezone": "Europe/Berlin", "hours": OFFICE},
            }
        )
    )
    new = _events(n)
    for i in range(0, len(new), 3000):
        crm.events.append_many(new[i : i + 3000])
    conversations = [
        Conversation(
            id=f"cnv_{i}",
            channel="email",
            first_message_at=T0 + timedelta(minutes=i),
            last_message_at=T0 + timedelta(minutes=i),
            message_count=2,
        )
        for i in range(n)
    ]
    for i in range(0, n, 1000):
        kb.upsert_conversations(conversations[i : i + 1000])


def _page(name: str, settings: Settings, size: int, rounds: int = 60) -> None:
    """GET /conversations through the whole app (auth, search, clocks, serialisation) over the
    filled stores, before (no clock rows yet: the query finds nothing) and after the tracker
    has written every conversation's clock."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    app = create_app(
        settings.model_copy(update={"api": settings.api.model_copy(update={"allowed_hosts": ["testserver"]})})
    )
    crm: CRMStore = app.state.crm
    agent = crm.agents.create(name="Bench", email=f"bench{size}@parley.test", role="viewer")
    token = crm.credentials.create_token(agent.id, name="bench", ttl=timedelta(days=1)).token
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:

        def sample() -> list[float]:
            times = []
            for r in range(rounds):
                start = time.perf_counter()
                answer = client.get("/conversations", params={"limit": size, "offset": (r * size) % 2000})
                times.append(time.perf_counter() - start)
                assert answer.status_code == 200, answer.text
            return times

        sample()  # warm up
        if crm.sla.tracker.cursor() == 0:
            without = sample()
            crm.sla.follow()
            sample()  # warm up again: the tracker's writes just went through the same database
        else:
            raise RuntimeError("the inbox page is measured before the tracker has run")
        with_clocks = sample()
        items = client.get("/conversations", params={"limit": size}).json()["items"]
        assert all(item["sla"] is not None for item in items)
    ratio = statistics.median(with_clocks) / statistics.median(without)
    print(
        f"{name}: GET /conversations?limit={size}: without clocks {_percentiles(without)}; "
        f"with every clock {_percentiles(with_clocks)} (median ratio {ratio:.2f})"
    )


@contextmanager
def _sqlite() -> Iterator[Settings]:
    with tempfile.TemporaryDirectory(prefix="parley-bench-sla-") as tmp:
        yield Settings(data_dir=Path(tmp), demo=False)


@contextmanager
def _postgres(url: str) -> Iterator[Settings]:
    url = normalise_url(url)
    schema = f"bench_sla_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        with tempfile.TemporaryDirectory(prefix="parley-bench-sla-") as tmp:
            yield Settings(
                data_dir=Path(tmp), demo=False, database_url=scoped.render_as_string(hide_password=False)
            )
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=5000, help="conversations (6 events each)")
    parser.add_argument("--clock-calls", type=int, default=20000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "PARLEY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    bench_clock(args.clock_calls)
    backends = args.backends.split(",")
    if "sqlite" in backends:
        bench_store("sqlite", _sqlite, args.n)
    if "postgresql" in backends:
        try:
            bench_store("postgresql", lambda: _postgres(args.postgres_url), args.n)
        except OperationalError as exc:
            print(f"postgresql: skipped, the server is not reachable ({exc.orig})")


if __name__ == "__main__":
    main()
