"""The /feeds resource: list, add and remove polled feeds at runtime.

Feeds added here are written to the runtime registry (``<data_dir>/feeds.json``), which the
running poller re-reads, so they start flowing without a restart. Feeds configured in
settings are listed too (``origin: "settings"``) but changed only where they are configured.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from api.deps import SettingsDep
from channels.feeds.registry import FeedRegistry, RegisteredFeed, registry_path
from channels.feeds.registry import feed_id as id_for_url
from hub.settings import FeedConfig, Settings
from kb.query import QuerySyntaxError, parse_query

router = APIRouter(tags=["feeds"])


class FeedList(BaseModel):
    items: list[RegisteredFeed]


class NewFeed(BaseModel):
    """A feed to poll: its URL, and optionally a name (the account), a query and an interval."""

    url: str = Field(min_length=1, max_length=2048)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    query: str | None = Field(default=None, max_length=4096, description="KB query language")
    poll_interval_s: float = Field(default=900.0, ge=30.0, le=7 * 24 * 3600.0)


def _all_feeds(settings: Settings) -> list[RegisteredFeed]:
    configured = [RegisteredFeed.of(config, "settings") for config in settings.feeds.feeds]
    known = {feed.id for feed in configured}
    added = [feed for feed in FeedRegistry(registry_path(settings)).feeds() if feed.id not in known]
    return configured + added


@router.get("/feeds")
def list_feeds(settings: SettingsDep) -> FeedList:
    """Every polled feed: configured in settings first, then those added through the API."""
    return FeedList(items=_all_feeds(settings))


@router.post("/feeds", status_code=status.HTTP_201_CREATED)
def add_feed(body: NewFeed, settings: SettingsDep) -> RegisteredFeed:
    """Start polling a feed; 400 for a bad URL or query, 409 when the URL is already polled."""
    url = body.url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"url must be an http(s) URL, got {url!r}")
    query = body.query.strip() if body.query else None
    if query:
        try:
            parse_query(query)
        except QuerySyntaxError as exc:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                detail={
                    "message": f"invalid query: {exc}",
                    "position": exc.position,
                    "expected": exc.expected,
                },
            ) from exc
    if any(feed.id == id_for_url(url) for feed in _all_feeds(settings)):
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"already polled: {url} ({id_for_url(url)})")
    config = FeedConfig(url=url, name=body.name, query=query, poll_interval_s=body.poll_interval_s)
    try:
        return FeedRegistry(registry_path(settings)).add(config)
    except KeyError as exc:  # added concurrently by another request
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=f"already polled: {url} ({exc.args[0]})"
        ) from exc


@router.delete("/feeds/{feed_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_feed(feed_id: str, settings: SettingsDep) -> None:
    """Stop polling a feed added through the API; 409 for feeds configured in settings."""
    if any(feed.id == feed_id for feed in _all_feeds(settings) if feed.origin == "settings"):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=f"{feed_id} is configured in settings (feeds.feeds); remove it there",
        )
    if not FeedRegistry(registry_path(settings)).remove(feed_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no feed {feed_id}")
