"""The feeds' SSRF policy guards webhook URLs at delivery time too, DNS rebinding included.

As in ``tests/channels/feeds/test_rebinding.py``: a stand-in for a public receiver listens on
127.0.0.2 (the test policy treats that one address as public) and an "internal" receiver on
127.0.0.1, on the same port. The URL's host is ``localhost``; the policy's resolver answers
the stand-in first and 127.0.0.1 after that. The URL is saved through the API (vetted: the
stand-in), then the deliverer resolves again and must refuse, sending nothing anywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from api.app import create_app
from api.routes.outbound_webhooks import webhook_address_policy
from channels.feeds.addresses import AddressPolicy
from crm import CRMStore
from hub.settings import OutboundWebhookSettings, Settings
from outbound.webhooks import WebhookDeliverer
from tests.api.callers import add_agent, bearer
from tests.channels.feeds.test_rebinding import STAND_IN, Rebinding, StandInLooksPublic, _can_bind
from tests.outbound.webhooks.receiver import Receiver, receiving

DEPLOYED = OutboundWebhookSettings(timeout_s=2.0)  # internal addresses refused


@contextmanager
def public_and_internal() -> Iterator[tuple[Receiver, Receiver, int]]:
    """The stand-in receiver and the internal one, listening on the same port."""
    if not _can_bind(STAND_IN):
        pytest.skip(f"cannot listen on {STAND_IN} (only 127.0.0.1 on this loopback)")
    with ExitStack() as stack:
        for _ in range(20):
            public = stack.enter_context(receiving(host=STAND_IN))
            port = int(public.url.rsplit(":", 1)[1].split("/")[0])
            try:
                internal = stack.enter_context(receiving(port=port))
            except OSError:
                continue
            yield public, internal, port
            return
        pytest.fail("no port free on both loopback addresses")


def save_through_the_api(settings: Settings, policy: AddressPolicy, url: str) -> tuple[int, dict[str, str]]:
    """POST /outbound-webhooks as an admin, the URL vetted by ``policy``: (status, body)."""
    app = create_app(settings)
    app.dependency_overrides[webhook_address_policy] = lambda: policy
    try:
        _, token = add_agent(app, "admin")
        transport = httpx.ASGITransport(app=app)

        async def post() -> httpx.Response:
            async with httpx.AsyncClient(transport=transport, base_url="http://parley.test") as client:
                return await client.post("/outbound-webhooks", json={"url": url}, headers=bearer(token))

        answer = asyncio.run(post())
        return answer.status_code, answer.json()
    finally:
        app.state.kb.close()
        app.state.crm.close()


def test_a_url_rebound_to_an_internal_address_is_refused_at_delivery(
    store: CRMStore, crm_settings: Settings
) -> None:
    with public_and_internal() as (public, internal, port):
        policy = StandInLooksPublic.for_outbound_webhooks(DEPLOYED, resolve=Rebinding())
        status, created = save_through_the_api(crm_settings, policy, f"http://localhost:{port}/hook")
        assert status == 201, created  # the first answer was the (public) stand-in
        store.events.append("conversation.assigned", conversation_id="c-1")
        with WebhookDeliverer(store, DEPLOYED, policy=policy) as deliverer:
            deliverer.run_once()
        assert public.requests == [] and internal.requests == []
        sub = store.outbound_webhooks.get(created["id"])
        assert not sub.enabled
        assert sub.disabled_reason is not None
        assert "refused at delivery" in sub.disabled_reason and "127.0.0.1 (loopback" in sub.disabled_reason
        assert "outbound_webhooks.allow_private_addresses" in sub.disabled_reason
        [delivery] = store.outbound_webhooks.deliveries(created["id"])
        assert delivery.state == "pending" and delivery.last_status is None  # sent if re-enabled


def test_the_vetted_address_receives_with_the_host_name(store: CRMStore) -> None:
    with public_and_internal() as (public, internal, port):
        policy = StandInLooksPublic.for_outbound_webhooks(
            DEPLOYED, resolve=lambda host, timeout_s: [STAND_IN]
        )
        sub = store.outbound_webhooks.create(
            url=f"http://localhost:{port}/hook", event_types=None, start_after=store.events.last_id()
        )
        store.events.append("conversation.assigned", conversation_id="c-1")
        with WebhookDeliverer(store, DEPLOYED, policy=policy) as deliverer:
            deliverer.run_once()
        [request] = public.requests
        assert internal.requests == []
        assert request.headers["host"] == f"localhost:{port}"
        Webhook(sub.secret).verify(request.body, request.headers)


def test_an_internal_url_stored_earlier_is_refused_by_the_deployed_policy(store: CRMStore) -> None:
    """A URL saved while internal addresses were allowed (or written to the database by
    hand) is still refused on every attempt once they are not."""
    with receiving() as receiver:
        sub = store.outbound_webhooks.create(url=receiver.url, event_types=None, start_after=0)
        store.events.append("conversation.assigned", conversation_id="c-1")
        with WebhookDeliverer(store, DEPLOYED) as deliverer:
            deliverer.run_once()
            assert deliverer.stats.disabled == 1
        assert receiver.requests == []
        assert "127.0.0.1 (loopback address)" in (store.outbound_webhooks.get(sub.id).disabled_reason or "")
        # a test message is refused the same way, and recorded as failed
        test = store.outbound_webhooks.queue_test(sub.id)
        with WebhookDeliverer(store, DEPLOYED) as deliverer:
            deliverer.run_once()
        failed = store.outbound_webhooks.delivery(sub.id, test.id)
        assert failed.state == "failed" and "loopback" in (failed.last_error or "")
        assert receiver.requests == []
