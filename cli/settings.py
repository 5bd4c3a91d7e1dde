"""The settings every ``parley`` command runs with: read and checked once (a bad one exits naming
the variable to fix), with the terminal's logging set up from them."""

from __future__ import annotations

import logging
import os

import typer
from pydantic import ValidationError
from rich.logging import RichHandler

from cli.terminal import console
from hub.errors import FatalError
from hub.settings import Settings
from hub.settings_sources import describe_setting

__all__ = ["load_settings", "settings_for_run", "with_demo_fallback"]


def load_settings() -> Settings:
    """The root settings, every channel's table validated and the channels' accounts added to
    the brand's identities (``channels.configure``); exits naming the setting to fix."""
    from channels import configure

    try:
        settings = configure(Settings())
    except (ValidationError, FatalError) as exc:
        problems = (
            "; ".join(describe_setting(e["loc"], e["msg"]) for e in exc.errors())
            if isinstance(exc, ValidationError)
            else str(exc)
        )
        console.print(f"[bold red]error:[/] invalid configuration: {problems}")
        console.print("Fix the environment variable (or parley.toml) named above and run the command again.")
        raise typer.Exit(code=2) from exc
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, rich_tracebacks=False)],
    )
    # Schema migrations and HTTP clients narrate every step at INFO; keep the terminal for Parley.
    for chatty in ("alembic", "httpx", "elastic_transport"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))
    if settings.log_level.upper() != "DEBUG":
        # A step that fails ends a flow through a panic inside Bytewax, whose Rust backtrace (a
        # hundred lines when RUST_BACKTRACE is set) says nothing the error printed after it
        # does not; the flow processes inherit this.
        os.environ["RUST_BACKTRACE"] = "0"
    return settings


def with_demo_fallback(settings: Settings) -> Settings:
    """``settings`` as given, or, when no import path is configured and the demo is enabled,
    the demo brand's settings importing the bundled demo dataset (for hubs with no channel)."""
    if settings.import_paths or not settings.demo:
        return settings
    from cli.demo import DEMO_PATH, demo_settings

    return demo_settings(settings).model_copy(update={"import_paths": [DEMO_PATH]})


def settings_for_run(*, demo_fallback: bool) -> Settings:
    """The settings ``parley run`` ingests with (the demo's when ``demo_fallback`` and nothing
    else is configured); ``cli.cluster``'s flow processes build theirs the same way."""
    settings = load_settings()
    return with_demo_fallback(settings) if demo_fallback else settings
