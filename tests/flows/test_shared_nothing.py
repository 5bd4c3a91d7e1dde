"""`parley ingest --processes N`: N processes that each read every record and keep their share.

Each message is carried on by exactly one process, chosen by its author, so what the flow keys
by author or message id (the email subject fallback, the dedupe of replays) stays together
without any exchange between the processes.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest

from channels import author_id_before_parsing, parse_envelope
from flows.imports import ImportItem
from flows.ingest import SHARDS, SHARE_BATCHES, ProcessShare, author_shard, parse_item
from flows.report import IngestReport, sum_reports
from hub.errors import MalformedPayload
from hub.models import Author, DeadLetter, Envelope, Message
from hub.settings import Settings
from kb import open_kb
from tests.flows.threads_workload import (
    PER_THREAD,
    THREADS,
    assert_every_thread_stored_once,
    process_env,
    write_threads,
)

T0 = datetime(2026, 11, 20, 9, tzinfo=UTC)
WORKER = [sys.executable, "-m", "cli.flow_worker", "--index", "0", "--share-of", "2"]


def _message(native_id: str, author: str | None) -> Message:
    return Message(
        channel="email",
        account="support",
        native_id=native_id,
        text="hello",
        created_at=T0,
        author=Author(channel="email", native_id=author, email=author) if author else None,
    )


def test_every_message_is_kept_by_exactly_one_process_chosen_by_its_author() -> None:
    messages = [_message(f"m{n}@x", f"customer{n % 40}@example.org") for n in range(400)]
    messages += [_message(f"anonymous{n}@x", None) for n in range(40)]
    for count in (1, 2, 3):
        shares = [ProcessShare(index, count) for index in range(count)]
        keepers = {m.id: [s.index for s in shares if s.keeps(m)] for m in messages}
        assert all(len(kept) == 1 for kept in keepers.values())
        by_author: dict[str, set[int]] = {}
        for m in messages:
            by_author.setdefault(m.author.id if m.author else m.id, set()).update(keepers[m.id])
        assert all(len(processes) == 1 for processes in by_author.values())
        assert {author_shard(m) % count for m in messages} == set(range(count))  # all get work
    assert {author_shard(m) for m in messages} <= set(range(SHARDS))


def test_a_process_reads_enough_records_for_batches_of_its_share_larger_than_one_process() -> None:
    messages = [_message(f"m{n}@x", f"customer{n % 5000}@example.org") for n in range(20_000)]
    for count in (2, 3):
        for share in (ProcessShare(index, count) for index in range(count)):
            read = share.read_batch(256)
            assert read == 256 * count * SHARE_BATCHES
            kept = [
                sum(share.keeps(m) for m in messages[i : i + read]) for i in range(0, 20_000 - read, read)
            ]
            # about SHARE_BATCHES of one process's batches, within the authors' spread
            assert all(0.8 * SHARE_BATCHES * 256 <= n <= 1.2 * SHARE_BATCHES * 256 for n in kept), kept


def test_what_could_not_be_read_is_kept_by_the_first_process_only() -> None:
    letter = DeadLetter(stage="import", reason="not JSON", raw="{", channel=None)
    assert [ProcessShare(i, 2).keeps(letter) for i in range(2)] == [True, False]


def _envelope(payload: object) -> Envelope:
    return Envelope(channel="twitter", kind="parley.message", account="brand", payload=payload)


def _records() -> list[ImportItem]:
    """parley.message records: valid ones, bad ones with and without a readable author, and
    records of other kinds and unreadable lines, whose authors only parsing finds."""
    records: list[ImportItem] = []
    for n in range(60):
        author = {"native_id": f"ü{n % 12} ", "handle": f"u{n % 12}"} if n % 5 else None
        payload: dict[str, object] = {"native_id": str(n), "text": f"tweet {n}", "created_at": T0.isoformat()}
        if author is not None:
            payload["author"] = author
        if n % 7 == 0:
            del payload["text"]  # does not parse: a dead letter, author readable or not
        records.append(_envelope(payload))
    records.append(_envelope({"native_id": "99", "text": "x", "author": {"native_id": 7}}))
    records.append(_envelope(["not", "an", "object"]))
    records.append(Envelope(channel="email", kind="rfc822", payload="Subject: hi\r\n\r\nbody"))
    records.append(DeadLetter(stage="import", reason="not JSON", raw="{", channel=None))
    return records


def test_each_record_is_parsed_into_one_process_and_the_counts_add_up() -> None:
    records = _records()
    alone = IngestReport()
    expected = [item for record in records for item in parse_item(record, alone)]
    for count in (2, 3):
        reports = [IngestReport() for _ in range(count)]
        kept = [
            [item for r in records for item in ProcessShare(i, count).parse(r, reports[i])]
            for i in range(count)
        ]
        assert all(kept)  # every process got a share
        together = [item for items in kept for item in items]
        key = lambda item: item.id if isinstance(item, Message) else f"{item.reason}|{item.raw}"  # noqa: E731
        assert sorted(map(key, together)) == sorted(map(key, expected))
        for index, items in enumerate(kept):  # a message stays with its author's process
            assert all(
                ProcessShare(index, count).owns(author_shard(m)) for m in items if isinstance(m, Message)
            )
        summed = sum_reports([report.as_dict() for report in reports])
        assert summed.as_dict() == alone.as_dict()
        assert summed.read == len(records) and reports[0].read == len(records)


def test_the_author_read_before_parsing_is_the_one_parsing_gives() -> None:
    for record in _records():
        if isinstance(record, DeadLetter):
            continue
        author = author_id_before_parsing(record)
        try:
            messages = parse_envelope(record)
        except MalformedPayload:
            continue
        assert [m.author.id if m.author else None for m in messages] == [author] * len(messages)


def _ingest(env: dict[str, str], *paths: Path, processes: int = 2) -> str:
    run = subprocess.run(
        [sys.executable, "-m", "cli", "ingest", "--processes", str(processes), *map(str, paths)],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    return run.stderr  # the CLI's console, with its summary


def _summary(output: str) -> dict[str, int]:
    rows = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 2 and cells[1].isdigit():
            rows[cells[0]] = int(cells[1])
    return rows


@pytest.mark.slow
def test_two_processes_store_every_thread_once_with_replays_and_bad_lines(tmp_path: Path) -> None:
    source = tmp_path / "threads.jsonl"
    write_threads(source)
    lines = source.read_text().splitlines(keepends=True)
    # every 50th line again, far from the first: a replay read by whichever process reads it
    replays = lines[::50]
    extra = tmp_path / "replays.jsonl"
    extra.write_text("".join(replays) + "{not json\n")
    data = tmp_path / "data"

    output = _ingest(process_env(data, PARLEY_LOG_LEVEL="INFO"), source, extra)
    summary = _summary(output)

    # forked from the command, which loaded the models once (cli.cluster.can_fork)
    assert re.search(r"2 flow processes forked: pids \d+, \d+", output), output[-2000:]
    assert_every_thread_stored_once(data, (f"line {len(replays) + 1} is not JSON",))
    assert summary["read"] == len(lines) + len(replays) + 1  # counted once, not per process
    assert summary["ingested"] == THREADS * PER_THREAD
    assert summary["duplicates"] == len(replays)
    assert summary["dead letters"] == 1


def _mbox(path: Path, authors: int, per_author: int) -> None:
    """``per_author`` mails from each of ``authors`` customers with one subject each and no
    reply headers (threaded by the subject fallback), interleaved: author 0, 1, ..., 0, 1, ..."""
    chunks = []
    for k in range(per_author):
        for n in range(authors):
            mail = EmailMessage()
            mail["From"] = f"Customer {n} <customer{n}@example.org>"
            mail["To"] = "support@parley.test"
            mail["Subject"] = f"Kettle {n} leaks" if k == 0 else f"Re: Kettle {n} leaks"
            mail["Message-ID"] = f"<kettle-{n}-{k}@example.org>"
            mail["Date"] = format_datetime(T0 + timedelta(hours=k, minutes=n))
            mail.set_content(f"Mail {k} about kettle {n}: it still leaks from the bottom.")
            chunks.append(f"From customer{n}@example.org Fri Nov 20 09:00:00 2026\n{mail.as_string()}\n")
    path.write_text("".join(chunks))


@pytest.mark.slow
def test_an_authors_mail_threads_by_subject_across_two_processes(tmp_path: Path) -> None:
    # Read by stripes of records, each author's mails would alternate between the processes and
    # the subject fallback, a memory per author, would miss half of them.
    mbox = tmp_path / "mail.mbox"
    authors, per_author = 12, 4
    _mbox(mbox, authors, per_author)
    data = tmp_path / "data"
    _ingest(process_env(data), mbox)

    kb = open_kb(Settings(data_dir=data))
    try:
        conversations = list(kb.iter_conversations())
        assert len(conversations) == authors
        assert sorted(c.message_count for c in conversations) == [per_author] * authors
        homes: dict[str, set[str | None]] = {}
        for message in kb.iter_messages():
            homes.setdefault(message.author.email if message.author else "", set()).add(
                message.conversation_id
            )
        assert len(homes) == authors and all(len(found) == 1 for found in homes.values())
    finally:
        kb.close()


def test_a_worker_refuses_a_share_with_recovery_or_without_paths(tmp_path: Path) -> None:
    env = process_env(tmp_path / "data")
    for extra in (["--recovery", str(tmp_path / "x.jsonl")], []):
        run = subprocess.run(
            [*WORKER, "--report", str(tmp_path / "r.json"), *extra],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 2 and "--share-of reads import paths, without recovery" in run.stderr
