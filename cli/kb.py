"""``parley kb ...``: knowledge base maintenance (export, migrate between backends, rebuild an
older embedded layout)."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable
from typing import Annotated

import typer
from rich.table import Table

from cli.terminal import console, fail, progress
from hub.errors import FatalError
from hub.settings import Settings

__all__ = ["register"]


def register(app: typer.Typer, load_settings: Callable[[], Settings]) -> None:
    """Add ``parley kb export|migrate`` to ``app``; ``load_settings`` reads the configuration."""
    kb_app = typer.Typer(help="Knowledge base maintenance.", no_args_is_help=True)
    app.add_typer(kb_app, name="kb")

    @kb_app.command("export")
    def kb_export() -> None:
        """Write every message with its enrichment as JSONL to stdout.

        A stored message that no longer validates is skipped and named on stderr; the export
        then exits with status 1 after writing every other message."""
        from kb import open_kb
        from kb.base import UnreadableDocument

        settings = load_settings()
        kb = open_kb(settings)
        unreadable: list[UnreadableDocument] = []
        try:
            for message in kb.iter_messages(on_unreadable=unreadable.append):
                sys.stdout.write(message.model_dump_json() + "\n")
        finally:
            kb.close()
        for document in unreadable[:20]:
            console.print(f"[red]skipped {document.kind} {document.id}: {document.reason}")
        if unreadable:
            fail(FatalError(f"{len(unreadable)} stored messages no longer validate and were not exported"))

    @kb_app.command("migrate")
    def kb_migrate(
        to: Annotated[
            str | None, typer.Option("--to", help="target backend: elasticsearch or sqlite")
        ] = None,
        reindex: Annotated[
            bool,
            typer.Option(
                "--reindex",
                help="rebuild an embedded knowledge base of an older layout in place, from its own documents",
            ),
        ] = False,
    ) -> None:
        """Copy the whole knowledge base to the other backend (resumable; verifies counts), or
        with ``--reindex`` rebuild an embedded one written by an older Parley.

        The source is the configured backend (``PARLEY_KB__BACKEND``); interrupted, it resumes
        from its checkpoint under the data directory.
        """
        if reindex:
            _reindex(load_settings())
            return
        if to is None:
            fail(FatalError("say where to: --to elasticsearch or --to sqlite (or --reindex)"))
            return
        from kb import open_kb
        from kb.migrate import migrate_kb

        settings = load_settings()
        if to not in {"elasticsearch", "sqlite"}:
            fail(FatalError(f"unknown backend {to!r}: use elasticsearch or sqlite"))
        if to == settings.kb.backend:
            fail(FatalError(f"the knowledge base already uses {to}; set PARLEY_KB__BACKEND to the source"))
        target_settings = settings.model_copy(update={"kb": settings.kb.model_copy(update={"backend": to})})
        state_path = settings.ensure_data_dir() / f"kb-migrate-to-{to}.json"
        try:
            source, target = open_kb(settings), open_kb(target_settings)
        except FatalError as exc:
            fail(exc)
        try:
            with progress(
                source.count_messages() + source.count_conversations(), f"migrating to {to}"
            ) as bar:
                task = bar.task_ids[0]
                report = migrate_kb(
                    source,
                    target,
                    state_path=state_path,
                    on_progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
        finally:
            source.close()
            target.close()
        table = Table(title=f"migration to {to}", show_header=False)
        table.add_row("messages", f"{report.target_messages} of {report.source_messages}")
        table.add_row("conversations", f"{report.target_conversations} of {report.source_conversations}")
        table.add_row("resumed (already copied)", str(report.resumed_messages + report.resumed_conversations))
        console.print(table)
        for problem in report.problems:
            console.print(f"[red]{problem}")
        for doc_id, error in list(report.errors.items())[:20]:
            console.print(f"[red]{doc_id}: {error}")
        if not report.verified:
            fail(FatalError("the copy is incomplete; fix the errors above and run the same command again"))
        console.print(f"[green]verified.[/] Set PARLEY_KB__BACKEND={to} to use it.")


def _reindex(settings: Settings) -> None:
    """``parley kb migrate --reindex``: rebuild the embedded knowledge base in the current layout."""
    from kb.sqlite.reindex import layout_of, reindex_sqlite_kb
    from kb.sqlite.store import SCHEMA_VERSION

    path = settings.kb_path
    layout = layout_of(path)
    if layout is None or layout == SCHEMA_VERSION:
        console.print(
            f"[green]nothing to do:[/] {path} {'does not exist' if layout is None else 'is current'}."
        )
        return
    with sqlite3.connect(path) as conn:
        total = sum(
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("messages", "conversations")
        )
    try:
        with progress(total, f"rebuilding layout {layout} as {SCHEMA_VERSION}") as bar:
            task = bar.task_ids[0]
            outcome = reindex_sqlite_kb(
                path, on_progress=lambda done, n: bar.update(task, completed=done, total=n)
            )
    except ValueError as exc:
        fail(FatalError(str(exc)))
        return
    report = outcome.report
    table = Table(title=f"reindex of {path}", show_header=False)
    table.add_row("messages", f"{report.target_messages} of {report.source_messages}")
    table.add_row("conversations", f"{report.target_conversations} of {report.source_conversations}")
    console.print(table)
    for problem in report.problems:
        console.print(f"[red]{problem}")
    for doc_id, error in list(report.errors.items())[:20]:
        console.print(f"[red]{doc_id}: {error}")
    if outcome.backup is None:
        fail(
            FatalError(
                f"the rebuild is incomplete; {path} is unchanged. Fix the errors above and run it again"
            )
        )
        return
    console.print(
        f"[green]rebuilt.[/] The layout-{layout} file is kept as {outcome.backup}; remove it when satisfied."
    )
