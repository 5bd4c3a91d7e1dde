"""Schemathesis against the app's own OpenAPI schema, in process (ASGI): no input may yield a
5xx, and every answer must be one the schema documents (status, content type, headers, body).

Each operation is a test of its own, called with generated input, valid and invalid
(schemathesis' positive and negative modes), in three phases: the schema's examples, the
coverage phase's boundary values (a string one character too long, an offset one past its
maximum), then :data:`FUZZ_EXAMPLES` random cases: about 100 to 300 calls per operation over some 100
operations, a few minutes per CRM backend on two slow cores (the random phase was halved when
the operations doubled, to keep the suite's time). Generation is derandomized
(the same cases every run) and remembers nothing between runs (no example database), so a
failure here is reproducible with this file alone.

Each operation runs against a fresh app over a temporary data directory holding some data
(the KB tests' conversations, three people, a static and a dynamic segment), with the CRM on
SQLite and, when ``PARLEY_TEST_POSTGRES_URL`` is set, on PostgreSQL; path parameters are
often the ids of that data, so operations reach their stores rather than only answering 404.
Feed URLs are resolved by a fake resolver: no test sends a DNS query.

The schema is loaded when the module is collected (``schemathesis.pytest.from_fixture`` would
load it from a fixture, but its lazy loader breaks on pytest 9), so the app it calls is a
stand-in forwarding to the app of the running test.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.types import Receive, Scope, Send

from api.app import create_app
from api.routes.feeds import address_policy
from api.routes.outbound_webhooks import webhook_address_policy
from channels.feeds.addresses import AddressPolicy
from hub.settings import Settings
from tests.api.callers import bearer
from tests.api.people import add_people
from tests.conftest import TEST_HOST
from tests.kb.docs import CONVERSATIONS

pytestmark = pytest.mark.slow

#: random cases per operation in the fuzzing phase (the coverage phase adds its own)
FUZZ_EXAMPLES = 75
#: an address the fake resolver gives every host: public, so feeds may be added
PUBLIC_ADDRESS = "93.184.215.14"


class AppUnderTest:
    """The ASGI app schemathesis calls: it forwards to the app the ``app_under_test`` fixture
    created for the running test. (Schemathesis needs an app when the module is collected; the
    app with its stores and data belongs to one test.) Its lifespan does nothing: the fixtures
    open and close the real app's stores."""

    def __init__(self) -> None:
        self.app: FastAPI | None = None
        #: path parameter name -> ids that exist in the running test's stores
        self.known_ids: dict[str, list[str]] = {}
        #: the credentials of the admin every case calls as (the auth matrix is tested elsewhere)
        self.headers: dict[str, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        assert self.app is not None, "the test did not ask for app_under_test"
        await self.app(scope, receive, send)


def _openapi() -> dict[str, Any]:
    """The app's schema, from an app over a throwaway data directory."""
    with tempfile.TemporaryDirectory() as data_dir:
        app = create_app(Settings(data_dir=Path(data_dir), demo=False))
        try:
            return app.openapi()
        finally:
            app.state.kb.close()
            app.state.crm.close()


#: what every answer is checked for: no 5xx; a status, content type, headers and body the
#: schema documents for the operation
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

APP = AppUnderTest()
schema = schemathesis.openapi.from_dict(_openapi())
schema.app = APP
schema.config.generation.update(max_examples=FUZZ_EXAMPLES, deterministic=True, database="none")


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
    # Half the time an id that exists, so the operation reaches the store behind it.
    if not isinstance(path_parameters, dict):  # no path parameters, or a negative case's
        return st.just(path_parameters)
    return st.fixed_dictionaries(
        {
            name: st.sampled_from([value, *APP.known_ids.get(name, [])])
            for name, value in path_parameters.items()
        }
    )


def _resolve_publicly(host: str, timeout_s: float) -> Sequence[str]:
    return [PUBLIC_ADDRESS]


@pytest.fixture
def api_settings(crm_settings: Settings) -> Settings:
    """The CRM on SQLite and, when ``PARLEY_TEST_POSTGRES_URL`` is set, on PostgreSQL."""
    return crm_settings


@pytest.fixture
def app_under_test(app: FastAPI, kb_documents: None, admin: tuple[object, str]) -> Iterator[None]:
    """The test's app, with some data, standing behind :data:`APP`."""
    people = add_people(app)
    segments = app.state.crm.segments
    static = segments.create("Fuzzed static", "static")
    segments.add_members(static.id, list(people.values()))
    dynamic = segments.create("Fuzzed dynamic", "dynamic", criteria="channel:twitter OR tag:vip")
    app.dependency_overrides[address_policy] = lambda: AddressPolicy(
        allow_private=False, timeout_s=1.0, resolve=_resolve_publicly
    )
    app.dependency_overrides[webhook_address_policy] = lambda: AddressPolicy(
        allow_private=False, timeout_s=1.0, resolve=_resolve_publicly
    )
    subscription = app.state.crm.outbound_webhooks.create(
        url="https://hooks.example.com/parley", event_types=None, start_after=0
    )
    APP.app = app
    APP.headers = bearer(admin[1])
    APP.known_ids = {
        "contact_id": list(people.values()),
        "segment_id": [static.id, dynamic.id],
        "conversation_id": [conversation.id for conversation in CONVERSATIONS],
        "subscription_id": [subscription.id],
    }
    try:
        yield
    finally:
        APP.app, APP.known_ids, APP.headers = None, {}, {}


@schema.parametrize()
@pytest.mark.usefixtures("app_under_test")
def test_no_input_yields_a_5xx_or_an_undocumented_answer(case: Any) -> None:
    case.call_and_validate(checks=CHECKS, headers={**APP.headers, "Host": TEST_HOST})
