"""Keys that spread a keyed step evenly over the flow's Bytewax workers.

Bytewax runs each key of a stateful step on the worker its routing hash picks. With a few dozen
keys the hash splits them unevenly: the 64 shard labels ``"0"`` to ``"63"`` fell 35 to 29 over two
workers, and the thread step's 64 labels of one account 38 to 26, so one of two processes did 60%
of the knowledge-base writes and finished last while the other idled.

:func:`balanced_labels` picks, for each shard ``i``, a label that Bytewax routes to worker
``i % workers``: each worker owns the same number of shards, so the work follows the data, not
the hash. Which worker a label goes to is not part of Bytewax's API, so it is *asked*: a small
probe dataflow on ``workers`` threads in this process routes candidate labels through a
stateful step and reports where each landed (the same routing every process of a cluster of
``workers`` processes uses; ``tests/flows/test_placement.py`` checks it on two real
processes). The answer is deterministic, so every process of a cluster computes the same labels,
and a restart with the same number of processes finds its snapshots under the same keys.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

__all__ = ["balanced_labels", "probe_routing"]

#: candidate labels tried per shard: a label lands on the wanted worker with chance 1/workers,
#: so with 8x workers candidates a shard fails with chance (1 - 1/w)^(8w) < e^-8
CANDIDATES_PER_WORKER = 8


def probe_routing(labels: list[str], workers: int) -> dict[str, int]:
    """The worker index Bytewax routes each of ``labels`` to, in a cluster of ``workers``.

    ``cluster_main`` sets this process's Rust panic hook for good (a later failing ``run_main``
    step prints its traceback to ``sys.stderr``): only a flow process, which runs
    ``cluster_main`` itself next, calls this; tests call it in a child process.
    """
    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.outputs import DynamicSink, StatelessSinkPartition
    from bytewax.testing import TestingSource, cluster_main

    landed: dict[str, int] = {}

    class _Seen(StatelessSinkPartition[tuple[str, Any]]):
        def __init__(self, worker: int) -> None:
            self._worker = worker

        def write_batch(self, items: list[tuple[str, Any]]) -> None:
            for label, _ in items:
                landed[label] = self._worker

    class _Where(DynamicSink[tuple[str, Any]]):
        def build(self, step_id: str, worker_index: int, worker_count: int) -> _Seen:
            return _Seen(worker_index)

    flow = Dataflow("parley_placement_probe")
    keyed = op.input("labels", flow, TestingSource([(label, None) for label in labels]))
    # a stateful step moves each key to its owner; the sink after it runs on that worker
    owned = op.stateful_map("own", keyed, lambda state, value: (state, value))
    op.output("where", owned, _Where())
    cluster_main(flow, [], 0, worker_count_per_proc=workers)
    return landed


@lru_cache(maxsize=16)
def balanced_labels(count: int, workers: int | None) -> tuple[str, ...]:
    """``count`` key labels, the ``i``-th owned by worker ``i % workers``.

    With one worker, or an unknown number (``None``: the flow started by ``python -m
    bytewax.run``), the labels are the plain numbers ``"0"`` ... : any split is as good as
    another there. Otherwise label ``i`` is ``"i"`` when Bytewax already routes that to the
    wanted worker, else the first ``"i.k"`` (k = 1, 2, ...) that it does.
    """
    plain = tuple(str(i) for i in range(count))
    if workers is None or workers <= 1:
        return plain
    candidates = [
        [str(i)] + [f"{i}.{k}" for k in range(1, CANDIDATES_PER_WORKER * workers)] for i in range(count)
    ]
    landed = probe_routing([label for options in candidates for label in options], workers)
    labels = []
    for i, options in enumerate(candidates):
        fits = [label for label in options if landed.get(label) == i % workers]
        # all candidates missing the worker is a 1-in-e^8 event; the plain label is then
        # still correct, only that shard's work lands elsewhere
        labels.append(fits[0] if fits else options[0])
    return tuple(labels)
