"""Two `parley ingest` processes on the two halves of one archive, at once, into one data
directory: the same conversations as one process reading it all, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hub.settings import Settings
from tests.flows.threads_workload import (
    assert_chains_whole,
    process_env,
    summary_conversations,
    write_shuffled_chains,
)

CHAINS, LENGTH = 200, 10


@pytest.mark.slow
def test_two_ingests_of_the_halves_of_a_shuffled_archive_at_once(
    crm_settings: Settings, tmp_path: Path
) -> None:
    halves = [tmp_path / "first.jsonl", tmp_path / "second.jsonl"]
    write_shuffled_chains(halves, CHAINS, LENGTH)
    env = process_env(crm_settings.data_dir, database_url=crm_settings.database_url)
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "cli", "ingest", str(half)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for half in halves
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]

    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output[-3000:]
        for bad in ("error", "Traceback", "locked", "retry"):
            assert bad not in output, output[-3000:]
        # the conversations its messages are in when it ends: never negative, never more than
        # one per message, whatever the other run did meanwhile
        assert 0 < summary_conversations(output) <= CHAINS * LENGTH // 2
    assert_chains_whole(crm_settings, CHAINS, LENGTH)
