"""The ingest flow as two Bytewax processes (never -w threads) writes exactly what one would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_ports
from tests.flows.threads_workload import assert_every_thread_stored_once, process_env, write_threads


@pytest.mark.slow
def test_two_processes_share_the_work_and_the_stores(tmp_path: Path) -> None:
    source = tmp_path / "threads.jsonl"
    write_threads(source)
    data = tmp_path / "data"
    env = process_env(data, source)
    addresses = ";".join(f"127.0.0.1:{port}" for port in free_ports(2))
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

    assert_every_thread_stored_once(data)
