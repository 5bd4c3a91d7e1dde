"""The /feeds resource: list, add and remove polled feeds at runtime.

HTTP only: the feed list, its checks (URL policy, duplicates) and its storage are
``channels.feeds.registry``'s, and the API's error edge (:mod:`api.errors`) answers its errors
(409 already polled or configured in settings, 404 unknown). Two translations belong here: a
refused or unresolvable URL is the request's fault (400), although to the poller an
unresolvable host is a passing failure; and a query error says it is about the query, since
the body carries a URL too. The query is validated with the KB's query language here because
channels do not depend on the KB.

Feeds added here are written to the runtime registry (``<data_dir>/feeds.json``), which the
running poller re-reads, so they start flowing without a restart. Feeds configured in
settings are listed too (``origin: "settings"``) but changed only where they are configured.

Viewers list feeds; adding and removing them is an admin's (``feed.add``, ``feed.remove`` in
the audit log).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field

from api.deps import AdminDep, AuditDep, SettingsDep, require_viewer
from api.errors import error_responses
from api.fields import RequestBody
from channels.feeds import registry
from channels.feeds.addresses import AddressPolicy, RefusedFeedURL, UnresolvableHost
from channels.feeds.registry import RegisteredFeed
from channels.feeds.settings import FeedConfig
from hub.errors import InvalidInput
from kb.query import parse_query

router = APIRouter(
    tags=["feeds"], responses=error_responses(400, 404, 409, 413, 503), dependencies=[Depends(require_viewer)]
)


class FeedList(BaseModel):
    items: list[RegisteredFeed]


class NewFeed(RequestBody):
    """A feed to poll: its URL, and optionally a name (the account), a query and an interval."""

    url: str = Field(min_length=1, max_length=2048)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    query: str | None = Field(default=None, max_length=4096, description="KB query language")
    poll_interval_s: float = Field(default=900.0, ge=30.0, le=7 * 24 * 3600.0)


def address_policy(settings: SettingsDep) -> AddressPolicy:
    """Which addresses a new feed may reach (a dependency, so tests can fake DNS)."""
    return registry.address_policy(settings)


AddressPolicyDep = Annotated[AddressPolicy, Depends(address_policy)]


@router.get("/feeds")
def list_feeds(settings: SettingsDep) -> FeedList:
    """Every polled feed: configured in settings first, then those added through the API."""
    return FeedList(items=registry.list_all(settings))


@router.post("/feeds", status_code=status.HTTP_201_CREATED)
def add_feed(
    body: NewFeed, settings: SettingsDep, policy: AddressPolicyDep, _: AdminDep, audit: AuditDep
) -> RegisteredFeed:
    """Start polling a feed; 400 for a bad or internal URL or a bad query, 409 when already polled."""
    config = FeedConfig(url=body.url, name=body.name, query=body.query, poll_interval_s=body.poll_interval_s)
    try:
        feed = registry.add_checked(settings, config, validate_query=_validate_query, policy=policy)
    except (RefusedFeedURL, UnresolvableHost) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc
    audit.record("feed.add", "feed", feed.id, after=body.model_dump())
    return feed


def _validate_query(query: str) -> None:
    """Parse ``query``; its error (an ``InvalidInput``, answered 400) says it is the query's."""
    try:
        parse_query(query)
    except InvalidInput as exc:
        raise InvalidInput(f"invalid query: {exc}", position=exc.position, expected=exc.expected) from exc


@router.delete("/feeds/{feed_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_feed(feed_id: str, settings: SettingsDep, _: AdminDep, audit: AuditDep) -> None:
    """Stop polling a feed added through the API; 409 for feeds configured in settings."""
    before = next((feed for feed in registry.list_all(settings) if feed.id == feed_id), None)
    registry.remove(settings, feed_id)
    audit.record("feed.remove", "feed", feed_id, before=before)
