"""A workload of reply threads for tests that run the flow as real processes, and its check."""

from __future__ import annotations

import json
import os
from pathlib import Path

from crm import open_crm
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


def process_env(data: Path, source: Path, **extra: str) -> dict[str, str]:
    """The environment of a flow process importing ``source`` into ``data`` (NER off: speed)."""
    return {
        **os.environ,
        "PARLEY_DATA_DIR": str(data),
        "PARLEY_DEMO": "false",
        "PARLEY_IMPORT_PATHS": json.dumps([str(source)]),
        "PARLEY_ENRICHMENT__NER": "false",
        "PARLEY_LOG_LEVEL": "WARNING",
        **extra,
    }


def assert_every_thread_stored_once(data: Path) -> None:
    """Exactly the workload in the stores: every message once, whole threads, one contact each."""
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
        assert crm.count_dead_letters() == 0
    finally:
        kb.close()
        crm.close()
