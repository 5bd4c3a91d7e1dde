"""The address policy: internal addresses refused at add time (unit) and at fetch time (poller).

Fetch-time tests run the real poller against the real feed server on 127.0.0.1; where a test
needs a host to look public, the policy's resolver stands in for DNS. No DNS query leaves the
machine: names used are ``localhost`` (hosts file) or answered by the stand-in resolver.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence
from typing import Any

import pytest

from channels.feeds.addresses import (
    AddressPolicy,
    RefusedFeedURL,
    UnresolvableHost,
    internal_address_kind,
    parse_feed_url,
    resolve_host,
)
from channels.feeds.fetch import build_client, fetch_feed
from channels.feeds.settings import FeedConfig, FeedSettings
from channels.feeds.source import FeedSource
from hub.models import DeadLetter
from tests.channels.feeds.conftest import drain
from tests.channels.feeds.feedserver import FeedServer

PUBLIC = "93.184.215.14"
DEFAULT = FeedSettings(timeout_s=0.5)  # allow_private_addresses left at its default: False


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("10.0.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("100.64.0.1", "not globally routable"),
        ("::ffff:10.0.0.1", "private"),  # IPv4-mapped
        ("2002:7f00:1::", "loopback"),  # 6to4 wrapping 127.0.0.1
        (PUBLIC, None),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_internal_address_kind(address: str, kind: str | None) -> None:
    assert internal_address_kind(address) == kind


@pytest.mark.parametrize(
    "url", ["ftp://a.test/rss", "not a url", "file:///etc/passwd", "http://", "//a.test/"]
)
def test_only_absolute_http_urls(url: str) -> None:
    with pytest.raises(RefusedFeedURL, match="http\\(s\\)"):
        parse_feed_url(url)


def test_resolve_host_reads_the_system_resolver() -> None:
    assert "127.0.0.1" in resolve_host("localhost", 2.0)


def test_resolve_host_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def hanging_getaddrinfo(*args: Any, **kwargs: Any) -> list[Any]:
        release.wait(5.0)  # a resolver that does not answer
        raise socket.gaierror("too late")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_getaddrinfo)
    try:
        with pytest.raises(UnresolvableHost, match=r"could not resolve feeds\.acme\.test within 0\.05s"):
            resolve_host("feeds.acme.test", 0.05)
    finally:
        release.set()


def test_resolve_host_failure_is_retriable(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_getaddrinfo(*args: Any, **kwargs: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", failing_getaddrinfo)
    with pytest.raises(UnresolvableHost, match="Name or service not known"):
        resolve_host("gone.acme.test", 1.0)


def test_allowed_policy_resolves_nothing() -> None:
    def no_dns(host: str, timeout_s: float) -> Sequence[str]:
        raise AssertionError("resolved although internal addresses are allowed")

    policy = AddressPolicy(allow_private=True, timeout_s=1.0, resolve=no_dns)
    assert policy.check_url("http://intranet.acme.test/rss").host == "intranet.acme.test"
    assert policy.event_hooks() == {} and policy.transport() is None


# Fetch time ---------------------------------------------------------------------------------


def dead_letter(items: Sequence[object]) -> DeadLetter:
    (letter,) = items
    assert isinstance(letter, DeadLetter) and letter.stage == "source" and letter.channel == "feeds"
    return letter


def test_poller_refuses_loopback_by_default(fixture_server: FeedServer) -> None:
    feed = FeedConfig(url=fixture_server.url("/fixtures/feed__atom03.xml"))
    items, state = drain(FeedSource([feed], DEFAULT, once=True))
    letter = dead_letter(items)
    assert letter.raw_ref == feed.url and f"refused {feed.url}" in letter.reason
    assert "127.0.0.1 (loopback address)" in letter.reason and "allow_private_addresses" in letter.reason
    assert fixture_server.hits == []  # refused before any request was sent
    assert state["cursors"][feed.url]["failures"] == 1


def test_poller_dead_letters_a_host_that_stopped_resolving(fixture_server: FeedServer) -> None:
    def nxdomain(host: str, timeout_s: float) -> Sequence[str]:
        raise UnresolvableHost(f"could not resolve {host}: no such name")

    policy = AddressPolicy.from_settings(DEFAULT, resolve=nxdomain)
    feed = FeedConfig(url="https://gone.acme.test/rss")
    letter = dead_letter(drain(FeedSource([feed], DEFAULT, once=True, address_policy=policy))[0])
    assert "could not resolve gone.acme.test" in letter.reason


class LocalServerLooksPublic(AddressPolicy):
    """The test server on 127.0.0.1 stands in for a public host; every other address is judged."""

    def address_kind(self, address: str) -> str | None:
        return None if address == "127.0.0.1" else super().address_kind(address)


def test_redirect_into_the_metadata_service_is_refused(fixture_server: FeedServer) -> None:
    policy = LocalServerLooksPublic.from_settings(DEFAULT)
    link_local = r"169\.254\.169\.254 \(link-local address\)"
    with build_client(DEFAULT, policy) as client, pytest.raises(RefusedFeedURL, match=link_local):
        fetch_feed(
            client, fixture_server.url("/to-metadata"), max_bytes=1024, deadline_s=2.0, max_retry_after_s=60
        )
    assert fixture_server.statuses("/to-metadata") == [302]  # the redirect was never followed
    feed = FeedConfig(url=fixture_server.url("/to-metadata"))
    letter = dead_letter(drain(FeedSource([feed], DEFAULT, once=True, address_policy=policy))[0])
    assert "http://169.254.169.254/latest/meta-data/" in letter.reason
