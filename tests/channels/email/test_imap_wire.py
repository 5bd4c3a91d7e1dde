"""IMAP wire helpers (FETCH responses as different servers order them, folder names); no server."""

from __future__ import annotations

from datetime import UTC, datetime

from channels.email.imap_wire import parse_fetch_lines

BODY = bytearray(b"From: a@example.org\r\nSubject: x\r\n\r\nhi\r\n")


def test_uid_and_date_before_the_literal() -> None:
    lines: list[bytes | bytearray] = [
        b'1 FETCH (UID 7 INTERNALDATE "16-Nov-2026 09:00:00 +0100" BODY[] {38}',
        BODY,
        b")",
        b"done",
    ]
    mail = parse_fetch_lines(lines)[7]
    assert mail.raw == bytes(BODY)
    assert mail.internal_date == datetime(2026, 11, 16, 8, 0, tzinfo=UTC)


def test_uid_after_the_literal() -> None:
    lines: list[bytes | bytearray] = [
        b"3 FETCH (BODY[] {38}",
        BODY,
        b' UID 9 INTERNALDATE "16-Nov-2026 09:00:00 +0000")',
        b"done",
    ]
    assert parse_fetch_lines(lines)[9].raw == bytes(BODY)


def test_flags_update_never_hides_a_body() -> None:
    before: list[bytes | bytearray] = [
        b"1 FETCH (UID 5 FLAGS (\\Seen))",
        b"1 FETCH (UID 5 BODY[] {38}",
        BODY,
        b")",
        b"done",
    ]
    after: list[bytes | bytearray] = [
        b"1 FETCH (UID 5 BODY[] {38}",
        BODY,
        b")",
        b"1 FETCH (UID 5 FLAGS (\\Seen))",
        b"done",
    ]
    assert parse_fetch_lines(before)[5].raw == parse_fetch_lines(after)[5].raw == bytes(BODY)


def test_fetch_without_body_is_recorded_as_missing() -> None:
    assert parse_fetch_lines([b"1 FETCH (UID 4 BODY[] NIL)", b"done"])[4].raw is None


def test_a_message_the_server_will_not_hand_over_is_dead_lettered_and_passed() -> None:
    # The server-side race (expunged between SEARCH and FETCH) cannot be staged reliably
    # against Dovecot, so the worker's catch-up runs over a reader that reports it.
    import asyncio
    import queue

    from channels.email.imap_wire import FetchedMail
    from channels.email.settings import MailboxSettings
    from channels.email.source import _FolderWorker
    from hub.models import DeadLetter, Envelope

    class ExpungingReader:
        where = "test"

        async def new_uids(self, after: int) -> list[int]:
            return [u for u in (3, 4, 5) if u > after]

        async def fetch(self, uids: list[int]) -> list[FetchedMail]:
            return [FetchedMail(u, None if u == 4 else bytes(BODY), None) for u in uids]

    out: queue.Queue[object] = queue.Queue()
    worker = _FolderWorker(MailboxSettings(name="support"), "INBOX", (77, 2), False, out)

    async def run() -> None:
        worker._stop_event = asyncio.Event()
        await worker._catch_up(ExpungingReader())  # type: ignore[arg-type]

    asyncio.run(run())
    fetched = [out.get_nowait() for _ in range(out.qsize())]
    assert [f.uid for f in fetched] == [3, 4, 5]  # type: ignore[attr-defined]
    items = [f.item for f in fetched]  # type: ignore[attr-defined]
    assert [type(i) for i in items] == [Envelope, DeadLetter, Envelope]
    assert items[1].raw_ref == "imap:support/INBOX/77/4" and "no body for UID 4" in items[1].reason
    assert worker.last_uid == 5


def test_folder_names_in_modified_utf7() -> None:
    from channels.email.imap_wire import imap_utf7

    assert imap_utf7("INBOX") == "INBOX"
    assert imap_utf7("Entwürfe") == "Entw&APw-rfe"
    assert imap_utf7("Tom & Jerry") == "Tom &- Jerry"
    assert imap_utf7("台北") == "&U,BTFw-"  # RFC 3501's own example
