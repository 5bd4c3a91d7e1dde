"""Which Host names the API answers, and whether an address may be bound (pure functions).

A hub on a laptop listens on loopback, yet a web page elsewhere can still reach it through DNS
rebinding: its own name, re-pointed at 127.0.0.1, makes the browser send the page's requests
to the hub with the page's name as the ``Host``. Answering only the configured names
(``api.allowed_hosts``, plus the bound address and ``api.public_url``'s host) stops that.
Binding a non-loopback address is allowed only when the names clients use are configured.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from hub.errors import FatalError
from hub.settings import LOOPBACK_HOSTS, Settings

__all__ = ["allowed_hosts", "bind_warning", "host_allowed", "host_name", "is_loopback", "public_url"]

#: addresses that mean "every interface" rather than a name a client would send
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})


def host_name(header: str) -> str:
    """The name in a ``Host`` header, lower-cased, without port or IPv6 brackets."""
    value = header.strip().lower()
    if value.startswith("["):  # [::1]:8000
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value  # a name, or a bare IPv6 address


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) only reaches this machine."""
    name = host_name(host) if host.startswith("[") else host.strip().lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def public_url(settings: Settings) -> str:
    """Where people reach the hub: ``api.public_url``, else ``http://<host>:<port>`` (with a
    loopback address in place of a wildcard bind)."""
    if settings.api.public_url:
        return settings.api.public_url.rstrip("/")
    host = settings.api.host
    if host in WILDCARD_BINDS:
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.api.port}"


def allowed_hosts(settings: Settings) -> frozenset[str]:
    """Every Host name answered: the configured ones, the bound address (unless a wildcard)
    and the host of ``api.public_url``; ``{"*"}`` when any Host is configured to do."""
    names = {host_name(name) if name != "*" else "*" for name in settings.api.allowed_hosts}
    if "*" in names:
        return frozenset({"*"})
    bound = settings.api.host
    if bound not in WILDCARD_BINDS:
        names.add(host_name(bound) if bound.startswith("[") else bound.lower())
    if settings.api.public_url:
        public = urlsplit(settings.api.public_url).hostname
        if public:
            names.add(public.lower())
    return frozenset(names)


def host_allowed(header: str | None, allowed: frozenset[str]) -> bool:
    """Whether a request whose ``Host`` header is ``header`` is answered."""
    if "*" in allowed:
        return True
    return header is not None and host_name(header) in allowed


def bind_warning(settings: Settings, host: str) -> str | None:
    """``None`` for a loopback ``host``; otherwise the warning to print before serving on it.

    Raises ``FatalError`` with advice for a wildcard bind (``0.0.0.0``, ``::``) when
    ``api.allowed_hosts`` names no host but loopback ones: no client elsewhere could be
    answered, and the operator has not said which name they use.
    """
    if is_loopback(host):
        return None
    configured = {name.lower() for name in settings.api.allowed_hosts}
    public = urlsplit(settings.api.public_url).hostname if settings.api.public_url else None
    names = sorted((configured | ({public.lower()} if public else set())) - set(LOOPBACK_HOSTS))
    if host in WILDCARD_BINDS and not names:
        raise FatalError(
            f"serving on {host or '*'} makes the hub reachable from other machines, but "
            "api.allowed_hosts names only loopback hosts, so no request from elsewhere would be "
            "answered. Set PARLEY_API__ALLOWED_HOSTS to the names clients use, e.g. "
            '\'["hub.example.com", "localhost", "127.0.0.1"]\' (or [api] allowed_hosts in '
            "parley.toml), or serve on 127.0.0.1."
        )
    answered = ", ".join(names + ([host] if host not in WILDCARD_BINDS else [])) or "*"
    return (
        f"serving on {host}: reachable from other machines. Only requests whose Host is one of "
        f"api.allowed_hosts (PARLEY_API__ALLOWED_HOSTS; now {answered} and the loopback names) are "
        "answered, and every route but /health, the docs, sign-in and webhooks needs a sign-in. "
        "Put TLS in front of it (a reverse proxy) and set PARLEY_AUTH__COOKIE_SECURE=true."
    )
