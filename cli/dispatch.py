"""``parley dispatch``: the reply dispatcher (``outbound.dispatcher``) as a command.

It settles replies a previous dispatcher left in doubt, then sends queued replies until it is
stopped (Ctrl-C or SIGTERM: each sender finishes the reply in its hands first), showing what
it sent, retried, failed or left ``unknown``. ``--until-idle`` stops once nothing is queued
(scripts, tests, the bench). On a SQLite store one dispatcher runs at a time (a second one
stops with what to do); on PostgreSQL several share the work. ``parley run`` starts one.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from hub.errors import FatalError
from hub.settings import Settings

__all__ = ["register"]

console = Console(stderr=True)


def _summary(counts: dict[str, int], sent: int, retried: int, failed: int, unknown: int) -> Table:
    table = Table(title="outbox", show_header=True)
    for column in ("queued", "sending", "sent", "delivered", "failed", "unknown", "this run"):
        table.add_column(column, justify="right")
    this_run = f"{sent} sent, {retried} retried, {failed} failed, {unknown} unknown"
    table.add_row(
        *(str(counts[s]) for s in ("queued", "sending", "sent", "delivered", "failed", "unknown")), this_run
    )
    return table


async def _dispatch(settings: Settings, senders: int | None, until_idle: bool, quiet: bool) -> None:
    from crm import open_crm
    from kb import open_kb
    from outbound.dispatcher import Dispatcher, single_dispatcher_lock

    lock = single_dispatcher_lock(settings)
    crm, kb = open_crm(settings), open_kb(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    dispatcher = Dispatcher(settings, crm, kb, senders=senders)
    try:
        task = asyncio.create_task(dispatcher.run(stop, until_idle=until_idle))
        if quiet:
            await task
            return
        console.print(f"dispatcher {dispatcher.run_id}: {dispatcher.senders} senders")
        with Live(console=console, refresh_per_second=2) as live:
            while not task.done():
                r = dispatcher.report
                counts = await asyncio.to_thread(crm.outbox.counts)
                live.update(_summary(counts, r.sent, r.retried, r.failed, r.unknown))
                await asyncio.wait({task}, timeout=1.0)
        await task
    finally:
        kb.close()
        crm.close()
        if lock is not None:
            lock.close()


def register(app: typer.Typer, load_settings: Callable[[], Settings]) -> None:
    """Add ``parley dispatch`` to ``app``."""

    @app.command()
    def dispatch(
        senders: Annotated[int | None, typer.Option(min=1, max=64, help="replies sent at once")] = None,
        until_idle: Annotated[bool, typer.Option(help="stop once nothing is queued")] = False,
        quiet: Annotated[bool, typer.Option(help="no live table")] = False,
    ) -> None:
        """Send queued replies through their channels (runs until stopped)."""
        settings = load_settings()
        try:
            asyncio.run(_dispatch(settings, senders, until_idle, quiet))
        except FatalError as exc:
            console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(code=1) from exc
