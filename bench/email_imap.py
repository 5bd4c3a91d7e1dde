"""IMAP catch-up throughput of the email source against a private Dovecot (prints figures).

Appends N messages to a fresh folder, then times one ``IMAPSource(once=True)`` pass that
fetches them all, with ``fetch_batch=1`` (one UID FETCH per message: the baseline) and with the
default batch, in the same run. Needs the ``dovecot`` binary (Debian: dovecot-imapd).

    .venv/bin/python bench/email_imap.py [--messages 500]
"""

from __future__ import annotations

import argparse
import imaplib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from channels.email.source import IMAPSource
from tests.channels.email.conftest import Dovecot, find_dovecot, running_dovecot


def fill(server: Dovecot, folder: str, count: int) -> None:
    server.create_folder(folder)
    with server.client() as imap:
        for n in range(count):
            raw = (
                f"From: c{n}@example.org\r\nTo: support@parley.test\r\nSubject: Order {n}\r\n"
                f"Message-ID: <bench-{n}@example.org>\r\n\r\n" + "Where is my parcel? " * 40 + "\r\n"
            ).encode()
            imap.append(folder, "", imaplib.Time2Internaldate(time.time()), raw)


def catch_up(server: Dovecot, folder: str, fetch_batch: int) -> tuple[int, float]:
    source = IMAPSource([server.mailbox(folders=[folder], fetch_batch=fetch_batch)], once=True)
    part = source.build_part("imap", source.list_parts()[0], None)
    start = time.perf_counter()
    count = 0
    while True:
        try:
            count += len(part.next_batch())
        except StopIteration:
            break
        time.sleep(0.001)
    elapsed = time.perf_counter() - start
    part.close()
    return count, elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=500)
    args = parser.parse_args()
    binary = find_dovecot()
    if binary is None:
        sys.exit("dovecot not installed (Debian: apt-get install -y dovecot-imapd)")
    with running_dovecot(binary) as server:
        fill(server, "Bench", args.messages)
        base_count, base_s = catch_up(server, "Bench", 1)
        count, elapsed = catch_up(server, "Bench", 50)
    print(f"messages: {args.messages}")
    print(f"fetch_batch=1 : {base_count} msgs in {base_s:.2f} s = {base_count / base_s:7.0f} msgs/s")
    print(f"fetch_batch=50: {count} msgs in {elapsed:.2f} s = {count / elapsed:7.0f} msgs/s")
    print(f"ratio batch 50 / batch 1: {(count / elapsed) / (base_count / base_s):.2f}")


if __name__ == "__main__":
    main()
