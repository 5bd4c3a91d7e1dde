"""Which addresses a feed URL may reach: public ones only, unless internal feeds are allowed.

A feed URL comes from a user (``POST /feeds``) and the poller fetches it from inside the
hub's network, so an unchecked URL is a server-side request forgery: ``http://169.254.169.254/``
(cloud metadata), loopback admin ports, private ranges. ``AddressPolicy`` refuses every URL
whose host resolves to an address that is not globally routable, unless
``feeds.allow_private_addresses`` is set (an intranet feed, the project's own tests).

The policy is applied twice: when a feed is added (so the user gets a 400 at once) and on
every request the poller sends, redirects included, because DNS answers change after a feed
was added. The poller also checks the address it actually connected to, which closes the
window between our lookup and the HTTP client's own (DNS rebinding).

``RefusedFeedURL`` (skippable: the same URL will be refused again) and ``UnresolvableHost``
(retriable: DNS failures pass) are the only errors raised here.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import urllib.request
from collections.abc import Callable, Sequence

import httpx

from channels.feeds.settings import FeedSettings
from hub.errors import RetriableError, SkippableError

__all__ = [
    "AddressPolicy",
    "RefusedFeedURL",
    "Resolver",
    "UnresolvableHost",
    "internal_address_kind",
    "parse_feed_url",
    "resolve_host",
]

#: ``resolve(host, timeout_s)`` -> the host's IP addresses as strings
Resolver = Callable[[str, float], Sequence[str]]

_IP = ipaddress.IPv4Address | ipaddress.IPv6Address
_KINDS: tuple[tuple[str, str], ...] = (
    ("is_unspecified", "unspecified"),
    ("is_loopback", "loopback"),
    ("is_link_local", "link-local"),
    ("is_multicast", "multicast"),
    ("is_private", "private"),
    ("is_reserved", "reserved"),
)


class RefusedFeedURL(SkippableError):
    """A feed URL this hub will not fetch: not http(s), no host, or an internal address."""


class UnresolvableHost(RetriableError):
    """The feed's host did not resolve (no such name, or no answer in time)."""


def parse_feed_url(url: str) -> httpx.URL:
    """``url`` parsed the way the HTTP client will read it; refused unless absolute http(s)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise RefusedFeedURL(f"url must be an http(s) URL, got {url!r}: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise RefusedFeedURL(f"url must be an http(s) URL, got {url!r}")
    return parsed


def internal_address_kind(address: str) -> str | None:
    """Why ``address`` is internal ("loopback", "private"...), or ``None`` when it is public."""
    ip: _IP = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address):
        # an IPv4 address wrapped in IPv6 reaches that IPv4 address
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None:
            return internal_address_kind(str(embedded))
    for attribute, kind in _KINDS:
        if getattr(ip, attribute):
            return kind
    if not ip.is_global:  # shared address space (100.64/10) and other special ranges
        return "not globally routable"
    return None


def resolve_host(host: str, timeout_s: float) -> list[str]:
    """The addresses ``host`` resolves to, within ``timeout_s`` (``getaddrinfo`` has no timeout).

    The lookup runs in a daemon thread, so a resolver that never answers costs that thread
    only until the system resolver gives up, and never delays interpreter exit.
    """
    found: list[str] = []
    failure: list[BaseException] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
            found.extend(str(info[4][0]) for info in infos)
        except (OSError, UnicodeError) as exc:
            failure.append(exc)

    thread = threading.Thread(target=lookup, name="feed-resolve", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise UnresolvableHost(f"could not resolve {host} within {timeout_s:g}s")
    if failure:
        raise UnresolvableHost(f"could not resolve {host}: {failure[0]}") from failure[0]
    if not found:
        raise UnresolvableHost(f"could not resolve {host}: no addresses")
    return list(dict.fromkeys(found))


class AddressPolicy:
    """Refuses feed URLs (and connections) that reach internal addresses; see the module doc."""

    def __init__(self, *, allow_private: bool, timeout_s: float, resolve: Resolver = resolve_host) -> None:
        self.allow_private = allow_private
        self.timeout_s = timeout_s
        self.resolve = resolve

    @classmethod
    def from_settings(cls, settings: FeedSettings, resolve: Resolver = resolve_host) -> AddressPolicy:
        return cls(
            allow_private=settings.allow_private_addresses, timeout_s=settings.timeout_s, resolve=resolve
        )

    def check_url(self, url: str | httpx.URL) -> httpx.URL:
        """``url`` parsed; raises ``RefusedFeedURL`` or ``UnresolvableHost``."""
        parsed = parse_feed_url(str(url))  # redirects are checked too: no ftp:// or file://
        if self.allow_private:
            return parsed
        host = parsed.host
        addresses = [host] if _is_ip(host) else list(self.resolve(host, self.timeout_s))
        for address in addresses:
            self._refuse_internal(parsed, host, address, "resolves to")
        return parsed

    def check_peer(self, url: httpx.URL, peer: str) -> None:
        """Refuse a response from an internal ``peer`` (the address actually connected to)."""
        if not self.allow_private:
            self._refuse_internal(url, url.host, peer, "connected to")

    def event_hooks(self) -> dict[str, list[Callable[..., object]]]:
        """httpx event hooks enforcing the policy on every request and response (redirects too)."""
        if self.allow_private:
            return {}
        hooks: dict[str, list[Callable[..., object]]] = {"request": [self._on_request]}
        if not _proxies_configured():  # through a proxy the peer is the proxy, not the feed
            hooks["response"] = [self._on_response]
        return hooks

    def _on_request(self, request: httpx.Request) -> None:
        self.check_url(request.url)

    def _on_response(self, response: httpx.Response) -> None:
        stream = response.extensions.get("network_stream")
        server = stream.get_extra_info("server_addr") if stream is not None else None
        if server:
            self.check_peer(response.request.url, str(server[0]))

    def _refuse_internal(self, url: httpx.URL, host: str, address: str, verb: str) -> None:
        try:
            kind = internal_address_kind(address)
        except ValueError:
            kind = "not an IP address"
        if kind is None:
            return
        target = host if host == address else f"{host} {verb} {address}"
        raise RefusedFeedURL(
            f"refused {url}: {target} ({kind} address); feeds may only reach public "
            "addresses unless feeds.allow_private_addresses is set"
        )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _proxies_configured() -> bool:
    proxies = urllib.request.getproxies()
    return bool(proxies.get("http") or proxies.get("https") or proxies.get("all"))
