"""Killing `parley run` mid-ingest, again and again, then letting it finish: nothing lost,
nothing duplicated, every reply chain one whole conversation (SQLite and PostgreSQL CRM)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from hub.settings import Settings
from tests.flows.threads_workload import (
    assert_chains_whole,
    process_env,
    summary_conversations,
    write_shuffled_chains,
)

CHAINS, LENGTH = 600, 10
#: runs killed in a row, each once it has stored this many more messages than the one before
KILLS, STEP = 3, 1000


def _parley_run(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "run", "--no-serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stored(settings: Settings) -> int:
    """Messages in the knowledge base (a read-only peek: opening it as a store would write)."""
    if not settings.kb_path.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{settings.kb_path}?mode=ro", uri=True, timeout=5)) as conn:
            return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
    except sqlite3.OperationalError:  # created but not laid out yet
        return 0


def _kill_when_stored(run: subprocess.Popen[str], settings: Settings, count: int) -> int:
    """SIGKILL ``run`` once at least ``count`` messages are stored; returns the count seen."""
    deadline = time.monotonic() + 180
    seen = 0
    while time.monotonic() < deadline and run.poll() is None:
        seen = _stored(settings)
        if seen >= count:
            run.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    run.communicate(timeout=30)
    assert run.returncode == -signal.SIGKILL, f"the run ended before {count} messages were stored"
    return seen


@pytest.mark.slow
def test_kills_during_ingest_then_a_run_to_the_end(crm_settings: Settings, tmp_path: Path) -> None:
    source = tmp_path / "chains.jsonl"
    write_shuffled_chains([source], CHAINS, LENGTH)
    env = process_env(
        crm_settings.data_dir,
        source,
        database_url=crm_settings.database_url,
        PARLEY_FLOW__SNAPSHOT_INTERVAL_S="0.5",
        PARLEY_FLOW__BATCH_SIZE="32",
    )
    seen = 0
    for _ in range(KILLS):
        seen = _kill_when_stored(_parley_run(env), crm_settings, seen + STEP)
    assert seen < CHAINS * LENGTH

    last = _parley_run(env)
    output, _ = last.communicate(timeout=600)
    assert last.returncode == 0, output[-3000:]
    assert summary_conversations(output) >= 0
    assert_chains_whole(crm_settings, CHAINS, LENGTH)
