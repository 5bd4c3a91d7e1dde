"""``parley ingest`` and ``parley run``'s import of files: the flow over paths, in this process or
as N flow processes (``cli.cluster``), with a progress bar and the summary it prints."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from rich.progress import Progress
from rich.table import Table

from cli.terminal import console
from cli.terminal import progress as progress_bar
from hub.errors import FatalError
from hub.settings import Settings

if TYPE_CHECKING:
    from crm.engine import Migration

__all__ = ["count_records", "flow_dies_with", "print_summary", "run_in_process", "run_processes"]

log = logging.getLogger("parley")


def run_processes(
    settings: Settings,
    paths: Sequence[Path],
    processes: int,
    *,
    recovery: bool,
    shared_nothing: bool = False,
    demo_fallback: bool = False,
    before_start: Callable[[], None] | None = None,
) -> dict[str, int]:
    """Like :func:`run_in_process`, as ``processes`` Bytewax processes (``cli.cluster``: a cluster,
    or ``shared_nothing``); the processes load their models while this one runs
    ``before_start`` (waiting for a migration, say). Where this process may fork them
    (``cli.cluster.can_fork``: no other thread runs), it loads the models once, first, and
    forks the processes with them loaded."""
    from cli.cluster import can_fork, run_cluster

    if not paths:
        raise FatalError("nothing to ingest: configure a channel, set PARLEY_IMPORT_PATHS or enable the demo")
    total = sum(count_records(p) for p in paths)
    fork = can_fork()
    if fork:
        from flows.ingest import preload

        preload(settings)
    with ExitStack() as stack:
        bars: list[Progress] = []

        def on_read(n: int) -> None:
            # the bar starts once the processes have: its refresh thread must not run at a fork
            if not bars:
                bars.append(stack.enter_context(progress_bar(total, f"ingesting ({processes} processes)")))
            bars[0].update(bars[0].task_ids[0], completed=n)

        report = run_cluster(
            settings,
            paths,
            processes,
            recovery=recovery,
            shared_nothing=shared_nothing,
            demo_fallback=demo_fallback,
            on_read=on_read,
            preexec_fn=flow_dies_with(os.getpid()),
            before_start=before_start,
            fork=fork,
        )
        on_read(total)
    # imported once the processes have run, not before they start (when they are started
    # afresh, the 0.3 s its import took up front was time every process waited for; when
    # forked, preload has imported it already)
    from flows.kb_writer import finish_ingest

    finish_ingest(settings, report)
    return report.as_dict()


def count_records(path: Path) -> int:
    """A cheap estimate of how many records ``path`` holds, for the progress bar (counted over
    the same entries the import reads; one for formats of one record per file)."""
    from flows.imports import count_records

    return count_records(path)


def run_in_process(
    settings: Settings, paths: Sequence[Path], *, recovery: bool, migration: Migration | None = None
) -> dict[str, int]:
    """Import ``paths`` through the ingest flow in this process, with a progress bar; return its
    report. With a ``migration`` running, the models load while it finishes."""
    from bytewax.recovery import RecoveryConfig
    from bytewax.testing import run_main

    from cli.cluster import ensure_recovery_dir, prepare_stores
    from flows.imports import FileImportSource
    from flows.ingest import build_flow, preload
    from flows.kb_writer import finish_ingest
    from flows.report import IngestReport

    if not paths:
        raise FatalError("nothing to ingest: configure a channel, set PARLEY_IMPORT_PATHS or enable the demo")
    settings.ensure_data_dir()
    report = IngestReport()
    total = sum(count_records(p) for p in paths)
    with progress_bar(total, "ingesting") as progress:
        task = progress.task_ids[0]

        def advance(n: int) -> None:
            progress.advance(task, n)

        flow = build_flow(
            settings,
            [("import", FileImportSource(list(paths), batch_size=settings.flow.batch_size, on_emit=advance))],
            report=report,
        )
        preload(settings)
        if migration is not None:
            migration.wait()
        prepare_stores(settings)  # a store that cannot be opened says so now, with what to do
        recovery_config = RecoveryConfig(str(ensure_recovery_dir(settings, 1))) if recovery else None
        try:
            run_main(
                flow,
                epoch_interval=timedelta(seconds=settings.flow.snapshot_interval_s),
                recovery_config=recovery_config,
            )
        except Exception as exc:  # Bytewax wraps the cause; the user needs it and a next step
            log.debug("ingest flow stopped", exc_info=True)
            cause: BaseException = exc
            while cause.__cause__ is not None:
                cause = cause.__cause__
            again = "it resumes where it stopped" if recovery else "stored messages are not written twice"
            raise FatalError(
                f"the ingest flow stopped: {type(cause).__name__}: {cause}. "
                f"Fix the cause and run the same command again ({again})."
            ) from exc
        progress.update(task, completed=total)
    finish_ingest(settings, report)
    return report.as_dict()


def print_summary(summary: dict[str, int]) -> None:
    table = Table(title="ingest summary", show_header=False)
    for key in ("read", "ingested", "duplicates", "dead_letters", "unsupported", "filtered", "conversations"):
        table.add_row(key.replace("_", " "), str(summary[key]))
    console.print(table)
    if summary["dead_letters"]:
        console.print("[yellow]Some input could not be read: see `parley dead-letters` for each reason.")


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def flow_dies_with(parent_pid: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGTERM the flow process when its parent dies, or None.

    The parent dying without its ``finally`` (SIGKILL, OOM killer) would otherwise leave the flow
    running under PID 1. SIGTERM, not SIGINT: nobody is left to escalate if it lingers, and the
    flow's recovery snapshots make a hard stop safe.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before the fork: the child only calls it

    def die_with_parent() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent died before the request took effect
            os._exit(1)

    return die_with_parent
