"""A running flow keeps the rules and the team set-up it read for ``routing.refresh_s``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm import CRMStore, open_crm
from flows.routing import Router
from hub.models import Direction, Identity, Message
from hub.settings import RoutingSettings, Settings
from kb import KnowledgeBase, open_kb


@pytest.fixture
def stores(crm_settings: Settings) -> Iterator[tuple[CRMStore, KnowledgeBase]]:
    crm, kb = open_crm(crm_settings), open_kb(crm_settings)
    yield crm, kb
    kb.close()
    crm.close()


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _mail(n: int) -> Message:
    author = Identity(channel="email", native_id=f"customer{n}@example.org")
    message = Message(
        channel="email", account="support", native_id=f"m{n}", author=author, text="Where is my order?"
    )
    return message.model_copy(update={"conversation_id": f"conv_{n}", "direction": Direction.IN})


def _route(router: Router, n: int) -> str | None:
    """Routes a new conversation of one new mail; its assignee."""
    mail = _mail(n)
    changed = router.route([mail], {}, {mail.id}, {})
    (state,) = [s for s in changed if s.conversation_id == mail.conversation_id]
    return state.assignee


def _team(crm: CRMStore) -> tuple[str, str, str]:
    ann = crm.agents.create(name="Ann", email="ann@parley.test", availability="online").id
    bob = crm.agents.create(name="Bob", email="bob@parley.test", availability="online").id
    team = crm.teams.create("Support", member_ids=[ann]).id
    crm.rules.create(name="all", condition={}, actions={"assign": {"mode": "round_robin", "team_id": team}})
    return ann, bob, team


def test_team_changes_reach_the_flow_after_refresh_s(
    stores: tuple[CRMStore, KnowledgeBase],
) -> None:
    crm, kb = stores
    clock = _Clock()
    ann, bob, team = _team(crm)
    router = Router(crm, kb, RoutingSettings(refresh_s=5.0), clock=clock)
    assert _route(router, 1) == ann

    crm.teams.add_member(team, bob)
    crm.agents.update(ann, availability="away")
    clock.now += 4.0  # within refresh_s: the team as read, Ann still in it and online
    assert _route(router, 2) == ann
    clock.now += 1.0  # refresh_s has passed: Bob joined, Ann is away
    assert _route(router, 3) == bob


def test_rule_changes_reach_the_flow_after_refresh_s(
    stores: tuple[CRMStore, KnowledgeBase],
) -> None:
    crm, kb = stores
    clock = _Clock()
    ann, bob, _ = _team(crm)
    router = Router(crm, kb, RoutingSettings(refresh_s=5.0), clock=clock)
    assert _route(router, 1) == ann
    crm.rules.create(
        name="bob first", condition={}, actions={"assign": {"mode": "agent", "agent_id": bob}}, position=1
    )
    clock.now += 1.0
    assert _route(router, 2) == ann
    clock.now += 5.0
    assert _route(router, 3) == bob


def test_with_refresh_s_zero_every_batch_reads_them(stores: tuple[CRMStore, KnowledgeBase]) -> None:
    crm, kb = stores
    ann, bob, team = _team(crm)
    router = Router(crm, kb, RoutingSettings(refresh_s=0))
    assert _route(router, 1) == ann
    crm.agents.update(ann, disabled=True)
    crm.teams.add_member(team, bob)
    assert _route(router, 2) == bob


def test_capacity_is_read_in_every_batch_whatever_refresh_s(stores: tuple[CRMStore, KnowledgeBase]) -> None:
    crm, kb = stores
    ann = crm.agents.create(name="Ann", email="ann@parley.test", availability="online", capacity=2).id
    team = crm.teams.create("Support", member_ids=[ann]).id
    crm.rules.create(name="all", condition={}, actions={"assign": {"mode": "round_robin", "team_id": team}})
    router = Router(crm, kb, RoutingSettings(refresh_s=3600), clock=_Clock())  # time stands still
    assert [_route(router, n) for n in range(4)] == [ann, ann, None, None]  # the rest wait
