"""Workloads of reply threads for tests that run the flow as real processes, and their checks."""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

from sqlalchemy import func, select

from crm import open_crm
from crm.schema import thread_nodes
from hub.models import conversation_id_for
from hub.settings import Settings
from kb import open_kb

THREADS = 1500
PER_THREAD = 4
AUTHORS = 97


def write_threads(path: Path) -> None:
    """THREADS reply chains of PER_THREAD tweets by AUTHORS people, as JSONL envelopes."""
    with path.open("w") as fh:
        for t in range(THREADS):
            for r in range(PER_THREAD):
                payload = {
                    "native_id": f"{t}-{r}",
                    "text": f"message {r} in thread {t} about the #kettle from @brand, order {t * 7 + r}",
                    "created_at": f"2026-11-{1 + t % 20:02d}T10:{r:02d}:00Z",
                    "author": {"native_id": f"user{t % AUTHORS}", "handle": f"user{t % AUTHORS}"},
                }
                if r:
                    payload["in_reply_to"] = f"{t}-{r - 1}"
                fh.write(
                    json.dumps({"channel": "twitter", "kind": "parley.message", "payload": payload}) + "\n"
                )


def write_shuffled_chains(paths: list[Path], chains: int, length: int, *, seed: int = 11) -> None:
    """``chains`` reply chains of ``length`` tweets (each answers the one before), shuffled and
    dealt round-robin into ``paths``: every file holds parts of most chains, in no order."""
    lines = []
    for t in range(chains):
        for r in range(length):
            payload = {
                "native_id": f"{t}-{r}",
                "text": f"message {r} in chain {t}",
                "created_at": f"2026-11-{1 + t % 20:02d}T10:{r:02d}:00Z",
                "author": {"native_id": f"user{t % AUTHORS}", "handle": f"user{t % AUTHORS}"},
                **({"in_reply_to": f"{t}-{r - 1}"} if r else {}),
            }
            envelope = {"channel": "twitter", "kind": "parley.message", "account": "demo", "payload": payload}
            lines.append(json.dumps(envelope) + "\n")
    random.Random(seed).shuffle(lines)
    for n, path in enumerate(paths):
        path.write_text("".join(lines[n :: len(paths)]))


def assert_chains_whole(settings: Settings, chains: int, length: int) -> None:
    """Exactly one conversation per chain, named after its root, holding all its messages and
    counting them right; no conversation without messages; no fold left unmoved."""
    kb, crm = open_kb(settings), open_crm(settings)
    try:
        assert kb.count_messages() == chains * length
        conversations = {c.id: c for c in kb.iter_conversations()}
        roots = {conversation_id_for("twitter", "demo", f"{t}-0") for t in range(chains)}
        assert len(conversations) == chains, f"{len(conversations)} conversations for {chains} chains"
        assert set(conversations) == roots
        assert {c.message_count for c in conversations.values()} == {length}
        homes: dict[str, set[str | None]] = {}
        for message in kb.iter_messages():
            homes.setdefault(message.native_id.split("-")[0], set()).add(message.conversation_id)
        assert all(found == {conversation_id_for("twitter", "demo", f"{t}-0")} for t, found in homes.items())
        assert crm.threads.pending_folds() == {}
        assert crm.count_dead_letters() == 0
        with crm.engine.connect() as conn:  # decided in this store (not some other data dir's)
            assert (
                conn.execute(select(func.count()).select_from(thread_nodes)).scalar_one() == chains * length
            )
    finally:
        kb.close()
        crm.close()


def summary_conversations(output: str) -> int:
    """The ``conversations`` figure of a printed ingest summary."""
    found = re.search(r"conversations\s*│\s*(-?\d+)", output)
    assert found is not None, output[-2000:]
    return int(found.group(1))


def process_env(
    data: Path, source: Path | None = None, *, database_url: str | None = None, **extra: str
) -> dict[str, str]:
    """The environment of a flow process importing ``source`` into ``data`` (NER off: speed),
    with the CRM at ``database_url`` when given."""
    env = {
        **os.environ,
        "PARLEY_DATA_DIR": str(data),
        "PARLEY_DEMO": "false",
        "PARLEY_ENRICHMENT__NER": "false",
        "PARLEY_LOG_LEVEL": "WARNING",
        **extra,
    }
    if source is not None:
        env["PARLEY_IMPORT_PATHS"] = json.dumps([str(source)])
    if database_url is not None:
        env["PARLEY_DATABASE_URL"] = database_url
    return env


def assert_every_thread_stored_once(data: Path, dead_letter_reasons: tuple[str, ...] = ()) -> None:
    """Exactly the workload in the stores: every message once, whole threads, one contact each;
    and no dead letter but one per ``dead_letter_reasons`` (each reason holding that text)."""
    settings = Settings(data_dir=data)
    kb, crm = open_kb(settings), open_crm(settings)
    try:
        assert kb.count_messages() == THREADS * PER_THREAD
        conversations = list(kb.iter_conversations())
        assert len(conversations) == THREADS
        assert {c.message_count for c in conversations} == {PER_THREAD}
        total, contacts = crm.search_contacts(None, limit=1000, offset=0)
        assert total == AUTHORS
        assert sum(sum(c.message_counts.values()) for c in contacts) == THREADS * PER_THREAD
        total, letters = crm.list_dead_letters()
        assert total == len(dead_letter_reasons)
        for reason in dead_letter_reasons:
            assert any(reason in letter.reason for letter in letters), reason
    finally:
        kb.close()
        crm.close()
