"""IMAPSource against a real Dovecot: cursor, PEEK, resume, IDLE/polling, and bad mailboxes."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, run_main

from channels import CHANNELS
from channels.email.settings import EmailSettings
from channels.email.source import IMAPSource
from hub.models import DeadLetter, Envelope
from hub.settings import Settings
from tests.channels.email.conftest import Dovecot, free_port

pytestmark = pytest.mark.dovecot


def mail(n: int, subject: str = "Help") -> bytes:
    return (
        f"From: Customer {n} <c{n}@example.org>\r\nTo: support@parley.test\r\nSubject: {subject} {n}\r\n"
        f"Message-ID: <m{n}-{uuid.uuid4().hex[:8]}@example.org>\r\nDate: Mon, 16 Nov 2026 09:00:00 +0000\r\n"
        f"\r\nMessage number {n}\r\n"
    ).encode()


@pytest.fixture
def folder(dovecot: Dovecot) -> str:
    name = f"T{uuid.uuid4().hex[:10]}"
    dovecot.create_folder(name)
    return name


def drain(part: Any, *, until: Callable[[list[Any]], bool] | None = None, timeout: float = 15) -> list[Any]:
    """Call next_batch like bytewax would until the partition ends (or ``until`` holds)."""
    items: list[Any] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            items.extend(part.next_batch())
        except StopIteration:
            return items
        if until is not None and until(items):
            return items
        time.sleep(0.02)
    raise AssertionError(f"partition did not finish in {timeout}s; got {items}")


def build(source: IMAPSource, resume: dict[str, int] | None = None) -> Any:
    (key,) = source.list_parts()
    return source.build_part("imap", key, resume)


def test_once_reads_every_message_unseen_with_cursor(dovecot: Dovecot, folder: str) -> None:
    for n in range(3):
        dovecot.append(mail(n), folder)
    part = build(IMAPSource([dovecot.mailbox(folders=[folder])], once=True))
    items = drain(part)
    assert [type(i) for i in items] == [Envelope] * 3
    first = items[0]
    assert (first.channel, first.kind, first.account) == ("email", "rfc822", "support")
    assert isinstance(first.payload, bytes) and b"Message number 0" in first.payload
    state = part.snapshot()
    assert state is not None and state["last_uid"] == 3 and state["uidvalidity"] > 0
    assert [i.raw_ref for i in items] == [
        f"imap:support/{folder}/{state['uidvalidity']}/{uid}" for uid in (1, 2, 3)
    ]
    assert dovecot.seen_flags(folder) == [False, False, False]  # BODY.PEEK[]
    part.close()


def test_resume_neither_rereads_nor_skips(dovecot: Dovecot, folder: str) -> None:
    mailbox = dovecot.mailbox(folders=[folder], fetch_batch=2)
    for n in range(3):
        dovecot.append(mail(n), folder)
    part = build(IMAPSource([mailbox], once=True))
    drain(part)
    state = part.snapshot()
    dovecot.append(mail(3), folder)
    resumed = build(IMAPSource([mailbox], once=True), state)
    items = drain(resumed)
    assert len(items) == 1 and b"Message number 3" in items[0].payload
    assert resumed.snapshot() == {"uidvalidity": state["uidvalidity"], "last_uid": 4}


def test_uidvalidity_change_reads_folder_again(dovecot: Dovecot, folder: str) -> None:
    dovecot.append(mail(0), folder)
    dovecot.append(mail(1), folder)
    part = build(
        IMAPSource([dovecot.mailbox(folders=[folder])], once=True), {"uidvalidity": 1, "last_uid": 2}
    )
    assert len(drain(part)) == 2


def test_mark_seen_sets_seen_flag(dovecot: Dovecot, folder: str) -> None:
    dovecot.append(mail(0), folder)
    drain(build(IMAPSource([dovecot.mailbox(folders=[folder], mark_seen=True)], once=True)))
    assert dovecot.seen_flags(folder) == [True]


@pytest.mark.parametrize("idle", [True, False], ids=["idle", "polling"])
def test_live_partition_picks_up_new_mail(dovecot: Dovecot, folder: str, idle: bool) -> None:
    part = build(IMAPSource([dovecot.mailbox(folders=[folder], idle=idle, poll_interval_s=0.3)]))
    try:
        assert drain(part, until=lambda items: True, timeout=5) == []
        time.sleep(0.5)  # let the worker reach IDLE / its poll wait
        dovecot.append(mail(7), folder)
        items = drain(part, until=lambda items: len(items) >= 1, timeout=10)
        assert b"Message number 7" in items[0].payload
        assert part.next_awake() is None or part.snapshot()["last_uid"] == 1
    finally:
        part.close()


def test_refused_login_is_dead_lettered_not_raised(dovecot: Dovecot, folder: str) -> None:
    mailbox = dovecot.mailbox(folders=[folder], password="wrong")
    items = drain(build(IMAPSource([mailbox], once=True)))
    assert len(items) == 1 and isinstance(items[0], DeadLetter)
    assert "login refused" in items[0].reason and items[0].raw_ref == f"imap:support/{folder}"
    assert "wrong" not in items[0].reason  # never leak the password


def test_missing_folder_is_dead_lettered(dovecot: Dovecot) -> None:
    items = drain(build(IMAPSource([dovecot.mailbox(folders=["DoesNotExist"])], once=True)))
    assert len(items) == 1 and isinstance(items[0], DeadLetter)
    assert "'DoesNotExist' cannot be selected" in items[0].reason


def test_unreachable_server_retries_with_backoff_then_dead_letters() -> None:
    from channels.email.settings import MailboxSettings

    mailbox = MailboxSettings(
        imap_host="127.0.0.1", imap_port=free_port(), imap_tls="none", reconnect_initial_s=0.01, timeout_s=2
    )
    items = drain(build(IMAPSource([mailbox], once=True)))
    assert len(items) == 1 and isinstance(items[0], DeadLetter)
    assert "connect failed" in items[0].reason


def test_vanishing_folder_while_live_is_reported(dovecot: Dovecot, folder: str) -> None:
    mailbox = dovecot.mailbox(
        folders=[folder], idle=False, poll_interval_s=0.2, reconnect_initial_s=0.05, reconnect_max_s=0.2
    )
    dovecot.append(mail(0), folder)
    part = build(IMAPSource([mailbox]))
    try:
        assert len(drain(part, until=lambda items: len(items) >= 1)) == 1
        dovecot.delete_folder(folder)
        items = drain(part, until=lambda items: any(isinstance(i, DeadLetter) for i in items), timeout=15)
        assert any("cannot be selected" in i.reason for i in items if isinstance(i, DeadLetter))
        # Recreated: the source recovers by itself and reads the new folder's mail.
        dovecot.create_folder(folder)
        dovecot.append(mail(1), folder)
        items = drain(part, until=lambda items: any(isinstance(i, Envelope) for i in items), timeout=15)
        assert any(isinstance(i, Envelope) and b"Message number 1" in i.payload for i in items)
    finally:
        part.close()


def test_runs_in_a_bytewax_flow(dovecot: Dovecot, folder: str) -> None:
    for n in range(2):
        dovecot.append(mail(n), folder)
    out: list[Any] = []
    flow = Dataflow("imap_test")
    stream = op.input("imap", flow, IMAPSource([dovecot.mailbox(folders=[folder])], once=True))
    op.output("out", op.map("ref", stream, lambda e: e.raw_ref), TestingSink(out))
    run_main(flow)
    assert [ref.rsplit("/", 1)[1] for ref in out] == ["1", "2"]


def test_sources_from_settings(dovecot: Dovecot) -> None:
    email = CHANNELS["email"]
    assert email.sources is not None
    assert email.sources(Settings(demo=False)) == []
    mailboxes = EmailSettings(accounts=[dovecot.mailbox(folders=["INBOX", "Archive"])])
    settings = email.with_settings(Settings(demo=False), mailboxes)
    ((step_id, source),) = email.sources(settings)
    assert step_id == "email_imap" and isinstance(source, IMAPSource)
    assert source.list_parts() == ["support/INBOX", "support/Archive"]


def test_cursor_survives_a_restart_through_bytewax_recovery(
    dovecot: Dovecot, folder: str, tmp_path: Path
) -> None:
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    init_db_dir(recovery, 1)
    mailbox = dovecot.mailbox(folders=[folder])

    def run_once() -> list[str]:
        out: list[Any] = []
        flow = Dataflow("imap_recovery")
        stream = op.input("imap", flow, IMAPSource([mailbox], once=True))
        op.output("out", op.map("ref", stream, lambda e: e.raw_ref), TestingSink(out))
        run_main(flow, epoch_interval=timedelta(seconds=0), recovery_config=RecoveryConfig(str(recovery)))
        return [str(ref).rsplit("/", 1)[1] for ref in out]

    dovecot.append(mail(0), folder)
    dovecot.append(mail(1), folder)
    assert run_once() == ["1", "2"]
    assert run_once() == []  # nothing new: nothing re-read
    dovecot.append(mail(2), folder)
    assert run_once() == ["3"]  # only the new one: nothing skipped


def test_reconnects_after_the_server_drops_the_connection(dovecot: Dovecot, folder: str) -> None:
    doveadm = shutil.which("doveadm") or "/usr/bin/doveadm"
    if not Path(doveadm).exists():
        pytest.skip("doveadm not installed")
    mailbox = dovecot.mailbox(folders=[folder], idle=True, poll_interval_s=5, reconnect_initial_s=0.05)
    part = build(IMAPSource([mailbox]))
    try:
        dovecot.append(mail(0), folder)
        assert len(drain(part, until=lambda items: len(items) >= 1)) == 1
        kicked = subprocess.run(
            [doveadm, "-c", str(dovecot.root / "dovecot.conf"), "kick", "support@parley.test"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert kicked.returncode == 0, kicked.stderr
        time.sleep(0.5)  # the source notices the BYE and reconnects in the background
        dovecot.append(mail(1), folder)
        items = drain(part, until=lambda items: len(items) >= 1)
        assert [b"Message number 1" in i.payload for i in items] == [True]  # no repeat, no loss
        assert part.snapshot()["last_uid"] == 2
    finally:
        part.close()


def test_folder_with_non_ascii_name_and_spaces(dovecot: Dovecot) -> None:
    from channels.email.imap_wire import imap_utf7

    folder = f"Kunden Anfragen Ü{uuid.uuid4().hex[:4]}"
    dovecot.create_folder(f'"{imap_utf7(folder)}"')
    dovecot.append(mail(0), f'"{imap_utf7(folder)}"')
    items = drain(build(IMAPSource([dovecot.mailbox(folders=[folder])], once=True)))
    assert len(items) == 1 and isinstance(items[0], Envelope)
    assert items[0].raw_ref is not None and items[0].raw_ref.startswith(f"imap:support/{folder}/")


def test_folder_status_reports_counts_and_errors(dovecot: Dovecot, folder: str) -> None:
    import asyncio

    from channels.email.imap import folder_status

    dovecot.append(mail(0), folder)
    status = asyncio.run(folder_status(dovecot.mailbox(folders=[folder, "Nope"])))
    assert status[folder].startswith("ok: 1 messages (UIDVALIDITY ")
    assert status["Nope"].startswith("error: IMAP folder 'Nope' cannot be selected")
    refused = asyncio.run(folder_status(dovecot.mailbox(folders=[folder], password="bad")))
    assert "login refused" in refused[folder]
