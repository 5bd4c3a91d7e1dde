"""Every channel honours the contract of ``channels.base``, and ``CHANNELS`` is the one way in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from channels import CHANNELS, configure, parse_envelope
from channels.base import Channel
from hub.errors import FatalError, MalformedPayload
from hub.models import Envelope
from hub.settings import Settings

DESCRIPTORS = list(CHANNELS.values())


@pytest.mark.parametrize("channel", DESCRIPTORS, ids=list(CHANNELS))
def test_descriptor_is_complete_and_works_on_a_fresh_machine(channel: Channel[Any]) -> None:
    assert CHANNELS[channel.name] is channel
    assert channel.parsers and all(callable(parser) for parser in channel.parsers.values())
    settings = Settings(demo=False)
    channel.settings_model()  # every default works with no configuration
    assert channel.settings_of(settings) == channel.settings_model()
    if channel.sources is not None:
        assert channel.sources(settings) == []  # nothing configured: no idle source
    assert channel.threading(settings) is not None
    for importer in channel.importers:
        assert importer.suffixes or importer.sniff is not None


def test_feeds_have_no_replier_and_no_subject_fallback() -> None:
    feeds = CHANNELS["feeds"]
    assert feeds.replier is None and feeds.webhook is None
    assert feeds.threading(Settings(demo=False)).subject_window is None


def test_unknown_kinds_and_channels_say_what_is_known() -> None:
    with pytest.raises(MalformedPayload, match="known kinds: rfc822"):
        parse_envelope(Envelope(channel="email", kind="msg", payload=b"x"))
    with pytest.raises(
        MalformedPayload, match=r"known channels: email, feeds, twitter; or send kind 'parley\.message'"
    ):
        parse_envelope(Envelope(channel="myspace", kind="tweet", payload={}))


def test_configure_refuses_a_table_no_channel_owns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_EMIAL__ACCOUNTS", json.dumps([{"name": "support"}]))
    with pytest.raises(FatalError, match=r"unknown channel\(s\) 'emial' \(PARLEY_EMIAL__\.\.\."):
        configure(Settings(demo=False))


def test_configure_validates_and_is_idempotent() -> None:
    settings = Settings(demo=False, channels={"feeds": {"allow_private_addresses": "true"}})
    configured = configure(settings)
    assert configured.channels["feeds"]["allow_private_addresses"] is True  # validated form
    assert configure(configured) == configured
