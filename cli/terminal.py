"""What every ``parley`` command shows on the terminal: the console (standard error), progress
bars, and how a command fails (the error, then exit status 1)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["console", "fail", "progress"]

#: standard error: standard output is kept for what a command outputs (an export, a token)
console = Console(stderr=True)


@contextmanager
def progress(total: int, label: str) -> Iterator[Progress]:
    """A progress bar of ``total`` steps named ``label`` on the console while the block runs."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        bar.add_task(label, total=total)
        yield bar


def fail(exc: Exception) -> NoReturn:
    """Say ``exc`` as the error and end the command with exit status 1."""
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(code=1)
