"""Benchmark of the CRM sink: author upserts per second, batched, on SQLite and PostgreSQL.

    .venv/bin/python bench/crm.py                  # 50,000 authors, batches of 1,000
    .venv/bin/python bench/crm.py --n 5000 --batch 500
    .venv/bin/python bench/crm.py --backends sqlite

Authors are spread over twitter, facebook, email and sms; 20% of them share an email address
or phone number with an earlier author on another channel (so identity resolution merges
them). Each author sends one message. Prints, per backend and measured in the same run:

  * batched: authors/s through ``CRMStore.upsert_from_messages`` in batches of ``--batch``;
  * replay: the same messages again (nothing new to count: the at-least-once replay path);
  * baseline: authors/s one message per call (no batching) on the first ``--baseline`` authors,
    and the ratio batched / baseline.

PostgreSQL runs when ``--postgres-url`` (default ``PARLEY_TEST_POSTGRES_URL`` or the local test
server) is reachable, in a throw-away schema; otherwise it prints why it was skipped.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from crm import CRMStore, open_crm
from crm.engine import normalise_url
from hub.models import Enrichment, Identity, Message
from hub.settings import Settings

CHANNELS = ["twitter", "facebook", "email", "sms"]
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _author(channel: str, n: int, email: str | None, phone: str | None) -> Identity:
    if channel == "email":
        return Identity(
            channel="email", native_id=email or f"user{n}@bench.example", email=email, display_name=f"U {n}"
        )
    if channel == "sms":
        number = phone or f"+44791{n:07d}"
        return Identity(channel="sms", native_id=number, phone=number)
    return Identity(
        channel=channel,
        native_id=f"{channel}-{n}",
        handle=f"user{n}",
        display_name=f"User {n}",
        email=email,
        phone=phone,
    )


def workload(n: int, seed: int = 7) -> list[Message]:
    """``n`` messages from ``n`` authors, 20% of whom share an email or phone with an earlier one."""
    rng = random.Random(seed)
    people: list[tuple[str, str]] = []
    messages = []
    for i in range(n):
        if people and rng.random() < 0.2:
            email, phone = rng.choice(people)
            shared_email, shared_phone = (email, None) if rng.random() < 0.5 else (None, phone)
            channel = rng.choice(CHANNELS)
            if (channel == "email" and shared_email is None) or (channel == "sms" and shared_phone is None):
                channel = "twitter"
            who = _author(channel, i, shared_email, shared_phone)
        else:
            email, phone = f"user{i}@bench.example", f"+44791{i:07d}"
            people.append((email, phone))
            channel = rng.choice(CHANNELS)
            with_email = email if channel == "email" or rng.random() < 0.5 else None
            with_phone = phone if channel == "sms" or rng.random() < 0.3 else None
            who = _author(channel, i, with_email, with_phone)
        enrichment = Enrichment(
            sentiment=rng.uniform(-1, 1), language=rng.choice(["en", "en", "fr", "de"]), done=True
        )
        messages.append(
            Message(
                channel=who.channel,
                native_id=f"m{i}",
                author=who,
                text="hi",
                created_at=T0 + timedelta(seconds=i),
                enrichment=enrichment,
            )
        )
    return messages


def _timed(store: CRMStore, batches: Sequence[Sequence[Message]]) -> float:
    start = time.perf_counter()
    for batch in batches:
        store.upsert_from_messages(batch)
    return time.perf_counter() - start


@contextmanager
def _sqlite() -> Iterator[Settings]:
    with tempfile.TemporaryDirectory(prefix="parley-bench-crm-") as tmp:
        yield Settings(data_dir=Path(tmp), demo=False)


@contextmanager
def _postgres(url: str) -> Iterator[Settings]:
    url = normalise_url(url)
    schema = f"bench_crm_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        with tempfile.TemporaryDirectory(prefix="parley-bench-crm-") as tmp:
            yield Settings(
                data_dir=Path(tmp), demo=False, database_url=scoped.render_as_string(hide_password=False)
            )
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def run(name: str, settings: Settings, messages: list[Message], batch: int, baseline: int) -> None:
    store = open_crm(settings)
    try:
        batches = [messages[i : i + batch] for i in range(0, len(messages), batch)]
        seconds = _timed(store, batches)
        rate = len(messages) / seconds
        contacts = store.count_contacts()
        replay = len(messages) / _timed(store, batches)
    finally:
        store.close()
    # the baseline runs on a fresh store: one call per author, as an unbatched sink would
    with _sqlite() if name == "sqlite" else _postgres(settings.database_url or "") as fresh:
        single = open_crm(fresh)
        try:
            sample = messages[:baseline]
            base_rate = len(sample) / _timed(single, [[m] for m in sample])
        finally:
            single.close()
    print(
        f"{name:10s} batched   {len(messages):>7,d} authors in batches of {batch:,d}: "
        f"{seconds:7.2f}s  {rate:9,.0f} upserts/s  -> {contacts:,d} contacts"
    )
    print(f"{name:10s} replay    {len(messages):>7,d} authors (all seen):      {replay:9,.0f} upserts/s")
    print(
        f"{name:10s} baseline  {len(sample):>7,d} authors one per call:        {base_rate:9,.0f} upserts/s"
        f"   batched/baseline = {rate / base_rate:.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=50_000, help="authors (one message each)")
    parser.add_argument("--batch", type=int, default=1000, help="messages per upsert call")
    parser.add_argument("--baseline", type=int, default=1000, help="authors in the unbatched baseline")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "PARLEY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    messages = workload(args.n)
    print(f"workload: {args.n:,d} authors over {', '.join(CHANNELS)}; ~20% share an email or phone")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "sqlite" in backends:
        with _sqlite() as settings:
            run("sqlite", settings, messages, args.batch, args.baseline)
    if "postgresql" in backends:
        try:
            with _postgres(args.postgres_url) as settings:
                run("postgresql", settings, messages, args.batch, args.baseline)
        except OperationalError as exc:
            print(f"postgresql skipped: cannot connect ({str(exc.orig).strip().splitlines()[0]})")


if __name__ == "__main__":
    main()
