"""Several dispatchers on one PostgreSQL store share the outbox: rows are taken with
``FOR UPDATE SKIP LOCKED``, each reply is sent once by one of them, and a reply left
``sending`` by a dispatcher whose lease ran out is settled by another."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest

from crm import open_crm
from crm.outbox import NewReply
from hub.models import Identity, Message
from hub.settings import Settings
from kb import open_kb
from kb.conversations import ConversationKeeper
from outbound.dispatcher import Dispatcher
from tests.channels.email.conftest import SMTPServer
from tests.conftest import _postgres_settings

pytestmark = pytest.mark.postgres

DANA = Identity(channel="email", native_id="dana@example.org", email="dana@example.org")


@pytest.fixture
def pg_settings(mail_settings: Settings) -> Iterator[Settings]:
    yield from _postgres_settings(mail_settings)


async def test_two_dispatchers_share_the_work_and_send_each_reply_once(
    pg_settings: Settings, smtp_server: SMTPServer
) -> None:
    question = Message(
        channel="email",
        account="support",
        native_id="q@example.org",
        author=DANA,
        subject="Order",
        text="Where?",
        conversation_id="cnv_pg",
    )
    kb = open_kb(pg_settings)
    ConversationKeeper(kb).apply([question])
    kb.close()
    crm = open_crm(pg_settings)
    ids = [
        crm.outbox.enqueue(
            NewReply(
                conversation_id="cnv_pg",
                channel="email",
                account="support",
                author_id="a-1",
                text=f"Answer {n}",
                in_reply_to=question.id,
            )
        )[0].id
        for n in range(40)
    ]
    # a dispatcher died holding one reply before its point of no return; its lease ran out
    stale = crm.outbox.claim("dead-run", timedelta(seconds=-1))
    assert stale is not None
    stores = [(open_crm(pg_settings), open_kb(pg_settings)) for _ in range(2)]
    try:
        dispatchers = [Dispatcher(pg_settings, c, k, senders=2) for c, k in stores]
        assert not any(d.only for d in dispatchers)
        # both to the end before the stores close: a store closed under a running sender's
        # thread would crash the interpreter and hide what went wrong
        outcomes = await asyncio.gather(
            *(d.run(until_idle=True) for d in dispatchers), return_exceptions=True
        )
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if failures:
            raise failures[0]
    finally:
        for c, k in stores:
            k.close()
            c.close()
    counts = Counter(r.message["X-Parley-Reply-Id"] for r in smtp_server.received)
    assert sorted(counts) == sorted(ids) and set(counts.values()) == {1}
    assert all(d.report.sent > 0 for d in dispatchers)
    assert sum(d.report.requeued for d in dispatchers) == 1
    assert crm.outbox.counts()["sent"] == 40
    crm.close()
