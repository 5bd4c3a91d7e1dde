"""Fixtures of the webhook tests: the CRM store on SQLite and PostgreSQL, fast retry settings,
and a helper that runs the deliverer until something is true."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from crm import CRMStore, open_crm
from hub.settings import OutboundWebhookSettings, Settings
from outbound.webhooks import WebhookDeliverer

#: the receivers listen on 127.0.0.1: internal addresses allowed, retries in milliseconds
FAST = OutboundWebhookSettings(
    allow_private_addresses=True, timeout_s=2.0, backoff_base_s=0.05, backoff_max_s=0.2, poll_s=0.05
)


@pytest.fixture
def store(crm_settings: Settings) -> Iterator[CRMStore]:
    crm = open_crm(crm_settings)
    try:
        yield crm
    finally:
        crm.close()


def deliver_until(deliverer: WebhookDeliverer, done: Callable[[], bool], timeout_s: float = 15.0) -> None:
    """Run the deliverer's rounds until ``done()``; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"not done after {timeout_s}s: {deliverer.stats}")
        if not deliverer.run_once():
            time.sleep(0.02)
