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

from flows.ingest import SHARDS, ProcessShare, author_shard
from hub.models import Author, DeadLetter, Message
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


def test_what_could_not_be_read_is_kept_by_the_first_process_only() -> None:
    letter = DeadLetter(stage="import", reason="not JSON", raw="{", channel=None)
    assert [ProcessShare(i, 2).keeps(letter) for i in range(2)] == [True, False]


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
