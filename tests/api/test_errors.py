"""The API's one error edge (``api.errors``): each error family answers its status and shape.

A store method is made to raise, and the real app answers through a real route: what the
client sees is the mapping table of ``api.errors``, whatever route the error came from.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from api.errors import INTERNAL_ERROR
from channels.feeds.registry import FeedAlreadyPolled, FeedInSettings, RegisteredFeed, UnknownFeed
from channels.feeds.settings import FeedConfig
from crm import Conflict, InvalidRequest, NotFound
from hub.errors import FatalError, InvalidInput, ParleyError, RetriableError
from hub.models import Message
from tests.api.people import add_people


def _validation_error() -> ValidationError:
    """What reading a corrupt stored document raises (also a ``ValueError``)."""
    try:
        Message.model_validate_json('{"id": "msg_x"}')
    except ValidationError as exc:
        return exc
    raise AssertionError("a message without its fields validated")


POLLED = RegisteredFeed.of(FeedConfig(url="https://a.test/rss"), "api")

#: (raised, status, body) - the table in api/errors.py's docstring
ANSWERS: list[tuple[Exception, int, Any]] = [
    (
        InvalidInput("unexpected ')'", position=7, expected=["a word"]),
        400,
        {"detail": {"message": "unexpected ')'", "position": 7, "expected": ["a word"]}},
    ),
    (InvalidInput("invalid cursor"), 400, {"detail": {"message": "invalid cursor"}}),
    (
        InvalidInput("pick one", expected=["a", "b"]),
        400,
        {"detail": {"message": "pick one", "expected": ["a", "b"]}},
    ),
    (
        InvalidRequest("cannot merge a contact into itself"),
        400,
        {"detail": "cannot merge a contact into itself"},
    ),
    (NotFound("no contact con_x"), 404, {"detail": "no contact con_x"}),
    (UnknownFeed("feed_x"), 404, {"detail": "no feed feed_x"}),
    (Conflict("con_x was merged into con_y"), 409, {"detail": "con_x was merged into con_y"}),
    (FeedAlreadyPolled(POLLED), 409, {"detail": f"already polled: https://a.test/rss ({POLLED.id})"}),
    (
        FeedInSettings("feed_x"),
        409,
        {"detail": "feed_x is configured in settings (feeds.feeds); remove it there"},
    ),
    (RetriableError("database is locked"), 503, {"detail": "database is locked"}),
    (FatalError("the KB file is damaged: restore it"), 503, {"detail": "the KB file is damaged: restore it"}),
    (_validation_error(), 500, {"detail": INTERNAL_ERROR}),
    (sqlite3.DatabaseError("database disk image is malformed"), 500, {"detail": INTERNAL_ERROR}),
    (ParleyError("Elasticsearch rejected a request"), 500, {"detail": INTERNAL_ERROR}),
    (ValueError("a bug of ours"), 500, {"detail": INTERNAL_ERROR}),
    (KeyError("a bug of ours"), 500, {"detail": INTERNAL_ERROR}),
]


def _raise(exc: Exception) -> Any:
    def store_method(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return store_method


@pytest.mark.parametrize(
    ("raised", "status", "body"), ANSWERS, ids=[f"{type(e).__name__}-{s}" for e, s, _ in ANSWERS]
)
async def test_each_error_family_answers_its_status_and_shape(
    app: FastAPI,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    raised: Exception,
    status: int,
    body: Any,
) -> None:
    monkeypatch.setattr(app.state.kb, "search_messages", _raise(raised))
    response = await client.get("/search", params={"q": "refund"})
    assert (response.status_code, response.json()) == (status, body)


async def test_a_retriable_error_says_when_to_retry(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.state.crm, "search_contacts", _raise(RetriableError("locked")))
    assert (await client.get("/contacts")).headers["retry-after"] == "1"
    monkeypatch.setattr(app.state.crm, "search_contacts", _raise(RetriableError("429", retry_after=2.5)))
    assert (await client.get("/contacts")).headers["retry-after"] == "3"


async def test_an_unexpected_error_is_logged_with_the_path_and_not_shown(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "SELECT doc FROM message_docs WHERE rowid = 42"
    monkeypatch.setattr(app.state.kb, "search_conversations", _raise(sqlite3.OperationalError(secret)))
    with caplog.at_level(logging.ERROR, logger="api.errors"):
        response = await client.get("/conversations")
    assert response.status_code == 500 and secret not in response.text
    (record,) = [r for r in caplog.records if r.name == "api.errors"]
    assert "GET /conversations" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], sqlite3.OperationalError)


async def test_fastapi_answers_are_untouched(client: httpx.AsyncClient) -> None:
    invalid = await client.get("/search", params={"limit": 5000})
    assert invalid.status_code == 422
    (error,) = invalid.json()["detail"]  # the documented list of validation errors
    assert error["loc"] == ["query", "limit"] and error["type"] and error["msg"]
    missing = await client.get("/conversations/cnv_missing")
    assert (missing.status_code, missing.json()) == (404, {"detail": "no conversation cnv_missing"})


async def test_a_stream_failing_half_way_is_not_answered_twice(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    segment = (await client.post("/segments", json={"name": "Everyone", "kind": "static"})).json()

    def rows_then_fault(segment_id: str) -> Iterator[list[str]]:
        yield ["contact_id"]
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(app.state.crm.segments, "export_rows", rows_then_fault)
    # The 200 and the header row are sent: no status is left to answer with, so the fault
    # propagates and the server drops the connection (the client sees a broken response).
    with pytest.raises(sqlite3.OperationalError):
        await client.get(f"/segments/{segment['id']}/export.csv")


async def test_a_422_names_the_problem_without_echoing_the_input(client: httpx.AsyncClient) -> None:
    response = await client.post("/segments", json={"name": "x" * 100_000, "kind": "static"})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error == {
        "loc": ["body", "name"],
        "msg": "String should have at most 256 characters",
        "type": "string_too_long",
        "ctx": {"max_length": 256},
    }
    assert len(response.content) < 300, "a 100 KB name is not sent back"


@pytest.mark.usefixtures("kb_documents")
async def test_every_422_is_the_documented_list(app: FastAPI, client: httpx.AsyncClient) -> None:
    # These were 422s whose detail was a string (an HTTPException), unlike every other 422.
    conversation = (await client.get("/conversations", params={"limit": 1})).json()["items"][0]
    ann = add_people(app)["ann"]
    cases = [
        (f"/contacts/{ann}", {}, "nothing to change"),
        (f"/conversations/{conversation['id']}", {}, "nothing to change"),
        (
            f"/conversations/{conversation['id']}",
            {"status": None, "tags": None},
            "status, tags cannot be null",
        ),
    ]
    for url, body, message in cases:
        response = await client.patch(url, json=body)
        assert response.status_code == 422
        (error,) = response.json()["detail"]
        assert error["loc"] == ["body"] and message in error["msg"] and error["type"] == "value_error"
