"""``parley``: the command line (see the package docstring: the composition root).

``parley run`` ingests (the bundled demo when no channel is configured) and serves the API,
with the SLA tracker and breach scan (``flows.sla``), the reply dispatcher and the outbound
webhook deliverer (``parley webhooks deliver`` alone, :mod:`cli.webhooks`) beside it;
``parley ingest PATH...`` imports files (:mod:`cli.ingest`, with :mod:`cli.cluster` for several
processes); ``parley serve`` serves what is stored; ``parley kb export|migrate``
(:mod:`cli.kb`); ``parley dead-letters``; ``parley agents|teams ...``
(:mod:`cli.agents`); ``parley rules ...`` (:mod:`cli.rules`). Serving on an empty agents
table creates the first admin and prints a one-time sign-in link; serving also runs the snooze
timer (``flows.snooze``).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli import agents, dispatch, kb, report, rules, webhooks
from cli.ingest import flow_dies_with, print_summary, run_in_process, run_processes
from cli.settings import load_settings, with_demo_fallback
from cli.terminal import console, fail
from hub.errors import FatalError
from hub.settings import Settings

if TYPE_CHECKING:
    from crm.engine import Migration
    from crm.store import CRMStore
    from kb.base import KnowledgeBase

app = typer.Typer(help="Parley: social listening and interaction hub.", no_args_is_help=True)
log = logging.getLogger("parley")


def _processes(requested: int | None, settings: Settings) -> int:
    """Flow processes to run: ``requested``, else the ``flow.processes`` setting; 0 means one
    per core."""
    from cli.cluster import default_processes

    count = settings.flow.processes if requested is None else requested
    return count or default_processes()


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise FatalError(
                f"cannot listen on {host}:{port} ({exc.strerror}); stop whatever uses it or pass --port N"
            ) from exc


def _serve(settings: Settings, host: str, port: int) -> None:
    """Serve the API on ``host:port``; on an empty agents table, first create the first admin
    and print their one-time sign-in link. A non-loopback ``host`` needs ``api.allowed_hosts``
    to name the hub (``api.hosts.bind_warning``)."""
    import uvicorn

    from api.app import create_app
    from api.hosts import bind_warning

    # the bound address is one of the Host names answered, and sign-in links point at it
    settings = settings.model_copy(
        update={"api": settings.api.model_copy(update={"host": host, "port": port})}
    )
    warning = bind_warning(settings, host)
    _check_port_free(host, port)
    application = create_app(settings)
    sign_in = agents.bootstrap_first_admin(application.state.crm, settings)
    if warning:
        console.print(f"[bold yellow]warning:[/] {warning}")
    Console().print(f"[bold green]serving on http://{host}:{port}[/] (API docs at http://{host}:{port}/docs)")
    if sign_in:
        # plain writes: a wrapped link would not paste
        sys.stdout.write(
            f"\nCreated the first admin, {settings.auth.first_admin_email}. Sign in once, within "
            f"{settings.auth.sign_in_link_ttl_hours:g} h, by opening:\n\n    {sign_in}\n\n"
            "Then create an API token (POST /auth/tokens) or set a password (POST /auth/password);\n"
            f"`parley agents token {settings.auth.first_admin_email}` prints a token, "
            f"`parley agents link {settings.auth.first_admin_email}` a new link.\n\n"
        )
    sys.stdout.flush()
    logging.getLogger("uvicorn.access").addFilter(agents.RedactSignInLinks())
    from flows.snooze import SnoozeTimer

    # snoozed conversations reopen on time while the hub serves; SLA clocks run beside it
    timer = SnoozeTimer(application.state.crm, application.state.kb, settings.routing.snooze_poll_s).start()
    try:
        with _sla_worker(settings, application.state.crm, application.state.kb):
            uvicorn.run(application, host=host, port=port, log_level=settings.log_level.lower())
    finally:
        timer.stop()


@contextmanager
def _sla_worker(settings: Settings, crm: CRMStore, kb: KnowledgeBase) -> Iterator[None]:
    """The SLA tracker and breach scan (``flows.sla``) in a background thread while serving."""
    if not settings.sla.enabled:
        yield
        return
    from flows.sla import run_sla_worker

    stop = threading.Event()
    worker = threading.Thread(
        target=run_sla_worker, args=(crm, kb, settings.sla.scan_interval_s, stop), name="sla", daemon=True
    )
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join(timeout=10)


ProcessesOpt = Annotated[
    int | None,
    typer.Option("--processes", "-n", min=0, help="Bytewax processes to run the flow as (0: one per core)"),
]
PortOpt = Annotated[int | None, typer.Option("--port", "-p", help="port to serve the API on")]
HostOpt = Annotated[str | None, typer.Option("--host", help="address to serve the API on")]


@app.command()
def run(
    port: PortOpt = None,
    host: HostOpt = None,
    serve: Annotated[bool, typer.Option(help="serve the API after ingesting")] = True,
    processes: ProcessesOpt = None,
) -> None:
    """Ingest (configured channels, import paths, or the bundled demo) and serve the API.

    Resumable: state is kept in a Bytewax recovery directory under the data directory, so a
    restart after a kill continues where it stopped and writes nothing twice.
    """
    settings = load_settings()
    host, port = host or settings.api.host, port or settings.api.port
    try:
        _migrate_apart(settings)
        from flows.inbox import inbox_sources
        from flows.ingest import channel_sources

        with _delivering_webhooks(settings):
            # configured accounts, feeds added through the API, or webhooks filling the inbox
            count = _processes(processes, settings)
            if channel_sources(settings) or inbox_sources(settings):
                _run_live(settings, host, port, serve, count)
                return
            settings = with_demo_fallback(settings)
            if count > 1:
                summary = run_processes(
                    settings, settings.import_paths, count, recovery=True, demo_fallback=True
                )
            else:
                summary = run_in_process(settings, settings.import_paths, recovery=True)
            print_summary(summary)
            if serve:
                with _dispatcher():
                    _serve(settings, host, port)
    except FatalError as exc:
        fail(exc)


def _migrate_apart(settings: Settings) -> None:
    """The CRM schema brought up to date by a child process before the flow starts, so the
    flow and the API (which run for hours) never hold Alembic (``crm.engine.migrate_apart``)."""
    _start_migration(settings).wait()


def _start_migration(settings: Settings) -> Migration:
    """:func:`_migrate_apart` started, not waited for (``crm.engine.start_migration``)."""
    from crm.engine import start_migration

    if settings.database_url is None:
        settings.ensure_data_dir()
    return start_migration(settings.crm_url)


@contextmanager
def _delivering_webhooks(settings: Settings) -> Iterator[None]:
    """The outbound webhook deliverer in a thread of this process, beside the flow and the API
    (``parley webhooks deliver`` runs it alone); its own store, so it never waits on theirs."""
    from crm import open_crm
    from outbound.webhooks import delivering_in_background

    crm = open_crm(settings)
    try:
        with delivering_in_background(crm, settings.outbound_webhooks):
            yield
    finally:
        crm.close()


def _run_live(settings: Settings, host: str, port: int, serve: bool, processes: int = 1) -> None:
    """Live channels: the flow runs as ``processes`` processes of its own (resumable), the API
    in this one.

    SIGTERM stops both the way Ctrl-C does (a service manager or ``docker stop`` sends it): it
    becomes ``SystemExit`` in this process, and the ``finally`` stops the flow processes before
    this one exits (status 143). Each flow process runs in its own process group, so a signal
    for this process's group reaches it once, from here; on Linux it also gets SIGTERM should
    this process die without cleaning up (SIGKILL).
    """
    from cli.cluster import STOP_TIMEOUT_S, ensure_recovery_dir, free_addresses, stop

    settings.ensure_data_dir()
    ensure_recovery_dir(settings, processes)
    command = [
        sys.executable,
        "-m",
        "bytewax.run",
        "flows.ingest:get_flow()",
        "-r",
        str(settings.recovery_dir),
        "-s",
        str(int(settings.flow.snapshot_interval_s)),
        "-b",
        "0",
    ]
    addresses = ";".join(free_addresses(processes))
    commands = [
        [*command, "-i", str(i), "-a", addresses] if processes > 1 else command for i in range(processes)
    ]
    # Installed before the flow starts, so no SIGTERM can end this process with the flow
    # running. Uvicorn takes SIGTERM over while it serves, shuts down gracefully, then
    # raises the signal again: this handler sees it then.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    flow_processes: list[subprocess.Popen[bytes]] = []
    try:
        try:
            for one in commands:
                flow_processes.append(
                    subprocess.Popen(
                        one, env=os.environ.copy(), process_group=0, preexec_fn=flow_dies_with(os.getpid())
                    )
                )
            pids = ", ".join(str(p.pid) for p in flow_processes)
            shown = f"{processes} processes, pids {pids}" if processes > 1 else f"pid {pids}"
            console.print(f"ingest flow running ({shown})")
            if serve:
                with _dispatcher():
                    _serve(settings, host, port)
            else:
                for flow_process in flow_processes:
                    flow_process.wait()
        finally:
            killed = stop(flow_processes)
            if killed:
                log.warning(
                    "flow process(es) %s did not stop within %.0f s of SIGINT and were killed; "
                    "the next run resumes from their last snapshot",
                    ", ".join(map(str, killed)),
                    STOP_TIMEOUT_S,
                )
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


@contextmanager
def _dispatcher() -> Iterator[None]:
    """The reply dispatcher (``parley dispatch``) in a process of its own while the body runs:
    stopped like the flow (SIGINT, then SIGKILL), and SIGTERMed by Linux should this one die."""
    from cli.cluster import stop

    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "dispatch", "--quiet"],
        env=os.environ.copy(),
        process_group=0,
        preexec_fn=flow_dies_with(os.getpid()),
    )
    console.print(f"reply dispatcher running (pid {process.pid})")
    try:
        yield
    finally:
        stop([process])


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@app.command()
def serve(port: PortOpt = None, host: HostOpt = None) -> None:
    """Serve the API over the stored data, ingesting nothing."""
    settings = load_settings()
    try:
        _serve(settings, host or settings.api.host, port or settings.api.port)
    except FatalError as exc:
        fail(exc)


@app.command()
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="JSONL envelopes, .eml files or folders, .mbox, feed files")
    ],
    processes: Annotated[
        int,
        typer.Option(
            "--processes", "-n", min=0, help="Bytewax processes to run the flow as (0: one per core)"
        ),
    ] = 1,
) -> None:
    """Import files through the same parsers as live channels; prints a summary at the end."""
    settings = load_settings()
    try:
        count = _processes(processes, settings)
        # the migration runs in its child while the models load
        migration = _start_migration(settings)
        if count > 1:
            summary = run_processes(
                settings,
                paths,
                count,
                recovery=False,
                shared_nothing=True,  # files can be read by every process: no exchange needed
                before_start=migration.wait,
            )
        else:
            summary = run_in_process(settings, paths, recovery=False, migration=migration)
    except FatalError as exc:
        fail(exc)
    print_summary(summary)


@app.command("dead-letters")
def dead_letters(
    stage: Annotated[str | None, typer.Option(help="only this stage: import, parse, source, kb")] = None,
    limit: Annotated[int, typer.Option(help="how many to show")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print JSONL with the raw payloads")] = False,
) -> None:
    """List input that could not be processed, newest first, with the reason."""
    from crm import open_crm

    settings = load_settings()
    crm = open_crm(settings)
    try:
        total, letters = crm.list_dead_letters(limit=limit, offset=0, stage=stage)
    finally:
        crm.close()
    if as_json:
        for letter in letters:
            sys.stdout.write(letter.model_dump_json() + "\n")
        return
    table = Table(title=f"dead letters ({len(letters)} of {total})")
    for column in ("when", "stage", "where", "reason"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        table.add_row(
            letter.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            letter.stage,
            letter.raw_ref or letter.channel or "-",
            letter.reason,
        )
    Console().print(table)


agents.register(app, load_settings)
kb.register(app, load_settings)
rules.register(app, load_settings)
dispatch.register(app, load_settings)
report.register(app, load_settings)
webhooks.register(app, load_settings)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
