"""The ingest flow as N Bytewax processes on this machine: every core used.

``parley ingest --processes N`` and ``parley run --processes N`` (default: the number of
cores) start N copies of ``python -m cli.flow_worker``. Processes, never ``-w`` threads: the
GIL makes threads slower here. They run in one of two ways.

**A cluster** (``parley run``): process ``i`` of N joined over local TCP ports
(``bytewax.testing.cluster_main``), resumable from shared recovery snapshots. Each source
partition (a channel account, the webhook inbox, a stripe of an import path) is read by one
process, and Bytewax routes every keyed step to the process that owns the key:

* dedupe runs per shard of the message id and enrich per process, so the NLP spreads over all
  processes (``flows.placement`` labels shard i so that process i mod N runs it), even when
  one busy account's partition is read by one process;
* the thread step, then the KB write and the CRM sink after it, run per author shard
  (``flows.ingest.author_shard``): safe because conversation membership is decided in the
  relational store, one transaction per batch (``docs/threading.md``), and contact resolution
  is idempotent by message id.

**Shared nothing** (``parley ingest``, files only): each process runs the one-process flow
alone (``run_main``), reads every record of every path and carries on only its share, the
messages of the author shards ``i`` with ``i % N == index`` (``flows.ingest.ProcessShare``).
The same keys stay together as in the cluster (an author's messages, so a message's replays),
and nothing is exchanged: the cluster's runtime and exchange cost each process about a
sixth of its time (``bench/README.md``), while reading and parsing every record costs a
few percent. A file can be read N times; a polled account cannot, hence the cluster for runs.

Each process writes its :class:`~flows.report.IngestReport` to ``report-<i>.json`` in a
scratch folder (only its ``read`` count every half second, for the progress bar; the whole
report at its end); the parent adds them up. When one process fails or is killed, the parent stops
the others (the cluster cannot go on without it) and says to run the command again: with
recovery (``parley run``) it resumes from the last snapshot, and without, stored messages are
not written twice.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import fields
from pathlib import Path

from flows.report import IngestReport
from hub.errors import FatalError
from hub.settings import Settings

__all__ = [
    "STOP_TIMEOUT_S",
    "default_processes",
    "ensure_recovery_dir",
    "free_addresses",
    "prepare_stores",
    "run_cluster",
    "stop",
    "sum_reports",
    "write_report",
]


def default_processes() -> int:
    """One flow process per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def free_addresses(count: int) -> list[str]:
    """``count`` local ``host:port`` addresses free right now (the OS picks the ports)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [f"127.0.0.1:{sock.getsockname()[1]}" for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def sum_reports(reports: Sequence[dict[str, object]]) -> IngestReport:
    """One report adding up the processes' reports (their conversation ids joined)."""
    total = IngestReport()
    for saved in reports:
        for f in fields(IngestReport):
            if f.name == "conversation_ids":
                total.conversation_ids.update(str(c) for c in saved.get(f.name, []))  # type: ignore[attr-defined]
            elif f.name in saved:
                setattr(total, f.name, getattr(total, f.name) + int(saved[f.name]))  # type: ignore[call-overload]
    return total


def write_report(path: Path, report: IngestReport, *, progress_only: bool = False) -> None:
    """Write ``report`` to ``path`` whole, or (``progress_only``) just its ``read`` count: the
    running rewrites every half second would otherwise serialise every conversation id so far."""
    data: dict[str, object] = (
        {"read": report.read}
        if progress_only
        else {**report.as_dict(), "conversation_ids": sorted(report.conversation_ids)}
    )
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps(data), encoding="utf-8")
    scratch.replace(path)  # readers never see half a file


def _read_report(path: Path) -> dict[str, object] | None:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def run_cluster(
    settings: Settings,
    paths: Sequence[Path],
    processes: int,
    *,
    recovery: bool,
    shared_nothing: bool = False,
    demo_fallback: bool = False,
    on_read: Callable[[int], None] | None = None,
    preexec_fn: Callable[[], None] | None = None,
    before_start: Callable[[], None] | None = None,
) -> IngestReport:
    """Import ``paths`` (none: the configured channels) through ``processes`` flow processes,
    a cluster or (``shared_nothing``: ``paths`` only, no ``recovery``) each alone.

    Blocks until all have finished; returns their summed report. ``on_read`` gets the records
    read so far, about twice a second; ``preexec_fn`` runs in each child before it starts (the
    CLI's asks Linux to end it with its parent). The processes start at once and load their
    models while this one runs ``before_start`` (waiting for a migration, say) and prepares
    the stores; they start the flow when it is done. Raises ``FatalError`` when a process
    fails, or what ``before_start`` raises, after stopping the processes.
    """
    if shared_nothing and (recovery or not paths):
        raise ValueError("shared-nothing processes read import paths, without recovery")
    settings.ensure_data_dir()
    if recovery:
        ensure_recovery_dir(settings, processes)
    addresses = ";".join(free_addresses(processes))
    with tempfile.TemporaryDirectory(prefix="parley-cluster-") as scratch:
        reports = [Path(scratch) / f"report-{i}.json" for i in range(processes)]
        go = Path(scratch) / "go"
        workers = []
        for index in range(processes):
            command = [sys.executable, "-m", "cli.flow_worker", "--index", str(index)]
            command += ["--share-of", str(processes)] if shared_nothing else ["--addresses", addresses]
            command += ["--report", str(reports[index]), "--go", str(go)]
            command += ["--recovery"] if recovery else []
            command += ["--demo-fallback"] if demo_fallback else []
            command += [str(p) for p in paths]
            workers.append(
                subprocess.Popen(command, env=os.environ.copy(), process_group=0, preexec_fn=preexec_fn)
            )
        try:
            if before_start is not None:
                before_start()
            prepare_stores(settings)
            go.touch()
            failed = _wait(workers, reports, on_read)
        finally:
            stop(workers)
        if failed is not None:
            again = "it resumes where it stopped" if recovery else "stored messages are not written twice"
            raise FatalError(
                f"flow process {failed[0]} of {processes} stopped (exit {failed[1]}); the others were "
                f"stopped too. Fix the cause shown above and run the same command again ({again})."
            )
        saved = [_read_report(path) for path in reports]
        missing = [i for i, report in enumerate(saved) if report is None]
        if missing:
            raise FatalError(f"flow processes {missing} ended without a report; run the command again")
        return sum_reports([r for r in saved if r is not None])


def ensure_recovery_dir(settings: Settings, processes: int) -> Path:
    """``settings.recovery_dir``, created with Bytewax's recovery partitions for ``processes``
    processes when it does not exist yet (one that exists is resumed from as it is)."""
    from bytewax.recovery import init_db_dir

    if not settings.recovery_dir.exists():
        settings.recovery_dir.mkdir(parents=True)
        init_db_dir(settings.recovery_dir, processes)
    return settings.recovery_dir


def prepare_stores(settings: Settings) -> None:
    """Create or migrate the stores once, here, before the processes start their flow: N
    processes migrating a new database at the same moment race on its schema. A store that
    cannot be opened raises its ``FatalError`` (what is wrong, what to do) before any flow runs."""
    from crm import open_crm
    from kb import open_kb

    open_crm(settings).close()
    open_kb(settings).close()


def _wait(
    workers: list[subprocess.Popen[bytes]],
    reports: list[Path],
    on_read: Callable[[int], None] | None,
) -> tuple[int, int] | None:
    """Wait for every worker; the first that fails as ``(index, exit code)``, or None."""
    while True:
        codes = [w.poll() for w in workers]
        for index, code in enumerate(codes):
            if code not in (None, 0):
                return index, code
        if on_read is not None:
            read = 0
            for path in reports:
                report = _read_report(path)
                read += int(report.get("read", 0)) if report else 0  # type: ignore[call-overload]
            on_read(read)
        if all(code == 0 for code in codes):
            return None
        time.sleep(0.2)


#: how long a stopped process may take to finish cleanly before it is killed
STOP_TIMEOUT_S = 15.0


def stop(workers: Sequence[subprocess.Popen[bytes]], timeout: float = STOP_TIMEOUT_S) -> list[int]:
    """SIGINT every running worker's process group (Bytewax stops cleanly on it), SIGKILL those
    still running after ``timeout`` seconds, or all at once should this process be interrupted
    again while it waits; returns the pids it had to kill after the timeout.

    Every worker is signalled before any is waited for: the processes of a cluster stop
    together, and one signalled alone waited for the others until it was killed.
    """
    for worker in workers:
        if worker.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    killed: list[int] = []
    try:
        for worker in workers:
            try:
                worker.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill(worker)
                killed.append(worker.pid)
        return killed
    except BaseException:  # a second Ctrl-C or SIGTERM: no more waiting
        for worker in workers:
            _kill(worker)
        raise


def _kill(worker: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
