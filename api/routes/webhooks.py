"""``GET|POST /webhooks/{channel}/{account}``: where platforms push events; the inbox keeps them.

Any channel whose descriptor has a ``webhook`` is served here; the channel package supplies
the verification and the body → envelopes step, this route the rest. There is no API
authentication on this route: the platform's signature, checked by the channel in constant
time, is the authentication, and nothing is stored before it verifies.

======================================================  ======================================
request                                                 answer
======================================================  ======================================
unknown channel, or a channel without a webhook         404, body not read
body over ``webhooks.max_body_bytes`` (default 1 MB)    413, nothing verified or stored
a verification challenge (``crc_token``, ``hub.*``)     the channel's answer (``challenge()``)
a forged challenge; a POST that does not verify         401, nothing stored
a GET that is not a challenge                           400
a verified POST                                         its envelopes committed to the inbox,
                                                        then 200 ``{"accepted": n}``
a verified POST of events the hub does not ingest       200 ``{"accepted": 0}``, nothing stored
(``UnsupportedEvent``)
a verified POST whose body can never be read            200 ``{"accepted": 0, "dead_letter":
(``MalformedPayload``, or the channel's code fails)     id}``, raw body kept as a dead letter
the store keeps conflicting (``RetriableError``)        503 with ``Retry-After``
======================================================  ======================================

Why 200 for a body that will never parse: platforms retry every non-2xx answer, for hours or
days, and some switch the subscription off after repeated failures. Retrying bytes that can
never be read helps nobody and puts the good events behind them at risk; the dead letter keeps
the raw body and the reason where people see them (API, console, CLI) and can replay it.

The envelopes are stored unparsed: the ingest flow's inbox source reads them and parses them
with the channel's parsers, so a burst accepted here survives a flow restart.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import CRMDep, SettingsDep
from channels import CHANNELS
from channels.base import Webhook, WebhookRefused, WebhookRequest, WebhookResponse
from hub.errors import MalformedPayload, RetriableError, SkippableError, UnsupportedEvent
from hub.models import DeadLetter
from hub.settings import Settings

if TYPE_CHECKING:
    from crm.store import CRMStore

router = APIRouter(tags=["webhooks"])

log = logging.getLogger("parley.api.webhooks")

#: seconds a platform is asked to wait before retrying when the store is busy
RETRY_AFTER_S = 5
PATH = "/webhooks/{channel}/{account}"
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "the challenge or the signature does not verify; nothing stored"},
    404: {"description": "no such channel, or it has no webhook"},
    413: {"description": "body larger than webhooks.max_body_bytes; nothing stored"},
    503: {"description": "the store is busy or down; retry after Retry-After seconds"},
}


def webhook_of(channel: str) -> Webhook | None:
    """The webhook of ``channel``'s descriptor, or ``None`` (unknown channel, or it only polls)."""
    descriptor = CHANNELS.get(channel)
    return descriptor.webhook if descriptor is not None else None


@router.get(PATH, responses=RESPONSES)
async def answer_challenge(
    channel: str, account: str, request: Request, settings: SettingsDep, crm: CRMDep
) -> Response:
    """Answer the platform's verification challenge (X's CRC, Facebook's hub.challenge)."""
    return await _receive(channel, account, request, settings, crm)


@router.post(PATH, responses=RESPONSES)
async def receive_push(
    channel: str, account: str, request: Request, settings: SettingsDep, crm: CRMDep
) -> Response:
    """Verify the platform's push and commit its envelopes to the inbox before answering 200."""
    return await _receive(channel, account, request, settings, crm)


async def _receive(
    channel: str, account: str, request: Request, settings: Settings, crm: CRMStore
) -> Response:
    webhook = webhook_of(channel)
    if webhook is None:
        raise HTTPException(status_code=404, detail=f"no webhook for channel {channel!r}")
    # capped at ``webhooks.max_body_bytes`` by the app's body limit (``api.limits``): 413 beyond
    body = await request.body()
    pushed = WebhookRequest(
        method=request.method,
        account=account,
        headers={name.lower(): value for name, value in request.headers.items()},
        query=dict(request.query_params),
        body=body,
    )
    # the channel's checks and the store are synchronous: keep them off the event loop
    return await run_in_threadpool(_handle, webhook, pushed, channel, settings, crm)


def _handle(
    webhook: Webhook, pushed: WebhookRequest, channel: str, settings: Settings, crm: CRMStore
) -> Response:
    try:
        answer = webhook.challenge(pushed, settings)
        if answer is not None:
            return _response(answer)
        if pushed.method != "POST":
            raise HTTPException(status_code=400, detail="a GET here must be the platform's challenge")
        webhook.verify(pushed, settings)
    except WebhookRefused as exc:
        log.warning("refused a %s webhook request for account %r: %s", channel, pushed.account, exc)
        raise HTTPException(status_code=401, detail="signature does not verify") from exc
    try:
        return _store(webhook, pushed, channel, crm)
    except RetriableError as exc:
        log.warning("%s webhook not stored, asking the platform to retry: %s", channel, exc)
        raise HTTPException(
            status_code=503, detail="busy, retry later", headers={"Retry-After": str(RETRY_AFTER_S)}
        ) from exc


def _store(webhook: Webhook, pushed: WebhookRequest, channel: str, crm: CRMStore) -> Response:
    """A verified body → inbox rows, or a dead letter when it can never be read."""
    try:
        envelopes = webhook.envelopes(pushed)
    except UnsupportedEvent as exc:
        log.debug("%s webhook event not ingested: %s", channel, exc)
        return JSONResponse({"accepted": 0})
    except SkippableError as exc:
        return _dead_letter(crm, pushed, channel, str(exc))
    except Exception as exc:  # the channel's code failed: keep the verified body, as the flow does
        log.exception("%s webhook could not turn a verified body into envelopes", channel)
        return _dead_letter(crm, pushed, channel, f"webhook error ({type(exc).__name__}): {exc}")
    try:
        ids = crm.add_inbox(envelopes)
    except MalformedPayload as exc:  # an envelope the inbox cannot encode (not JSON, not bytes)
        return _dead_letter(crm, pushed, channel, str(exc))
    # any other store failure propagates as a 5xx: the platform retries, nothing is lost
    return JSONResponse({"accepted": len(ids)})


def _dead_letter(crm: CRMStore, pushed: WebhookRequest, channel: str, reason: str) -> Response:
    letter = DeadLetter(
        stage="webhook",
        reason=reason,
        raw=pushed.body.decode("utf-8", "backslashreplace"),
        channel=channel,
        raw_ref=f"webhook:{channel}/{pushed.account}",
    )
    crm.add_dead_letters([letter])
    return JSONResponse({"accepted": 0, "dead_letter": letter.id})


def _response(answer: WebhookResponse) -> Response:
    content: Any = answer.body
    if isinstance(content, dict):
        return JSONResponse(content, status_code=answer.status, media_type=answer.media_type)
    return Response(content, status_code=answer.status, media_type=answer.media_type)
