"""Agents and teams in the CRM store, on SQLite and PostgreSQL: one agent per email whatever its
case, the last admin kept, disabling revokes credentials, the first admin created once, teams
with unique names and set-like membership, and migration 0004 matching the declared tables."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import select

from crm import ROLES, CRMStore, role_at_least
from crm.engine import _alembic_config
from crm.errors import Conflict, InvalidRequest, NotFound
from crm.schema import agents

DAY = timedelta(days=1)


def test_an_agent_has_languages_channels_capacity_and_availability(store: CRMStore) -> None:
    agent = store.agents.create(
        name=" Sam ",
        email="Sam@Example.org",
        role="supervisor",
        languages=["EN", "fr", "en"],
        channels=["email", "Twitter"],
        capacity=4,
        availability="online",
    )
    assert (agent.name, agent.email, agent.role, agent.capacity, agent.availability) == (
        "Sam",
        "Sam@Example.org",
        "supervisor",
        4,
        "online",
    )
    assert agent.languages == ["en", "fr"] and agent.channels == ["email", "twitter"]
    assert not agent.disabled and not agent.has_password
    assert store.agents.get(agent.id) == agent
    assert store.agents.by_email("sam@EXAMPLE.org") == agent
    assert store.agents.by_email("nobody@example.org") is None
    assert store.agents.by_email("not an email") is None
    assert [a.id for a in store.agents.list_all()] == [agent.id]
    assert "password_hash" not in agent.model_dump()


def test_one_agent_per_email_whatever_its_case(store: CRMStore) -> None:
    store.agents.create(name="Sam", email="sam@example.org")
    with pytest.raises(Conflict):
        store.agents.create(name="Other Sam", email="SAM@example.org")
    assert store.agents.count() == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"email": "no-at-sign"},
        {"email": "two@@example.org"},
        {"email": "sp ace@example.org"},
        {"name": "  "},
        {"role": "owner"},
        {"availability": "busy"},
        {"capacity": -1},
        {"languages": [""]},
        {"password": "short"},
    ],
)
def test_bad_agents_are_refused(store: CRMStore, fields: dict[str, object]) -> None:
    values: dict[str, object] = {"name": "Sam", "email": "sam@example.org"} | fields
    with pytest.raises(InvalidRequest):
        store.agents.create(**values)  # type: ignore[arg-type]
    assert store.agents.count() == 0


def test_roles_rank_viewer_agent_supervisor_admin() -> None:
    assert ROLES == ("viewer", "agent", "supervisor", "admin")
    assert role_at_least("admin", "viewer") and role_at_least("agent", "agent")
    assert not role_at_least("agent", "supervisor") and not role_at_least("owner", "viewer")


def test_updates_and_availability_changes_are_timed(store: CRMStore) -> None:
    agent = store.agents.create(name="Sam", email="sam@example.org")
    changed = store.agents.update(agent.id, capacity=2, languages=["de"], availability="online")
    assert (changed.capacity, changed.languages, changed.availability) == (2, ["de"], "online")
    assert changed.availability_at > agent.availability_at
    same = store.agents.update(agent.id, availability="online", name="Samuel")
    assert same.availability_at == changed.availability_at and same.name == "Samuel"
    with pytest.raises(NotFound):
        store.agents.update("agt_missing", name="x")


def test_the_last_enabled_admin_cannot_be_demoted_or_disabled(store: CRMStore) -> None:
    first = store.agents.create(name="A", email="a@example.org", role="admin")
    with pytest.raises(Conflict):
        store.agents.update(first.id, role="supervisor")
    with pytest.raises(Conflict):
        store.agents.update(first.id, disabled=True)
    second = store.agents.create(name="B", email="b@example.org", role="admin")
    assert store.agents.update(first.id, disabled=True).disabled
    with pytest.raises(Conflict):
        store.agents.update(second.id, role="viewer")


def test_disabling_revokes_every_credential_and_enabling_restores_none(store: CRMStore) -> None:
    agent = store.agents.create(name="Sam", email="sam@example.org", password="correct horse battery")
    token = store.credentials.create_token(agent.id, name="t", ttl=DAY)
    session = store.credentials.start_session(agent.id, ttl=DAY)
    link = store.credentials.create_sign_in_link(agent.id, ttl=DAY)
    store.agents.update(agent.id, disabled=True)
    assert store.credentials.authenticate_token(token.token) is None
    assert store.credentials.authenticate_session(session.session_id) is None
    assert store.credentials.check_sign_in("sam@example.org", "correct horse battery") is None
    store.agents.update(agent.id, disabled=False)
    assert store.credentials.authenticate_token(token.token) is None
    assert store.credentials.authenticate_session(session.session_id) is None
    assert store.credentials.redeem_sign_in_link(link.token, session_ttl=DAY) is None
    assert store.credentials.list_tokens(agent.id) == []
    # the password is the agent's own: it works again once they are enabled
    assert store.credentials.check_sign_in("sam@example.org", "correct horse battery") is not None


def test_passwords_are_stored_as_argon2_hashes(store: CRMStore) -> None:
    agent = store.agents.create(name="Sam", email="sam@example.org")
    assert store.agents.set_password(agent.id, "correct horse battery").has_password
    with store.engine.connect() as conn:
        stored = conn.execute(select(agents.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    with pytest.raises(InvalidRequest):
        store.agents.set_password(agent.id, "too short")
    assert not store.agents.set_password(agent.id, None).has_password


def test_the_first_admin_is_created_once_even_by_racing_writers(store: CRMStore) -> None:
    results: list[object] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        results.append(store.agents.ensure_first_admin(name="Admin", email="admin@localhost"))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    created = [r for r in results if r is not None]
    assert len(created) == 1 and store.agents.count() == 1
    assert store.agents.list_all()[0].role == "admin"
    assert store.agents.ensure_first_admin(name="Admin", email="other@localhost") is None


def test_teams_have_unique_names_and_set_like_members(store: CRMStore) -> None:
    ann = store.agents.create(name="Ann", email="ann@example.org")
    bob = store.agents.create(name="Bob", email="bob@example.org")
    team = store.teams.create("Billing", description="money", member_ids=[bob.id, ann.id, bob.id])
    assert team.member_ids == sorted([ann.id, bob.id]) and team.description == "money"
    with pytest.raises(Conflict):
        store.teams.create(" Billing ")
    with pytest.raises(NotFound):
        store.teams.create("Ghosts", member_ids=["agt_missing"])
    assert store.teams.by_name("Ghosts") is None

    assert store.teams.add_member(team.id, ann.id) == (False, store.teams.get(team.id))
    removed, after = store.teams.remove_member(team.id, ann.id)
    assert removed and after.member_ids == [bob.id]
    assert store.teams.remove_member(team.id, ann.id)[0] is False
    support = store.teams.create("Support", member_ids=[bob.id])
    assert [t.name for t in store.teams.of_agent(bob.id)] == ["Billing", "Support"]
    with pytest.raises(Conflict):
        store.teams.update(support.id, name="Billing")
    assert store.teams.update(support.id, name="Care").name == "Care"

    store.teams.delete(team.id)
    assert store.teams.get(team.id) is None and store.agents.get(bob.id) is not None
    assert [t.name for t in store.teams.list_all()] == ["Care"]
    with pytest.raises(NotFound):
        store.teams.delete(team.id)
    with pytest.raises(NotFound):
        store.teams.add_member(team.id, bob.id)


def test_migration_0004_downgrades_and_upgrades(store: CRMStore) -> None:
    store.agents.create(name="Sam", email="sam@example.org")
    with store.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0002")
    with store.engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "head")
    assert store.agents.count() == 0
    assert store.agents.create(name="Sam", email="sam@example.org").email == "sam@example.org"
