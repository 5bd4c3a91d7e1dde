"""Benchmark of the reply dispatcher: replies sent per second to a real aiosmtpd server.

    .venv/bin/python bench/outbox.py                      # 300 replies per run
    .venv/bin/python bench/outbox.py --n 1000 --latency-ms 0 20

For each server latency (``--latency-ms``: what the SMTP server takes per mail, 0 = the local
server as fast as it goes, 20 = a relay across a network), measured in the same run over a
fresh SQLite CRM store and knowledge base:

  * baseline: the email replier called directly, one mail after another (no outbox);
  * outbox, 1 sender and 4 senders: ``--n`` replies queued, then ``Dispatcher.run`` until idle:
    claim (row lock), send, record ``sent``, write the outbound message into its conversation
    in the knowledge base, append the events; replies/s, and the ratios 1 sender / baseline
    (the outbox's cost) and 4 senders / 1 sender (what concurrency buys).

Every run checks that the server received each reply exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiosmtpd.controller import Controller
from pydantic import SecretStr

from channels.email import EMAIL
from channels.email.replier import EmailReplier
from channels.email.settings import EmailSettings, MailboxSettings
from crm import open_crm
from crm.outbox import NewReply
from hub.models import Identity, Message, Reply
from hub.settings import Settings
from kb import open_kb
from kb.conversations import ConversationKeeper
from outbound.dispatcher import Dispatcher

CUSTOMER = Identity(
    channel="email", native_id="dana@example.org", email="dana@example.org", display_name="Dana"
)


class Server:
    """aiosmtpd counting mails by reply id, taking ``latency_s`` per mail."""

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.by_reply: Counter[str] = Counter()
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        for line in envelope.content.split(b"\r\n"):
            if line.lower().startswith(b"x-parley-reply-id:"):
                with self.lock:
                    self.by_reply[line.split(b":", 1)[1].strip().decode()] += 1
        return "250 accepted"


def hub(root: Path, port: int, conversations: int) -> tuple[Settings, MailboxSettings, list[Message]]:
    mailbox = MailboxSettings(
        name="support",
        imap_host="127.0.0.1",
        username="support@parley.test",
        password=SecretStr("unused"),
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_tls="none",
        from_address="support@parley.test",
    )
    settings = EMAIL.with_settings(Settings(data_dir=root, demo=False), EmailSettings(accounts=[mailbox]))
    settings.outbox.poll_s = 0.01
    questions = [
        Message(
            channel="email",
            account="support",
            native_id=f"q-{i}@example.org",
            author=CUSTOMER,
            subject=f"Where is my kettle? ({i})",
            text="Order 991, still nothing.",
            conversation_id=f"cnv_bench_{i}",
        )
        for i in range(conversations)
    ]
    kb = open_kb(settings)
    try:
        ConversationKeeper(kb).apply(questions)
    finally:
        kb.close()
    return settings, mailbox, questions


async def baseline(mailbox: MailboxSettings, questions: list[Message], n: int) -> float:
    replier = EmailReplier(mailbox)
    start = time.perf_counter()
    for i in range(n):
        question = questions[i % len(questions)]
        reply = Reply(
            id=f"base-{i}",
            conversation_id=question.conversation_id or "",
            channel="email",
            account="support",
            in_reply_to=question,
            text=f"Baseline answer {i}.",
        )
        await replier.send(reply)
    return n / (time.perf_counter() - start)


async def through_outbox(
    settings: Settings, questions: list[Message], n: int, senders: int, tag: str
) -> float:
    crm, kb = open_crm(settings), open_kb(settings)
    try:
        for i in range(n):
            question = questions[i % len(questions)]
            crm.outbox.enqueue(
                NewReply(
                    conversation_id=question.conversation_id or "",
                    channel="email",
                    account="support",
                    author_id="a-bench",
                    text=f"Answer {tag} {i}.",
                    in_reply_to=question.id,
                )
            )
        dispatcher = Dispatcher(settings, crm, kb, senders=senders)
        start = time.perf_counter()
        await dispatcher.run(until_idle=True)
        elapsed = time.perf_counter() - start
        assert dispatcher.report.sent == n, dispatcher.report
        return n / elapsed
    finally:
        kb.close()
        crm.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=300, help="replies per run")
    parser.add_argument("--conversations", type=int, default=100, help="replies go round these")
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 20.0])
    args = parser.parse_args()
    from tests.conftest import free_ports

    print(
        f"reply dispatcher → aiosmtpd, {args.n} replies per run over {args.conversations} conversations, "
        "SQLite CRM + SQLite KB"
    )
    for latency_ms in args.latency_ms:
        server = Server(latency_ms / 1000)
        (port,) = free_ports(1)
        controller = Controller(server, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                settings, mailbox, questions = hub(Path(tmp), port, args.conversations)
                base = asyncio.run(baseline(mailbox, questions, args.n))
                one = asyncio.run(through_outbox(settings, questions, args.n, 1, "one"))
                four = asyncio.run(through_outbox(settings, questions, args.n, 4, "four"))
        finally:
            controller.stop()
        twice = sum(1 for count in server.by_reply.values() if count > 1)
        assert len(server.by_reply) == 3 * args.n and twice == 0, (len(server.by_reply), twice)
        print(f"\nserver latency {latency_ms:g} ms per mail")
        print(f"  baseline, replier directly, 1 at a time : {base:8.1f} mails/s")
        print(
            f"  outbox, 1 sender                        : {one:8.1f} replies/s  ({one / base:.2f} x baseline)"
        )
        print(
            f"  outbox, 4 senders                       : {four:8.1f} replies/s"
            f"  ({four / one:.2f} x 1 sender)"
        )
        print(
            f"  server received {sum(server.by_reply.values())} mails for {len(server.by_reply)} replies,"
            " 0 twice"
        )


if __name__ == "__main__":
    main()
