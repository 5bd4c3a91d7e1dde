"""Fixtures of the Twitter/X channel's tests: hand-written payloads, the local X server, and
settings with the brand account configured against it.

The brand is ``@AcmeHelp`` (user id 4000000001, account name ``brand``); the customers are
Ann (4000000002), Bob (…03), Carol (…04), Dave (…05) and Erin (…06). Fixture files are
``fixtures/<kind>__<variant>.json``: invented ids and text in the shapes X sends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from channels.twitter.parse import (
    AAA_EVENT_KIND,
    DM_EVENTS_KIND,
    STREAM_LINE_KIND,
    TWEET_PAGE_KIND,
    V1_TWEET_KIND,
)
from hub.models import Envelope
from hub.settings import Settings
from tests.channels.twitter.xserver import XServer, running_x_server

FIXTURES = Path(__file__).parent / "fixtures"
BRAND_ID = "4000000001"
ANN_ID = "4000000002"
BOB_ID = "4000000003"
#: the fixtures' tweet ids
T1, T2, T3, T4, T5 = (f"180000000000000010{n}" for n in range(1, 6))
KINDS = {
    "tweet_page": TWEET_PAGE_KIND,
    "stream_line": STREAM_LINE_KIND,
    "dm_events": DM_EVENTS_KIND,
    "aaa_event": AAA_EVENT_KIND,
    "v1_tweet": V1_TWEET_KIND,
    "v1_archive": V1_TWEET_KIND,
}
#: credentials the tests configure (the local server checks none of them)
CREDENTIALS = {
    "bearer_token": "app-bearer-token",
    "consumer_key": "consumer-key",
    "consumer_secret": "consumer-secret-for-tests",
    "access_token": "4000000001-access-token",
    "access_token_secret": "access-token-secret",
}


def load(name: str) -> Any:
    """The decoded fixture ``fixtures/<name>.json``."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def envelope(name: str, *, account: str = "brand", payload: Any = None) -> Envelope:
    """An envelope of the fixture ``name`` (its kind from the file name), raw bytes by default."""
    kind = KINDS[name.split("__")[0]]
    raw = payload if payload is not None else (FIXTURES / f"{name}.json").read_bytes()
    return Envelope(channel="twitter", kind=kind, account=account, payload=raw, raw_ref=f"fixture:{name}")


def twitter_table(base_url: str = "https://api.twitter.com", **overrides: Any) -> dict[str, Any]:
    """A ``[twitter]`` table: the brand account, the test credentials, quick retries."""
    table: dict[str, Any] = {
        "accounts": [{"name": "brand", "handle": "AcmeHelp", "user_id": BRAND_ID}],
        **CREDENTIALS,
        "api_base_url": base_url,
        "backoff_base_s": 0.05,
        "backoff_max_s": 0.2,
        "rate_limit_margin_s": 0.0,
        "first_poll_pages": 5,
        "timeout_s": 5.0,
    }
    table.update(overrides)
    return table


def with_twitter(settings: Settings, table: dict[str, Any]) -> Settings:
    return settings.model_copy(update={"channels": {**settings.channels, "twitter": table}})


@pytest.fixture
def x_server() -> Iterator[XServer]:
    with running_x_server() as server:
        yield server


@pytest.fixture
def x_settings(settings: Settings, x_server: XServer) -> Settings:
    """Settings with the brand account against the local X server and a fresh data dir."""
    settings.ensure_data_dir()
    return with_twitter(settings, twitter_table(x_server.base_url))
