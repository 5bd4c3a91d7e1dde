"""The one place that speaks to the X API: tweepy's ``Client``, pointed at a base URL, and its
failures translated into the hub's error families.

``tweepy.Client`` (4.x) sends every request to ``https://api.twitter.com``; it has no base-URL
argument. :class:`XClient` is a ``tweepy.Client`` whose ``session`` (the ``requests.Session``
tweepy sends through) rewrites that host to ``api_base_url`` and puts a timeout on every
request, so X-compatible servers and the tests' local server are reached by the real client.
It returns the raw ``requests.Response`` (``return_type``): the channel parses the JSON itself
(the same parsers webhook payloads go through) and reads the rate-limit headers.

:func:`call` runs one request and translates what goes wrong, here and nowhere else:

======================================  ==========================================================
what happened                           raised
======================================  ==========================================================
429, or ``x-rate-limit-remaining: 0``   ``RateLimited`` (a ``RetriableError``) whose ``retry_after``
                                        reaches ``x-rate-limit-reset`` (on a 200 the page is kept:
                                        ``RateLimit.exhausted`` says to wait before the next)
5xx, timeouts, dropped connections      ``RetriableError``
401                                     ``FatalError`` (credentials wrong: every call will fail)
400, 403, 404, other 4xx                ``SkippableError`` with X's own explanation
======================================  ==========================================================

tweepy's ``wait_on_rate_limit`` is off on purpose: it sleeps in the calling thread, and the
channel's callers (a Bytewax source, the reply dispatcher) decide how to wait themselves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
import tweepy

from channels.twitter.settings import DEFAULT_API_BASE_URL, TwitterSettings, XAccount
from hub.errors import FatalError, RetriableError, SkippableError

__all__ = [
    "DM_EXPANSIONS",
    "DM_FIELDS",
    "EXPANSIONS",
    "MEDIA_FIELDS",
    "PLACE_FIELDS",
    "TWEET_FIELDS",
    "USER_FIELDS",
    "RateLimit",
    "RateLimited",
    "XClient",
    "call",
    "reader_for",
    "writer_for",
]

log = logging.getLogger(__name__)

#: what every tweet request asks for, so the parser has authors, threads, media and places
TWEET_FIELDS = [
    "author_id", "conversation_id", "created_at", "entities", "geo", "in_reply_to_user_id",
    "lang", "note_tweet", "public_metrics", "referenced_tweets", "attachments", "edit_history_tweet_ids",
]  # fmt: skip
USER_FIELDS = ["name", "username", "verified", "public_metrics"]
EXPANSIONS = ["author_id", "referenced_tweets.id", "attachments.media_keys", "geo.place_id"]
MEDIA_FIELDS = ["type", "url", "preview_image_url"]
PLACE_FIELDS = ["full_name", "country_code"]
DM_FIELDS = [
    "id", "text", "event_type", "created_at", "dm_conversation_id", "sender_id",
    "participant_ids", "referenced_tweets", "attachments", "entities",
]  # fmt: skip
DM_EXPANSIONS = ["sender_id", "participant_ids", "attachments.media_keys"]


class _RebasedSession(requests.Session):
    """A session sending tweepy's requests to ``base_url`` instead of X's host, with a timeout."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if url.startswith(DEFAULT_API_BASE_URL):
            url = self.base_url + url[len(DEFAULT_API_BASE_URL) :]
        kwargs.setdefault("timeout", self.timeout_s)
        return super().request(method, url, *args, **kwargs)


class XClient(tweepy.Client):
    """A ``tweepy.Client`` against ``base_url`` that returns raw ``requests.Response`` objects.

    ``user_auth`` says whether calls should sign with OAuth 1.0a user context (the four
    OAuth 1.0a credentials are given) or send ``bearer_token`` (the app's token, or an OAuth 2.0
    user token).
    """

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_API_BASE_URL,
        timeout_s: float = 30.0,
        bearer_token: str | None = None,
        oauth1: tuple[str, str, str, str] | None = None,
    ) -> None:
        consumer_key, consumer_secret, access_token, access_secret = oauth1 or (None, None, None, None)
        super().__init__(
            bearer_token=bearer_token or None,
            consumer_key=consumer_key,
            consumer_secret=consumer_secret,
            access_token=access_token,
            access_token_secret=access_secret,
            return_type=requests.Response,
            wait_on_rate_limit=False,
        )
        self.session = _RebasedSession(base_url, timeout_s)
        self.user_auth = oauth1 is not None


def reader_for(settings: TwitterSettings, account: XAccount, *, user_context: bool = False) -> XClient | None:
    """A client for reads: the app's bearer token, else the account's user context (DM reads
    need user context: ``user_context=True``). ``None`` when nothing fits."""
    if not user_context and settings.bearer_token.get_secret_value():
        return XClient(
            base_url=settings.api_base_url,
            timeout_s=settings.timeout_s,
            bearer_token=settings.bearer_token.get_secret_value(),
        )
    return writer_for(settings, account)


def writer_for(settings: TwitterSettings, account: XAccount) -> XClient | None:
    """A client with ``account``'s user context (OAuth 1.0a, else OAuth 2.0 user token), or
    ``None`` when the account has neither."""
    oauth1 = settings.oauth1(account)
    if oauth1 is not None:
        return XClient(base_url=settings.api_base_url, timeout_s=settings.timeout_s, oauth1=oauth1)
    token = settings.oauth2_user(account)
    if token:
        return XClient(base_url=settings.api_base_url, timeout_s=settings.timeout_s, bearer_token=token)
    return None


class RateLimited(RetriableError):
    """X said to wait: ``retry_after`` seconds until ``x-rate-limit-reset``."""


@dataclass(frozen=True)
class RateLimit:
    """The rate-limit headers of a response (``None`` where X sent none)."""

    remaining: int | None = None
    reset_at: float | None = None

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> RateLimit:
        def number(name: str) -> int | None:
            value = headers.get(name)
            return int(value) if value is not None and value.strip().isdigit() else None

        return cls(number("x-rate-limit-remaining"), number("x-rate-limit-reset"))

    @property
    def exhausted(self) -> bool:
        return self.remaining == 0 and self.reset_at is not None

    def wait_s(self, now: float, margin_s: float = 1.0) -> float:
        """Seconds from ``now`` until the window resets (plus ``margin_s``); 60 when X did not
        say when."""
        return max(self.reset_at - now, 0.0) + margin_s if self.reset_at is not None else 60.0


def _explain(exc: tweepy.HTTPException) -> str:
    messages = list(getattr(exc, "api_messages", []) or []) or list(getattr(exc, "api_errors", []) or [])
    status = exc.response.status_code if exc.response is not None else "?"
    return f"{status} {'; '.join(str(m) for m in messages) or exc.response.reason}"


def call(
    what: str,
    request: Callable[[], requests.Response],
    *,
    margin_s: float = 1.0,
    clock: Callable[[], float] = time.time,
) -> tuple[Any, RateLimit]:
    """Run ``request`` (one tweepy call); return (the JSON body, its rate-limit headers).

    Raises the hub's errors as the module doc's table says. A 2xx body that is not JSON (a
    proxy's HTML page) is a ``RetriableError``: the next try may reach X.
    """
    try:
        response = request()
    except tweepy.TooManyRequests as exc:
        limit = RateLimit.of(exc.response.headers)
        wait = limit.wait_s(clock(), margin_s)
        raise RateLimited(f"{what}: rate limited (429) for {wait:.0f}s", retry_after=wait) from exc
    except tweepy.TwitterServerError as exc:
        raise RetriableError(f"{what}: X is unavailable ({_explain(exc)})") from exc
    except tweepy.Unauthorized as exc:
        raise FatalError(f"{what}: X refused the credentials ({_explain(exc)}); check the tokens") from exc
    except tweepy.HTTPException as exc:
        raise SkippableError(f"{what}: refused by X ({_explain(exc)})") from exc
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise RetriableError(f"{what}: {type(exc).__name__}: {exc}") from exc
    except tweepy.TweepyException as exc:
        raise RetriableError(f"{what}: {exc}") from exc
    limit = RateLimit.of(response.headers)
    if not response.content:
        return {}, limit
    try:
        return response.json(), limit
    except ValueError as exc:
        raise RetriableError(f"{what}: the answer is not JSON ({response.status_code})") from exc
