"""Killing `parley run` mid-ingest and starting it again loses nothing and duplicates nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crm import open_crm
from hub.settings import Settings
from kb import open_kb

THREADS = 1500
PER_THREAD = 4
AUTHORS = 97


def _write_threads(path: Path) -> None:
    with path.open("w") as fh:
        for t in range(THREADS):
            for r in range(PER_THREAD):
                native_id = f"{t}-{r}"
                payload = {
                    "native_id": native_id,
                    "text": f"message {r} in thread {t} about the #kettle from @brand, order {t * 7 + r}",
                    "created_at": f"2026-11-{1 + t % 20:02d}T10:{r:02d}:00Z",
                    "author": {"native_id": f"user{t % AUTHORS}", "handle": f"user{t % AUTHORS}"},
                }
                if r:
                    payload["in_reply_to"] = f"{t}-{r - 1}"
                fh.write(
                    json.dumps({"channel": "twitter", "kind": "parley.message", "payload": payload}) + "\n"
                )


def _parley_run(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "run", "--no-serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_kill_during_ingest_then_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    source = tmp_path / "threads.jsonl"
    _write_threads(source)
    env = {
        **os.environ,
        "PARLEY_DATA_DIR": str(data),
        "PARLEY_DEMO": "false",
        "PARLEY_IMPORT_PATHS": json.dumps([str(source)]),
        "PARLEY_ENRICHMENT__NER": "false",
        "PARLEY_FLOW__SNAPSHOT_INTERVAL_S": "0.5",
        "PARLEY_FLOW__BATCH_SIZE": "32",
        "PARLEY_LOG_LEVEL": "WARNING",
    }
    settings = Settings(data_dir=data)

    first = _parley_run(env)
    killed_at = 0
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and first.poll() is None:
        if settings.kb_path.exists():
            kb = open_kb(settings)
            killed_at = kb.count_messages()
            kb.close()
            if killed_at >= 400:
                first.send_signal(signal.SIGKILL)
                break
        time.sleep(0.05)
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL, "the first run finished before it could be killed"
    assert 0 < killed_at < THREADS * PER_THREAD

    second = _parley_run(env)
    _, stderr = second.communicate(timeout=600)
    assert second.returncode == 0, stderr.decode()[-2000:]

    kb = open_kb(settings)
    try:
        assert kb.count_messages() == THREADS * PER_THREAD
        conversations = list(kb.iter_conversations())
        assert len(conversations) == THREADS
        assert {c.message_count for c in conversations} == {PER_THREAD}
    finally:
        kb.close()
    crm = open_crm(settings)
    try:
        total, contacts = crm.search_contacts(None, limit=1000, offset=0)
        assert total == AUTHORS
        assert sum(sum(c.message_counts.values()) for c in contacts) == THREADS * PER_THREAD
        assert crm.count_dead_letters() == 0
    finally:
        crm.close()
