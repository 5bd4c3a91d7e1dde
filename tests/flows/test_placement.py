"""flows.placement: shard labels that Bytewax spreads evenly over the flow's workers."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from cli.cluster import free_addresses
from flows.placement import balanced_labels, probe_routing
from tests.flows.conftest import in_child

ROOT = Path(__file__).resolve().parents[2]

#: one process of a real cluster: which of the given labels its stateful step owns
OWNER = """
import json, sys
import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import TestingSource, cluster_main

index, addresses, labels = int(sys.argv[1]), sys.argv[2].split(";"), json.loads(sys.argv[3])
owned = []

class Part(StatelessSinkPartition):
    def write_batch(self, items):
        owned.extend(label for label, _ in items)

class Sink(DynamicSink):
    def build(self, step_id, worker_index, worker_count):
        return Part()

flow = Dataflow("owner")
source = TestingSource([(label, 0) for label in labels] if index == 0 else [])
keyed = op.input("in", flow, source)
op.output("out", op.stateful_map("own", keyed, lambda s, v: (s, v)), Sink())
cluster_main(flow, addresses, index)
print(json.dumps(owned))
"""


def _labels_and_where_they_land(workers: int) -> tuple[tuple[str, ...], dict[str, int]]:
    """64 balanced labels for ``workers`` and the worker a second probe routes each to."""
    labels = balanced_labels(64, workers)
    return labels, probe_routing(list(labels), workers)


@pytest.mark.parametrize("workers", [2, 3])
def test_each_worker_owns_the_same_number_of_shards(workers: int) -> None:
    # the probe runs Bytewax's cluster_main, whose panic hook must stay out of this process
    labels, landed = in_child(_labels_and_where_they_land, workers)
    assert len(set(labels)) == 64
    assert [landed[label] for label in labels] == [i % workers for i in range(64)]
    assert set(Counter(landed.values()).values()) <= {64 // workers, 64 // workers + 1}


def test_one_worker_or_an_unknown_count_keeps_the_plain_labels() -> None:
    assert balanced_labels(4, 1) == ("0", "1", "2", "3")
    assert balanced_labels(4, None) == ("0", "1", "2", "3")


def test_two_real_processes_route_the_labels_as_the_probe_says() -> None:
    """The probe runs worker threads in one process; a cluster runs processes. Bytewax routes
    by key and worker count alike in both, which is what the labels rely on."""
    labels = list(in_child(balanced_labels, 64, 2))
    addresses = ";".join(free_addresses(2))
    children = [
        subprocess.Popen(
            [sys.executable, "-c", OWNER, str(index), addresses, json.dumps(labels)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(2)
    ]
    owned = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        owned.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(owned[0]) == sorted(labels[0::2])
    assert sorted(owned[1]) == sorted(labels[1::2])
