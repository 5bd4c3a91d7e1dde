"""One polite HTTP GET of a feed, with httpx errors translated into the hub's families.

Polite: a User-Agent naming the project, conditional GET (``If-None-Match`` /
``If-Modified-Since``: an unchanged feed costs a 304 and nothing else), a bounded number of
redirects, a timeout on every phase plus an overall deadline, and a size cap enforced while
streaming (the body is cut off, never buffered whole). ``fetch_feed`` raises
``RetriableError`` (timeouts, connection failures, 429/5xx, with the server's Retry-After) or
``SkippableError`` (redirect loops, oversize bodies, 4xx, URLs refused by the address policy
of ``channels.feeds.addresses``) - never an httpx exception. A server's Retry-After is capped
at ``backoff_max_s``: a misbehaving server cannot park a feed for years.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from channels.feeds.addresses import AddressPolicy
from channels.feeds.settings import FeedSettings
from hub.errors import RetriableError, SkippableError

__all__ = ["FetchResult", "build_client", "fetch_feed", "parse_retry_after"]

_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, "
    "text/xml;q=0.9, */*;q=0.1"
)
_RETRIABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class FetchResult:
    """A fetched feed (``status`` 200) or confirmation it did not change (304, no content)."""

    url: str
    status: int
    content: bytes = b""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None


def build_client(settings: FeedSettings, policy: AddressPolicy | None = None) -> httpx.Client:
    """The shared client: timeouts on connect/read/write/pool, redirects capped, our UA.

    Every request it sends (redirects included) is checked against ``policy`` (by default the
    one ``settings`` describe), and connects only to addresses the policy vetted for it
    (``VettedTransport``), so internal addresses are refused at fetch time too, whatever the
    feed's DNS says by then and however often it changes its answer.
    """
    policy = policy or AddressPolicy.from_settings(settings)
    return httpx.Client(
        timeout=httpx.Timeout(settings.timeout_s),
        follow_redirects=True,
        max_redirects=settings.max_redirects,
        headers={"User-Agent": settings.user_agent, "Accept": _ACCEPT},
        transport=policy.transport(),
        event_hooks=policy.event_hooks(),
    )


def fetch_feed(
    client: httpx.Client,
    url: str,
    *,
    max_bytes: int,
    deadline_s: float,
    max_retry_after_s: float,
    etag: str | None = None,
    last_modified: str | None = None,
) -> FetchResult:
    """GET ``url`` conditionally; the body is read up to ``max_bytes`` within ``deadline_s``.

    A Retry-After the server sends with a retriable status is capped at ``max_retry_after_s``.
    """
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with client.stream("GET", url, headers=headers) as response:
            return _read(response, url, max_bytes, time.monotonic() + deadline_s, max_retry_after_s)
    except httpx.TooManyRedirects as exc:
        raise SkippableError(f"redirect loop: more than {client.max_redirects} redirects from {url}") from exc
    except httpx.TimeoutException as exc:
        raise RetriableError(f"timed out fetching {url}: {type(exc).__name__}") from exc
    except httpx.InvalidURL as exc:
        raise SkippableError(f"invalid feed URL {url!r}: {exc}") from exc
    except httpx.UnsupportedProtocol as exc:
        raise SkippableError(f"unsupported URL scheme in {url!r}: {exc}") from exc
    except httpx.HTTPError as exc:  # connection refused/reset, DNS, protocol errors: passing
        raise RetriableError(f"could not fetch {url}: {type(exc).__name__}: {exc}") from exc


def _read(
    response: httpx.Response, url: str, max_bytes: int, deadline: float, max_retry_after_s: float
) -> FetchResult:
    status = response.status_code
    if status == 304:
        return FetchResult(url=url, status=304, etag=response.headers.get("etag"))
    if status in _RETRIABLE_STATUS:
        retry_after = parse_retry_after(response.headers.get("retry-after"), max_s=max_retry_after_s)
        raise RetriableError(f"HTTP {status} from {url}", retry_after=retry_after)
    if status >= 400:
        raise SkippableError(f"HTTP {status} from {url}")
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise SkippableError(
            f"feed too large: {url} declares {int(declared)} bytes, the limit is {max_bytes}"
        )
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise SkippableError(f"feed too large: {url} sent more than {max_bytes} bytes; cut off")
        if time.monotonic() > deadline:
            # a server trickling bytes never trips the per-read timeout; this does
            raise RetriableError(f"timed out fetching {url}: body not complete in time")
        chunks.append(chunk)
    return FetchResult(
        url=str(response.url),
        status=status,
        content=b"".join(chunks),
        content_type=response.headers.get("content-type"),
        etag=response.headers.get("etag"),
        last_modified=response.headers.get("last-modified"),
    )


def parse_retry_after(
    value: str | None, *, max_s: float | None = None, now: datetime | None = None
) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), at most ``max_s``.

    ``None`` for a missing, negative or unparseable value: the caller's own backoff applies.
    A date in the past is 0 (retry now).
    """
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit alone accepts "²", which float() rejects
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        try:
            seconds = max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)
        except OverflowError:
            return None
    # an absurd delta ("1" and 400 zeros) is a float infinity: capped like any other
    return seconds if max_s is None else min(seconds, max_s)
