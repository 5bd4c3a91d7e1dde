"""Which addresses a feed URL may reach: public ones only, unless internal feeds are allowed.

The hub's one SSRF policy: outbound webhooks (``outbound.webhooks``) use it too, naming their own
setting (``outbound_webhooks.allow_private_addresses``) through ``subject`` and ``setting``.

A feed URL comes from a user (``POST /feeds``) and the poller fetches it from inside the
hub's network, so an unchecked URL is a server-side request forgery: ``http://169.254.169.254/``
(cloud metadata), loopback admin ports, private ranges. ``AddressPolicy`` refuses every URL
whose host resolves to an address that is not globally routable, unless
``feeds.allow_private_addresses`` is set (an intranet feed, the project's own tests).

The policy is applied twice: when a feed is added (so the user gets a 400 at once) and on
every request the poller sends, redirects included, because DNS answers change after a feed
was added. At fetch time the host is resolved once per request and the poller connects to the
addresses that passed (``VettedTransport``), never resolving again: with DNS rebinding a second
lookup could answer an internal address after the first passed, and the request would reach it.
Through a proxy (the proxy resolves and connects) only the URL check applies.

``RefusedFeedURL`` (skippable: the same URL will be refused again) and ``UnresolvableHost``
(retriable: DNS failures pass) are the only errors raised here.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar

import httpcore
import httpx

from channels.feeds.settings import FeedSettings
from hub.errors import RetriableError, SkippableError
from hub.settings import OutboundWebhookSettings

__all__ = [
    "AddressPolicy",
    "RefusedFeedURL",
    "Resolver",
    "UnresolvableHost",
    "VettedTransport",
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

    def __init__(
        self,
        *,
        allow_private: bool,
        timeout_s: float,
        resolve: Resolver = resolve_host,
        subject: str = "feeds",
        setting: str = "feeds.allow_private_addresses",
    ) -> None:
        self.allow_private = allow_private
        self.timeout_s = timeout_s
        self.resolve = resolve
        #: who the policy guards and the setting that lets it reach internal addresses, named in
        #: refusals (the same policy guards outbound webhooks: ``outbound.webhooks``)
        self.subject = subject
        self.setting = setting

    @classmethod
    def from_settings(cls, settings: FeedSettings, resolve: Resolver = resolve_host) -> AddressPolicy:
        return cls(
            allow_private=settings.allow_private_addresses, timeout_s=settings.timeout_s, resolve=resolve
        )

    @classmethod
    def for_outbound_webhooks(
        cls, settings: OutboundWebhookSettings, resolve: Resolver = resolve_host
    ) -> AddressPolicy:
        """The same policy for outbound webhook URLs (``outbound_webhooks.allow_private_addresses``),
        checked by the API when a URL is saved and by the deliverer on every attempt."""
        return cls(
            allow_private=settings.allow_private_addresses,
            timeout_s=settings.timeout_s,
            resolve=resolve,
            subject="outbound webhooks",
            setting="outbound_webhooks.allow_private_addresses",
        )

    def check_url(self, url: str | httpx.URL) -> httpx.URL:
        """``url`` parsed; raises ``RefusedFeedURL`` or ``UnresolvableHost``."""
        parsed = parse_feed_url(str(url))  # redirects are checked too: no ftp:// or file://
        if not self.allow_private:
            self.vetted_addresses(parsed)
        return parsed

    def vetted_addresses(self, url: str | httpx.URL) -> list[str]:
        """Every address ``url``'s host resolves to, each one allowed; connect to these only.

        Raises ``RefusedFeedURL`` when any answer is internal (a host with one internal address
        is refused whole) and ``UnresolvableHost`` when there is none.
        """
        parsed = parse_feed_url(str(url))
        host = parsed.host
        # The ASCII form is the name the HTTP client would connect to (IDNA 2008 for IDNs).
        name = parsed.raw_host.decode("ascii")
        addresses = [host] if _is_ip(host) else list(self.resolve(name, self.timeout_s))
        for address in addresses:
            self._refuse_internal(parsed, host, address, "resolves to")
        return addresses

    def address_kind(self, address: str) -> str | None:
        """Why this policy will not reach ``address`` ("loopback"...), or ``None``: the one
        judgement every check goes through (tests let a local server stand in for a public host)."""
        if self.allow_private:
            return None
        try:
            return internal_address_kind(address)
        except ValueError:
            return "not an IP address"

    def transport(self) -> httpx.BaseTransport | None:
        """The transport a client fetching feeds must use, or ``None`` for httpx's own.

        ``None`` when nothing is refused (internal addresses allowed) or when a proxy is
        configured: the proxy resolves and connects, so only ``event_hooks`` can check the URL.
        """
        if self.allow_private or _proxies_configured():
            return None
        return VettedTransport(self)

    def event_hooks(self) -> dict[str, list[Callable[..., object]]]:
        """httpx event hooks checking every request's URL (redirects too) when ``transport`` is
        ``None`` because of a proxy; the vetted transport checks requests itself."""
        if self.allow_private or not _proxies_configured():
            return {}
        return {"request": [self._on_request]}

    def _on_request(self, request: httpx.Request) -> None:
        self.check_url(request.url)

    def _refuse_internal(self, url: httpx.URL, host: str, address: str, verb: str) -> None:
        kind = self.address_kind(address)
        if kind is None:
            return
        target = host if host == address else f"{host} {verb} {address}"
        raise RefusedFeedURL(
            f"refused {url}: {target} ({kind} address); {self.subject} may only reach public "
            f"addresses unless {self.setting} is set"
        )


# The addresses vetted for the request being sent in this thread, as (host, addresses): set by
# VettedTransport around each request and read by _VettedBackend when the connection pool opens
# a connection for it (httpcore connects in the thread that sends the request).
_VETTED: ContextVar[tuple[str, tuple[str, ...]] | None] = ContextVar("feeds_vetted", default=None)


class VettedTransport(httpx.HTTPTransport):
    """An httpx transport connecting only to addresses its policy vetted for the request.

    Each request (each redirect hop too) resolves its host once through the policy, which
    refuses it unless every answer is allowed; a new connection goes to one of those addresses
    and the name is not resolved again. The URL keeps its host name, so the Host header, TLS
    SNI and certificate verification are for the real name. A kept-alive connection is reused
    as it is: it was made to a vetted address.
    """

    def __init__(self, policy: AddressPolicy, *, verify: ssl.SSLContext | bool = True) -> None:
        ssl_context = httpx.create_ssl_context(verify=verify)
        super().__init__(verify=ssl_context)
        # httpx offers no public way to choose the pool's network backend: the pool it built is
        # replaced by an equal one (httpx's default limits) that connects through ours.
        if not isinstance(getattr(self, "_pool", None), httpcore.ConnectionPool):
            raise RuntimeError("httpx.HTTPTransport changed: VettedTransport cannot pin addresses")
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_VettedBackend(),
        )
        self._policy = policy

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        addresses = self._policy.vetted_addresses(request.url)
        token = _VETTED.set((request.url.raw_host.decode("ascii"), tuple(addresses)))
        try:
            return super().handle_request(request)
        finally:
            _VETTED.reset(token)


class _VettedBackend(httpcore.NetworkBackend):
    """Opens TCP connections to the vetted addresses of the request being sent, in order."""

    def __init__(self) -> None:
        self._system = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        vetted = _VETTED.get()
        if vetted is None or vetted[0] != host:
            # Fail closed: a connection nobody vetted is never opened.
            raise httpcore.ConnectError(f"no vetted address to connect to {host}")
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in vetted[1]:  # like socket.create_connection: each answer in turn
            try:
                return self._system.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure or httpcore.ConnectError(f"no address to connect to {host}")

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("feeds are fetched over TCP only")

    def sleep(self, seconds: float) -> None:
        self._system.sleep(seconds)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _proxies_configured() -> bool:
    proxies = urllib.request.getproxies()
    return bool(proxies.get("http") or proxies.get("https") or proxies.get("all"))
