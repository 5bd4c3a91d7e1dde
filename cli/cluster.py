"""The ingest flow as N Bytewax processes on this machine: every core used.

``parley ingest --processes N`` and ``parley run --processes N`` (default: the number of
cores) start N copies of ``python -m cli.flow_worker``, or fork them from the command when no
other thread runs in it (:func:`can_fork`), with the models it loaded once. Processes, never
``-w`` threads: the GIL makes threads slower here. They run in one of two ways.

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

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Protocol

from flows.report import IngestReport, read_report, sum_reports
from hub.errors import FatalError
from hub.settings import Settings

__all__ = [
    "STOP_TIMEOUT_S",
    "ForkedWorker",
    "Worker",
    "can_fork",
    "default_processes",
    "ensure_recovery_dir",
    "free_addresses",
    "prepare_stores",
    "run_cluster",
    "stop",
]

log = logging.getLogger("parley")


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
    fork: bool = False,
) -> IngestReport:
    """Import ``paths`` (none: the configured channels) through ``processes`` flow processes,
    a cluster or (``shared_nothing``: ``paths`` only, no ``recovery``) each alone.

    Blocks until all have finished; returns their summed report. ``on_read`` gets the records
    read so far, about twice a second; ``preexec_fn`` runs in each child before it starts (the
    CLI's asks Linux to end it with its parent). The processes start at once and load their
    models while this one runs ``before_start`` (waiting for a migration, say) and prepares
    the stores; they start the flow when it is done. With ``fork`` (see :func:`can_fork`)
    they are forked from this process rather than started afresh: call
    ``flows.ingest.preload`` first, and they begin with its imports and models (a fresh
    process imports and loads them again, about 4 s of CPU each). Raises ``FatalError`` when
    a process fails, or what ``before_start`` raises, after stopping the processes.
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
        workers: list[Worker] = []
        for index in range(processes):
            args = ["--index", str(index)]
            args += ["--share-of", str(processes)] if shared_nothing else ["--addresses", addresses]
            args += ["--report", str(reports[index]), "--go", str(go)]
            args += ["--recovery"] if recovery else []
            args += ["--demo-fallback"] if demo_fallback else []
            args += [str(p) for p in paths]
            if fork:
                workers.append(_fork_worker(args, preexec_fn))
            else:
                command = [sys.executable, "-m", "cli.flow_worker", *args]
                workers.append(
                    subprocess.Popen(command, env=os.environ.copy(), process_group=0, preexec_fn=preexec_fn)
                )
        log.info(
            "%d flow processes %s: pids %s",
            processes,
            "forked" if fork else "started",
            ", ".join(str(w.pid) for w in workers),
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
        saved = [read_report(path) for path in reports]
        missing = [i for i, report in enumerate(saved) if report is None]
        if missing:
            raise FatalError(f"flow processes {missing} ended without a report; run the command again")
        return sum_reports([r for r in saved if r is not None])


class Worker(Protocol):
    """A flow process as :func:`run_cluster` waits for and stops it (``subprocess.Popen`` is one)."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


def can_fork() -> bool:
    """Whether :func:`run_cluster` may fork its processes from this one: the platform forks and
    no other thread runs (a lock another thread held at the fork would stay held in the child:
    a progress bar's refresh thread, a server's)."""
    return hasattr(os, "fork") and threading.active_count() == 1


class ForkedWorker:
    """A flow process forked from this one, waited for as a ``subprocess.Popen`` is."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code once the process has ended (reaping it), else None."""
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by someone else: its code is lost, so it failed
                self.returncode = 255
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """The exit code; ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"flow process {self.pid}", timeout or 0.0)
            time.sleep(0.02)
        return code


def _fork_worker(args: list[str], preexec_fn: Callable[[], None] | None) -> ForkedWorker:
    """Fork a flow process running ``cli.flow_worker`` with ``args``, in its own process group
    as the started ones are. The child never returns: it leaves through ``os._exit``, so
    nothing of this process's (its ``finally`` blocks, its exit handlers) runs twice."""
    for stream in (sys.stdout, sys.stderr):  # what is buffered would be written twice
        with suppress(Exception):
            stream.flush()
    pid = os.fork()
    if pid:
        return ForkedWorker(pid)
    code = 1
    try:
        os.setpgid(0, 0)
        if preexec_fn is not None:
            preexec_fn()
        from cli.flow_worker import main

        code = main(args)
    except SystemExit as exc:  # argparse, or the worker's own exit
        code = exc.code if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:  # stopped by the parent (see stop): it says why
        code = 130
    except BaseException:  # said on stderr; the parent reports the exit code
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with suppress(Exception):
                stream.flush()
        os._exit(code)


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
    workers: Sequence[Worker],
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
                report = read_report(path)
                read += int(report.get("read", 0)) if report else 0  # type: ignore[call-overload]
            on_read(read)
        if all(code == 0 for code in codes):
            return None
        time.sleep(0.2)


#: how long a stopped process may take to finish cleanly before it is killed
STOP_TIMEOUT_S = 15.0


def stop(workers: Sequence[Worker], timeout: float = STOP_TIMEOUT_S) -> list[int]:
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


def _kill(worker: Worker) -> None:
    with suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
