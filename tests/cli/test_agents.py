"""`parley agents ...`, `parley teams ...` and the first admin, run the way a user runs them: a
fresh `parley serve` creates the first admin and prints a one-time sign-in link that works once."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cli.agents import ROLES as CLI_ROLES
from cli.agents import RedactSignInLinks, bootstrap_first_admin
from cli.main import app
from crm import ROLES, CRMStore, open_crm
from hub.settings import Settings
from kb import open_kb
from tests.conftest import free_ports


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    # wide enough that rich's tables wrap no email
    data = str(tmp_path / "data")
    return {"PARLEY_DATA_DIR": data, "PARLEY_DEMO": "false", "PARLEY_LOG_LEVEL": "ERROR", "COLUMNS": "250"}


def _parley(env: dict[str, str], *args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env, input=input)
    return result.exit_code, result.stdout, result.stderr


def _store(env: dict[str, str]) -> CRMStore:
    return open_crm(Settings(data_dir=Path(env["PARLEY_DATA_DIR"]), demo=False))


def test_the_cli_knows_the_stores_roles() -> None:
    assert CLI_ROLES == ROLES


def test_agents_add_prints_a_sign_in_link_and_a_token_that_work(env: dict[str, str]) -> None:
    code, out, err = _parley(
        env,
        "agents",
        "add",
        "Kim@Example.org",
        "--role",
        "supervisor",
        "-l",
        "en",
        "-l",
        "de",
        "-c",
        "email",
        "--token",
    )
    assert code == 0, err
    link, token = out.split()
    assert link.startswith("http://127.0.0.1:8000/auth/one-time/parley_otl_") and token.startswith(
        "parley_pat_"
    )
    assert "added supervisor Kim@Example.org" in err
    crm = _store(env)
    try:
        kim = crm.agents.by_email("kim@example.org")
        assert kim is not None and (kim.name, kim.languages, kim.channels) == ("Kim", ["en", "de"], ["email"])
        caller = crm.credentials.authenticate_token(token)
        assert caller is not None and caller.agent.id == kim.id
        session = crm.credentials.redeem_sign_in_link(link.rsplit("/", 1)[1], session_ttl=timedelta(hours=1))
        assert session is not None and session.agent.id == kim.id
        assert crm.audit.read()[0].actor.startswith("cli")
    finally:
        crm.close()

    again = _parley(env, "agents", "add", "kim@example.org")
    assert again[0] == 1 and "already exists" in again[2]
    assert _parley(env, "agents", "add", "x@example.org", "--role", "owner")[0] == 2


def test_agents_list_disable_link_token_and_password(env: dict[str, str]) -> None:
    _parley(env, "agents", "add", "ann@example.org", "--name", "Ann")
    _parley(env, "agents", "add", "root@example.org", "--role", "admin")
    code, out, _ = _parley(
        env, "agents", "password", "ann@example.org", input="correct horse battery\ncorrect horse battery\n"
    )
    assert code == 0
    code, out, _ = _parley(env, "agents", "list")
    assert code == 0 and "ann@example.org" in out and "root@example.org" in out and "argon2" not in out
    code, token, _ = _parley(env, "agents", "token", "ann@example.org", "--days", "2")
    assert code == 0 and token.strip().startswith("parley_pat_")
    code, link, _ = _parley(env, "agents", "link", "ann@example.org")
    assert code == 0 and "/auth/one-time/" in link
    crm = _store(env)
    try:
        assert crm.credentials.check_sign_in("ann@example.org", "correct horse battery") is not None
    finally:
        crm.close()

    assert _parley(env, "agents", "disable", "ann@example.org")[0] == 0
    crm = _store(env)
    try:
        assert crm.credentials.authenticate_token(token.strip()) is None
    finally:
        crm.close()
    assert "(disabled)" in _parley(env, "agents", "list")[1]
    assert _parley(env, "agents", "disable", "root@example.org")[0] == 1  # the last admin stays
    missing = _parley(env, "agents", "link", "nobody@example.org")
    assert missing[0] == 1 and "no agent" in missing[2]


def test_disabling_an_agent_unassigns_their_conversations(env: dict[str, str]) -> None:
    fixtures = Path(__file__).parents[1] / "flows" / "fixtures" / "envelopes__threads.jsonl"
    assert _parley(env, "ingest", str(fixtures))[0] == 0
    _parley(env, "agents", "add", "ann@example.org")
    crm = _store(env)
    try:
        ann = crm.agents.by_email("ann@example.org")
        assert ann is not None
        created = crm.events.read(types=["conversation.created"], limit=2)
        conversations = [e.conversation_id for e in created if e.conversation_id]
        assert len(conversations) == 2
        for cid in conversations:
            crm.routing.update(cid, {"assignee": ann.id}, actor_id=None)
    finally:
        crm.close()
    code, out, err = _parley(env, "agents", "disable", "ann@example.org")
    assert code == 0 and "2 of their conversations unassigned" in out + err
    crm = _store(env)
    try:
        assert [s.assignee for s in crm.routing.get_many(conversations).values()] == [None, None]
    finally:
        crm.close()
    kb = open_kb(Settings(data_dir=Path(env["PARLEY_DATA_DIR"])))
    try:
        docs = kb.get_conversations(conversations)
        assert [d.assignee for d in docs.values()] == [None, None]  # the search projection too
    finally:
        kb.close()


def test_coming_online_takes_the_conversations_waiting_for_the_team(env: dict[str, str]) -> None:
    assert _parley(env, "agents", "add", "ann@example.org")[0] == 0  # offline until told
    assert _parley(env, "teams", "add", "Social")[0] == 0
    assert _parley(env, "teams", "add-member", "Social", "ann@example.org")[0] == 0
    rule = ("rules", "add", "tweets", "--query", "channel:twitter", "--assign", "round-robin")
    code, _, err = _parley(env, *rule, "--team", "Social")
    assert code == 0, err
    fixtures = Path(__file__).parents[1] / "flows" / "fixtures" / "envelopes__threads.jsonl"
    assert _parley(env, "ingest", str(fixtures))[0] == 0
    crm = _store(env)
    try:
        waiting = [s.conversation_id for s in crm.routing.waiting()]
        assert waiting  # nobody in the team was online when the tweets came
    finally:
        crm.close()

    code, out, err = _parley(env, "agents", "availability", "ann@example.org", "online")
    assert code == 0, err
    assert f"ann@example.org is online; {len(waiting)} waiting conversations assigned" in out + err

    crm = _store(env)
    try:
        ann = crm.agents.by_email("ann@example.org")
        assert ann is not None
        assert {s.assignee for s in crm.routing.get_many(waiting).values()} == {ann.id}
        assert crm.routing.waiting() == []
    finally:
        crm.close()
    kb = open_kb(Settings(data_dir=Path(env["PARLEY_DATA_DIR"])))
    try:
        assert {d.assignee for d in kb.get_conversations(waiting).values()} == {ann.id}  # projected
    finally:
        kb.close()


def test_teams_add_list_and_members(env: dict[str, str]) -> None:
    _parley(env, "agents", "add", "ann@example.org")
    _parley(env, "agents", "add", "bob@example.org")
    assert _parley(env, "teams", "add", "Billing", "--description", "money")[0] == 0
    assert _parley(env, "teams", "add", "Billing")[0] == 1
    for email in ("ann@example.org", "bob@example.org"):
        assert _parley(env, "teams", "add-member", "Billing", email)[0] == 0
    assert "was already in" in _parley(env, "teams", "add-member", "Billing", "ann@example.org")[2]
    assert _parley(env, "teams", "remove-member", "Billing", "bob@example.org")[0] == 0
    code, out, _ = _parley(env, "teams", "list")
    assert code == 0 and "Billing" in out and "ann@example.org" in out and "bob@example.org" not in out
    assert _parley(env, "teams", "add-member", "Nope", "ann@example.org")[0] == 1


def test_the_first_admin_is_made_once_with_a_link(settings: Settings) -> None:
    crm = open_crm(settings)
    try:
        link = bootstrap_first_admin(crm, settings)
        assert link is not None and link.startswith("http://127.0.0.1:8000/auth/one-time/parley_otl_")
        assert bootstrap_first_admin(crm, settings) is None
        [admin] = crm.agents.list_all()
        assert (admin.email, admin.role, admin.has_password) == ("admin@localhost", "admin", False)
        [entry] = crm.audit.read()
        assert (entry.action, entry.actor, entry.target_id) == ("agent.create", "system", admin.id)
    finally:
        crm.close()


def test_sign_in_links_are_kept_out_of_the_access_log() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/auth/one-time/parley_otl_secret?x=1", "1.1", 303),
        None,
    )
    assert RedactSignInLinks().filter(record)
    assert (
        "parley_otl_secret" not in record.getMessage()
        and "/auth/one-time/<redacted>?x=1" in record.getMessage()
    )


def test_serving_on_every_interface_needs_the_public_name(env: dict[str, str]) -> None:
    code, out, err = _parley(env, "serve", "--host", "0.0.0.0", "--port", str(free_ports(1)[0]))
    assert code == 1 and "PARLEY_API__ALLOWED_HOSTS" in out + err


@pytest.fixture
def served(env: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
    """`parley serve` on a free port over a fresh data directory: its URL and its stdout lines."""
    port = free_ports(1)[0]
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--port", str(port)],
        env={**os.environ, **env, "PARLEY_LOG_LEVEL": "INFO"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            pytest.fail(f"parley serve did not start: {lines}")
        yield url, lines
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.slow
def test_a_fresh_serve_prints_a_one_time_link_for_the_first_admin(served: tuple[str, list[str]]) -> None:
    url, lines = served
    links = [line.strip() for line in lines if "/auth/one-time/" in line]
    assert links and links[0].startswith(f"{url}/auth/one-time/parley_otl_"), lines
    assert any("admin@localhost" in line for line in lines)
    assert not any("password:" in line.lower() for line in lines), "never a default password"
    assert httpx.get(f"{url}/conversations").status_code == 401
    with httpx.Client(base_url=url) as browser:
        first = browser.get(links[0].removeprefix(url))
        assert first.status_code == 303 and "parley_session" in browser.cookies
        me = browser.get("/auth/me").json()
        assert (me["agent"]["email"], me["agent"]["role"]) == ("admin@localhost", "admin")
        assert browser.get("/conversations").status_code == 200
    assert httpx.get(links[0]).status_code == 401  # once only
    time.sleep(0.5)
    assert not any("parley_otl_" in line for line in lines if "GET /auth/one-time" in line)
