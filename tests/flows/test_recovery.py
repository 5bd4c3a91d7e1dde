"""Killing `parley run` mid-ingest, again and again, then letting it finish: nothing lost,
nothing duplicated, every reply chain one whole conversation (SQLite and PostgreSQL CRM)."""

from __future__ import annotations

import os
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

CHAINS, LENGTH = 300, 10
#: runs killed in a row, each once it has stored this many more messages than the one before
KILLS, STEP = 3, 600


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
        PARLEY_FLOW__PROCESSES="1",  # the flow in `parley run`'s own process
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


def _flow_processes(run: subprocess.Popen[str]) -> list[int]:
    """Pids of ``parley run``'s flow processes (its ``python -m cli.flow_worker`` children)."""
    pids = []
    children = Path(f"/proc/{run.pid}/task/{run.pid}/children")
    for pid in children.read_text().split() if children.exists() else []:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"cli.flow_worker" in command:
            pids.append(int(pid))
    return sorted(pids)


def _kill_one_flow_process_when_stored(
    run: subprocess.Popen[str], settings: Settings, count: int, which: int
) -> int:
    """SIGKILL flow process ``which`` of ``run`` once ``count`` messages are stored; ``run``
    must then stop the other and fail, saying to run it again. Returns the count seen."""
    deadline = time.monotonic() + 300
    seen = 0
    killed = False
    while time.monotonic() < deadline and run.poll() is None:
        seen = _stored(settings)
        flows = _flow_processes(run)
        if seen >= count and len(flows) == 2:
            os.kill(flows[which], signal.SIGKILL)
            killed = True
            break
        time.sleep(0.05)
    output, _ = run.communicate(timeout=120)
    assert killed, f"the run ended before {count} messages were stored: {output[-2000:]}"
    assert run.returncode == 1, output[-3000:]
    assert "run the same command again" in " ".join(output.split()), output[-3000:]
    return seen


@pytest.mark.slow
def test_two_processes_one_killed_then_both_restarted(crm_settings: Settings, tmp_path: Path) -> None:
    """N = 2: kill -9 one flow process (the one reading the file, then the other), restart
    both; nothing lost, nothing duplicated, every chain one conversation."""
    source = tmp_path / "chains.jsonl"
    write_shuffled_chains([source], CHAINS, LENGTH)
    env = process_env(
        crm_settings.data_dir,
        source,
        database_url=crm_settings.database_url,
        PARLEY_FLOW__SNAPSHOT_INTERVAL_S="0.5",
        PARLEY_FLOW__BATCH_SIZE="32",
        PARLEY_FLOW__PROCESSES="2",
    )
    seen = 0
    for which in (0, 1):
        seen = _kill_one_flow_process_when_stored(_parley_run(env), crm_settings, seen + STEP, which)
    assert seen < CHAINS * LENGTH

    last = _parley_run(env)
    output, _ = last.communicate(timeout=900)
    assert last.returncode == 0, output[-3000:]
    assert "2 processes" in output
    assert_chains_whole(crm_settings, CHAINS, LENGTH)
