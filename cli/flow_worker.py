"""One flow process of ``parley``'s processes: ``python -m cli.flow_worker --index I ...``.

Started by :func:`cli.cluster.run_cluster`, never by hand: it builds the same settings as
``parley run`` (the demo's when ``--demo-fallback`` and nothing else is configured), runs the
ingest flow over the given paths (none: the configured channels) and writes its report to
``--report``: as process ``I`` of the Bytewax cluster at ``--addresses`` (``cluster_main``),
or, with ``--share-of N``, alone (``run_main``) as process ``I`` of N that each read every
path and keep their own share (``flows.ingest.ProcessShare``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from flows.report import IngestReport, write_report

__all__ = ["main"]

#: how often the process rewrites its running ``read`` count
PROGRESS_EVERY_S = 0.5
#: how often a process that has loaded its models looks for the parent's go-ahead
GO_POLL_S = 0.02


def main(argv: Sequence[str] | None = None) -> int:
    """One flow process (started by :func:`cli.cluster.run_cluster`)."""
    from bytewax.recovery import RecoveryConfig
    from bytewax.testing import cluster_main, run_main

    from cli.settings import settings_for_run
    from flows.imports import FileImportSource
    from flows.ingest import ProcessShare, build_flow, preload

    parser = argparse.ArgumentParser(prog="python -m cli.flow_worker", description=main.__doc__)
    parser.add_argument("--index", type=int, required=True)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--addresses", help="host:port of every process of the cluster, ';'-separated")
    mode.add_argument("--share-of", type=int, metavar="N", help="run alone as process --index of N")
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

    batch = settings.flow.batch_size
    if args.share_of is not None:
        if not paths or args.recovery:
            parser.error("--share-of reads import paths, without recovery")
        share = ProcessShare(args.index, args.share_of)
        source = FileImportSource(paths, batch_size=share.read_batch(batch), on_emit=progress)
        flow = build_flow(settings, [("import", source)], report=report, share=share)
    else:
        processes = len(args.addresses.split(";"))
        sources = (
            [("import", FileImportSource(paths, batch_size=batch, on_emit=progress, readers=processes))]
            if paths
            else None
        )
        flow = build_flow(settings, sources, report=report, processes=processes)
    if args.go is not None:
        preload(settings)
        _wait_for(args.go)
    epoch = timedelta(seconds=settings.flow.snapshot_interval_s)
    if args.share_of is not None:
        run_main(flow, epoch_interval=epoch)
    else:
        recovery = RecoveryConfig(str(settings.recovery_dir)) if args.recovery else None
        addresses = args.addresses.split(";")
        cluster_main(flow, addresses, args.index, epoch_interval=epoch, recovery_config=recovery)
    write_report(args.report, report)
    return 0


def _wait_for(go: Path) -> None:
    """Until ``go`` exists: the parent creates it once the stores are ready (it stops this
    process instead when they cannot be)."""
    while not go.exists():
        time.sleep(GO_POLL_S)


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:  # the parent stops the others when one fails: it says why
        raise SystemExit(130) from None
