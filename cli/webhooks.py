"""``parley webhooks ...``: outbound webhooks from the command line.

``parley webhooks deliver`` runs the deliverer alone (``parley run`` starts one beside the API),
showing what it has done as it goes; ``--once`` delivers what is due and stops (a cron job, a
test). ``parley webhooks list`` shows the subscriptions and why a disabled one was disabled.
Subscriptions are created and changed through the API (``/outbound-webhooks``), by admins.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from hub.settings import Settings

__all__ = ["register"]

console = Console(stderr=True)


def register(app: typer.Typer, load_settings: Callable[[], Settings]) -> None:
    """Add the ``webhooks`` command group to ``app``."""
    webhooks_app = typer.Typer(
        help="Outbound webhooks: signed events to other systems.", no_args_is_help=True
    )
    app.add_typer(webhooks_app, name="webhooks")

    @webhooks_app.command("deliver")
    def deliver(
        concurrency: Annotated[
            int | None,
            typer.Option(min=1, max=64, help="deliveries sent at once (outbound_webhooks.concurrency)"),
        ] = None,
        once: Annotated[bool, typer.Option(help="deliver what is due now, then stop")] = False,
    ) -> None:
        """Follow the event log and deliver webhooks until interrupted (Ctrl-C)."""
        from crm import open_crm
        from outbound.webhooks import WebhookDeliverer

        settings = load_settings()
        crm = open_crm(settings)
        try:
            with WebhookDeliverer(crm, settings.outbound_webhooks, concurrency=concurrency) as deliverer:
                if once:
                    deliverer.run_once()
                    console.print(_summary(deliverer.stats))
                    return
                stop = threading.Event()
                thread = threading.Thread(target=deliverer.run, args=(stop,), name="webhook-deliverer")
                thread.start()
                try:
                    with Live(_summary(deliverer.stats), console=console, refresh_per_second=2) as live:
                        while thread.is_alive():
                            time.sleep(0.5)
                            live.update(_summary(deliverer.stats))
                except KeyboardInterrupt:
                    console.print("stopping: finishing the deliveries in flight…")
                finally:
                    stop.set()
                    thread.join()
        finally:
            crm.close()

    @webhooks_app.command("list")
    def list_subscriptions() -> None:
        """The subscriptions: URL, event types, state and the reason a disabled one stopped."""
        from crm import open_crm

        crm = open_crm(load_settings())
        try:
            table = Table("id", "url", "event types", "state", "failures in a row")
            for sub in crm.outbound_webhooks.list_all():
                state = "enabled" if sub.enabled else f"disabled: {sub.disabled_reason}"
                types = ", ".join(sub.event_types) if sub.event_types else "all"
                table.add_row(sub.id, sub.url, types, state, str(sub.consecutive_failures))
            Console().print(table)
        finally:
            crm.close()


def _summary(stats: object) -> str:
    names = ("queued", "delivered", "failed_attempts", "given_up", "disabled")
    return "webhooks: " + ", ".join(f"{name.replace('_', ' ')} {getattr(stats, name)}" for name in names)
