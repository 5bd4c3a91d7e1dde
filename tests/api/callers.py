"""Agents of each role and their API tokens, for tests that call the API as someone.

The API tests' ``client`` fixture calls as an admin (:func:`add_agent` with ``"admin"``);
tests that need another role (or nobody) ask for ``as_role`` / ``anonymous``.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from crm import AgentView, Role

#: every role, lowest first
ROLE_ORDER: tuple[Role, ...] = ("viewer", "agent", "supervisor", "admin")


def add_agent(app: FastAPI, role: Role, *, email: str | None = None) -> tuple[AgentView, str]:
    """A new agent with ``role`` in the app's CRM store, and an API token of theirs."""
    crm = app.state.crm
    agent = crm.agents.create(name=f"{role.title()} Tester", email=email or f"{role}@parley.test", role=role)
    token: str = crm.credentials.create_token(agent.id, name="tests", ttl=timedelta(days=1)).token
    return agent, token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
