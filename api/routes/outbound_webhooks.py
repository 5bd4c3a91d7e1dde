"""``/outbound-webhooks``: admins subscribe other systems to the event log, signed.

(``/webhooks/{channel}/{account}`` is the other direction: platforms pushing to the hub.)

HTTP only: subscriptions and their delivery log are ``crm.outbound_webhooks``'s, the sending is
``outbound.webhooks``' (the deliverer ``parley run`` starts, or ``parley webhooks deliver``).
A URL is vetted by the feeds' SSRF policy before it is saved (400 when it is not http(s) or
reaches an internal address, unless ``outbound_webhooks.allow_private_addresses``); the
deliverer vets it again on every attempt. The secret is in the answer to the ``POST`` that
creates a subscription, and nowhere after that (nor in the audit log).

``POST .../test`` queues a ``webhook.test`` message and answers 202 with its delivery: the
deliverer sends it once, enabled or not; read how it went at ``.../deliveries/{id}``.
``POST .../rotate-secret`` makes a new secret and answers it, once; for
``keep_previous_hours`` (24 by default) every attempt is signed with the old secret as well,
a second signature in ``webhook-signature`` (Standard Webhooks' rotation), so a receiver can
switch without refusing deliveries.
``POST .../enable`` re-enables a subscription disabled by failures or by an admin; events that
happened meanwhile are sent unless ``skip_missed``.

Every route is an admin's (``outbound_webhook.*`` in the audit log).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel, Field

from api.deps import CRM_ROUTES, MAX_ROW_ID, AuditDep, CRMDep, SettingsDep, require_admin
from api.errors import error_responses
from api.fields import MAX_TEXT_CHARS, RequestBody
from channels.feeds.addresses import AddressPolicy, RefusedFeedURL, UnresolvableHost
from crm.outbound_webhooks import CreatedSubscription, DeliveryState, DeliveryView, SubscriptionView

__all__ = ["router", "webhook_address_policy"]

PATH = "/outbound-webhooks"

router = APIRouter(
    tags=["outbound webhooks"],
    responses=error_responses(400, 404, 503),
    dependencies=[Depends(require_admin), *CRM_ROUTES],
)

EventTypes = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=64)]] | None,
    Field(
        max_length=100,
        description="event types (`conversation.assigned`) or families (`conversation.*`); null = every type",
    ),
]


def webhook_address_policy(settings: SettingsDep) -> AddressPolicy:
    """Which addresses a webhook URL may reach (a dependency, so tests can fake DNS)."""
    return AddressPolicy.for_outbound_webhooks(settings.outbound_webhooks)


PolicyDep = Annotated[AddressPolicy, Depends(webhook_address_policy)]


class SubscriptionList(BaseModel):
    items: list[SubscriptionView]


class NewSubscription(RequestBody):
    """Where to POST events and which ones."""

    url: str = Field(min_length=1, max_length=2048)
    event_types: EventTypes = None
    description: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)


class SubscriptionChanges(RequestBody):
    """Fields to change; those left out stay as they are."""

    url: str | None = Field(default=None, min_length=1, max_length=2048)
    event_types: EventTypes = None
    description: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)


class Enable(RequestBody):
    #: do not send the events that happened while the subscription was disabled
    skip_missed: bool = False


class Disable(RequestBody):
    reason: str = Field(default="disabled by an admin", min_length=1, max_length=500)


class RotateSecret(RequestBody):
    #: hours the old secret still signs deliveries (a second signature), so receivers can
    #: switch to the new one without refusing any; 0 stops it at once
    keep_previous_hours: float = Field(default=24.0, ge=0, le=7 * 24)


class DeliveryPage(BaseModel):
    items: list[DeliveryView]
    #: pass as ``before`` for the next (older) page; null at the end
    next_before: int | None


def _vetted(policy: AddressPolicy, url: str) -> str:
    try:
        policy.check_url(url.strip())
    except (RefusedFeedURL, UnresolvableHost) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc
    return url.strip()


def _public(view: SubscriptionView) -> SubscriptionView:
    return SubscriptionView(**{name: getattr(view, name) for name in SubscriptionView.model_fields})


@router.get(PATH)
def list_subscriptions(crm: CRMDep) -> SubscriptionList:
    """Every subscription, oldest first (never their secrets)."""
    return SubscriptionList(items=crm.outbound_webhooks.list_all())


@router.post(PATH, status_code=status.HTTP_201_CREATED)
def create_subscription(
    body: NewSubscription, crm: CRMDep, policy: PolicyDep, audit: AuditDep
) -> CreatedSubscription:
    """Subscribe a URL to events from now on; the answer holds the signing secret, once."""
    url = _vetted(policy, body.url)
    created = crm.outbound_webhooks.create(
        url=url,
        event_types=body.event_types,
        description=body.description,
        created_by=audit.caller.agent.id,
        start_after=crm.events.last_id(),
    )
    audit.record("outbound_webhook.create", "outbound_webhook", created.id, after=_public(created))
    return created


@router.get(PATH + "/{subscription_id}")
def get_subscription(subscription_id: str, crm: CRMDep) -> SubscriptionView:
    return crm.outbound_webhooks.get(subscription_id)


@router.patch(PATH + "/{subscription_id}")
def update_subscription(
    subscription_id: str, body: SubscriptionChanges, crm: CRMDep, policy: PolicyDep, audit: AuditDep
) -> SubscriptionView:
    """Change the URL (vetted again), the event types or the description."""
    before = crm.outbound_webhooks.get(subscription_id)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("url") is not None:
        changes["url"] = _vetted(policy, changes["url"])
    elif "url" in changes:
        del changes["url"]
    after = crm.outbound_webhooks.update(subscription_id, changes)
    audit.record("outbound_webhook.update", "outbound_webhook", subscription_id, before=before, after=after)
    return after


@router.delete(PATH + "/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_subscription(subscription_id: str, crm: CRMDep, audit: AuditDep) -> None:
    """Delete the subscription and its delivery log; nothing more is sent."""
    before = crm.outbound_webhooks.get(subscription_id)
    crm.outbound_webhooks.delete(subscription_id)
    audit.record("outbound_webhook.delete", "outbound_webhook", subscription_id, before=before)


@router.post(PATH + "/{subscription_id}/enable")
def enable_subscription(subscription_id: str, body: Enable, crm: CRMDep, audit: AuditDep) -> SubscriptionView:
    """Enable again, its failure count forgotten (``skip_missed``: from the log's end)."""
    before = crm.outbound_webhooks.get(subscription_id)
    skip_to = crm.events.last_id() if body.skip_missed else None
    after = crm.outbound_webhooks.enable(subscription_id, skip_to=skip_to)
    audit.record("outbound_webhook.enable", "outbound_webhook", subscription_id, before=before, after=after)
    return after


@router.post(PATH + "/{subscription_id}/disable")
def disable_subscription(
    subscription_id: str, body: Disable, crm: CRMDep, audit: AuditDep
) -> SubscriptionView:
    """Stop sending (pending deliveries wait, new events are not queued) until enabled."""
    before = crm.outbound_webhooks.get(subscription_id)
    after = crm.outbound_webhooks.disable(subscription_id, body.reason)
    audit.record("outbound_webhook.disable", "outbound_webhook", subscription_id, before=before, after=after)
    return after


@router.post(PATH + "/{subscription_id}/rotate-secret")
def rotate_secret(
    subscription_id: str, body: RotateSecret, crm: CRMDep, audit: AuditDep
) -> CreatedSubscription:
    """A new signing secret, shown in this answer only; deliveries carry the old secret's
    signature as well for ``keep_previous_hours``."""
    created = crm.outbound_webhooks.rotate_secret(subscription_id, timedelta(hours=body.keep_previous_hours))
    audit.record(
        "outbound_webhook.rotate_secret",
        "outbound_webhook",
        subscription_id,
        after={"keep_previous_hours": body.keep_previous_hours},
    )
    return created


@router.post(PATH + "/{subscription_id}/test", status_code=status.HTTP_202_ACCEPTED)
def send_test(subscription_id: str, crm: CRMDep, audit: AuditDep) -> DeliveryView:
    """Queue a signed ``webhook.test`` message; its delivery (poll it for the outcome)."""
    delivery = crm.outbound_webhooks.queue_test(subscription_id)
    audit.record(
        "outbound_webhook.test", "outbound_webhook", subscription_id, after={"delivery": delivery.id}
    )
    return delivery


@router.get(PATH + "/{subscription_id}/deliveries")
def list_deliveries(
    subscription_id: str,
    crm: CRMDep,
    before: int | None = Query(default=None, ge=1, le=MAX_ROW_ID, description="the last id already seen"),
    limit: int = Query(default=50, ge=1, le=500),
    state: DeliveryState | None = None,
) -> DeliveryPage:
    """The delivery log, newest first: state, attempts, the receiver's last status and answer."""
    items = crm.outbound_webhooks.deliveries(subscription_id, before=before, limit=limit, state=state)
    return DeliveryPage(items=items, next_before=items[-1].id if len(items) == limit else None)


@router.get(PATH + "/{subscription_id}/deliveries/{delivery_id}")
def get_delivery(
    subscription_id: str, crm: CRMDep, delivery_id: int = Path(ge=1, le=MAX_ROW_ID)
) -> DeliveryView:
    return crm.outbound_webhooks.delivery(subscription_id, delivery_id)
