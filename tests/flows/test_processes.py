"""The ingest flow as two Bytewax processes (never -w threads) writes exactly what one would."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from crm import open_crm
from hub.settings import Settings
from kb import open_kb
from tests.flows.test_recovery import AUTHORS, PER_THREAD, THREADS, _write_threads


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.slow
def test_two_processes_share_the_work_and_the_stores(tmp_path: Path) -> None:
    source = tmp_path / "threads.jsonl"
    _write_threads(source)
    data = tmp_path / "data"
    env = {
        **os.environ,
        "PARLEY_DATA_DIR": str(data),
        "PARLEY_DEMO": "false",
        "PARLEY_IMPORT_PATHS": json.dumps([str(source)]),
        "PARLEY_ENRICHMENT__NER": "false",
        "PARLEY_LOG_LEVEL": "WARNING",
    }
    addresses = ";".join(f"127.0.0.1:{port}" for port in _free_ports(2))
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "bytewax.run", "flows.ingest:get_flow()", "-i", str(i), "-a", addresses],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    for worker in workers:
        _, stderr = worker.communicate(timeout=600)
        assert worker.returncode == 0, stderr.decode()[-2000:]

    settings = Settings(data_dir=data)
    kb, crm = open_kb(settings), open_crm(settings)
    try:
        assert kb.count_messages() == THREADS * PER_THREAD
        conversations = list(kb.iter_conversations())
        assert len(conversations) == THREADS and {c.message_count for c in conversations} == {PER_THREAD}
        total, contacts = crm.search_contacts(None, limit=1000, offset=0)
        assert total == AUTHORS
        assert sum(sum(c.message_counts.values()) for c in contacts) == THREADS * PER_THREAD
    finally:
        kb.close()
        crm.close()
