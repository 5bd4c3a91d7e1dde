"""One flow process of ``parley``'s cluster: ``python -m cli.flow_worker --index I ...``.

Started by :func:`cli.cluster.run_cluster`, never by hand: it builds the same settings as
``parley run`` (the demo's when ``--demo-fallback`` and nothing else is configured), runs the
ingest flow as process ``I`` of the cluster at ``--addresses`` (``cluster_main``) over the
given paths (none: the configured channels), and writes its report to ``--report``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from cli.cluster import write_report
from flows.report import IngestReport

__all__ = ["main"]

#: how often the process rewrites its running ``read`` count
PROGRESS_EVERY_S = 0.5
#: how often a process that has loaded its models looks for the parent's go-ahead
GO_POLL_S = 0.02


def main(argv: Sequence[str] | None = None) -> int:
    """One flow process of the cluster (started by :func:`cli.cluster.run_cluster`)."""
    from bytewax.recovery import RecoveryConfig
    from bytewax.testing import cluster_main

    from cli.main import settings_for_run
    from flows.imports import FileImportSource
    from flows.ingest import build_flow, preload

    parser = argparse.ArgumentParser(prog="python -m cli.flow_worker", description=main.__doc__)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--addresses", required=True, help="host:port of every process, ';'-separated")
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--recovery", action="store_true")
    parser.add_argument("--demo-fallback", action="store_true")
    parser.add_argument("--go", type=Path, help="load the models, then wait for this file to exist")
    parser.add_argument("paths", nargs="*", type=Path)
    args = parser.parse_args(argv)

    settings = settings_for_run(demo_fallback=args.demo_fallback)
    report = IngestReport()
    paths = list(args.paths) or list(settings.import_paths)
    last = [0.0]

    def progress(n: int) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S:
            last[0] = now
            write_report(args.report, report, progress_only=True)

    processes = len(args.addresses.split(";"))
    batch = settings.flow.batch_size
    sources = (
        [("import", FileImportSource(paths, batch_size=batch, on_emit=progress, readers=processes))]
        if paths
        else None
    )
    flow = build_flow(settings, sources, report=report, processes=processes)
    if args.go is not None:
        preload(settings)
        _wait_for(args.go)
    recovery = RecoveryConfig(str(settings.recovery_dir)) if args.recovery else None
    cluster_main(
        flow,
        args.addresses.split(";"),
        args.index,
        epoch_interval=timedelta(seconds=settings.flow.snapshot_interval_s),
        recovery_config=recovery,
    )
    write_report(args.report, report)
    return 0


def _wait_for(go: Path) -> None:
    """Until ``go`` exists: the parent creates it once the stores are ready (it stops this
    process instead when they cannot be)."""
    while not go.exists():
        time.sleep(GO_POLL_S)


if __name__ == "__main__":
    raise SystemExit(main())
