"""Two `parley ingest` processes routing at once into one store, on SQLite and PostgreSQL: no
agent over capacity, no conversation assigned twice, threads folding under both of them."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from crm import open_crm
from crm.schema import conversation_routing
from hub.settings import Settings
from kb import open_kb
from tests.flows.threads_workload import process_env, write_shuffled_chains

CHAINS, LENGTH = 120, 4
AGENTS, CAPACITY = 3, 8


@pytest.mark.slow
def test_two_flow_processes_never_overfill_an_agent_nor_assign_twice(
    crm_settings: Settings, tmp_path: Path
) -> None:
    crm = open_crm(crm_settings)
    try:
        ids = [
            crm.agents.create(
                name=f"a{n}", email=f"a{n}@parley.test", capacity=CAPACITY, availability="online"
            ).id
            for n in range(AGENTS)
        ]
        team = crm.teams.create("all", member_ids=ids)
        crm.rules.create(
            name="spread", condition={}, actions={"assign": {"mode": "least_loaded", "team_id": team.id}}
        )
    finally:
        crm.close()
    halves = [tmp_path / "first.jsonl", tmp_path / "second.jsonl"]
    write_shuffled_chains(halves, CHAINS, LENGTH)
    # small batches: many routing transactions from each process, interleaved
    env = process_env(
        crm_settings.data_dir, database_url=crm_settings.database_url, PARLEY_FLOW__BATCH_SIZE="8"
    )
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
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output[-3000:]
        assert "Traceback" not in output, output[-3000:]

    crm, kb = open_crm(crm_settings), open_kb(crm_settings)
    try:
        with crm.engine.connect() as conn:
            rows = conn.execute(select(conversation_routing)).mappings().all()
        live = [r for r in rows if r["folded_into"] is None]
        assert len(live) == CHAINS  # every chain one conversation, whatever folded on the way
        assert all(r["assignee"] is None for r in rows if r["folded_into"] is not None)
        load = Counter(r["assignee"] for r in live if r["assignee"])
        # nobody over capacity, and the waiting ones filled every free place
        assert load == dict.fromkeys(ids, CAPACITY)
        assert sum(1 for r in live if r["wait_spec"] is not None) == CHAINS - AGENTS * CAPACITY
        # no conversation assigned twice: one assignment event at most for each
        assigned = Counter(
            e.conversation_id
            for e in crm.events.read(types=["conversation.assigned"], limit=10_000)
            if e.data["assignee"]
        )
        assert max(assigned.values()) == 1
        # the knowledge base shows what the routing table decided
        docs = {c.id: c for c in kb.iter_conversations()}
        assert {r["conversation_id"]: r["assignee"] for r in live} == {
            cid: d.assignee for cid, d in docs.items()
        }
    finally:
        crm.close()
        kb.close()
