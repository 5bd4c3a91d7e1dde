"""Killing `parley run` mid-ingest and starting it again loses nothing and duplicates nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub.settings import Settings
from kb import open_kb
from tests.flows.threads_workload import (
    PER_THREAD,
    THREADS,
    assert_every_thread_stored_once,
    process_env,
    write_threads,
)


def _parley_run(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "run", "--no-serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_kill_during_ingest_then_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    source = tmp_path / "threads.jsonl"
    write_threads(source)
    env = process_env(data, source, PARLEY_FLOW__SNAPSHOT_INTERVAL_S="0.5", PARLEY_FLOW__BATCH_SIZE="32")
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

    assert_every_thread_stored_once(data)
