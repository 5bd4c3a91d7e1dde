"""``parley agents ...`` and ``parley teams ...``: the team from the command line; the first admin.

Secrets a command makes (a sign-in link, an API token) go to standard output, alone on their
line, so ``TOKEN=$(parley agents token admin@localhost)`` works; everything else goes to
standard error. Changes made here are in the audit log with the actor ``cli:<os user>``.

:func:`bootstrap_first_admin` is what keeps a fresh ``make run`` a two-command start: on an
empty agents table, ``parley run`` / ``parley serve`` create the first admin
(``auth.first_admin_email``) and print a one-time sign-in link, never a default password.
"""

from __future__ import annotations

import getpass
import logging
import re
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.console import Console
from rich.table import Table

from hub.settings import Settings

if TYPE_CHECKING:  # the stores and the API load on use: `parley --help` stays quick
    from crm import Availability, CRMStore, Role

#: the roles, lowest first (crm.agents.ROLES; repeated here so --help loads no store)
ROLES = ("viewer", "agent", "supervisor", "admin")

__all__ = ["RedactSignInLinks", "bootstrap_first_admin", "register"]

console = Console(stderr=True)

_LINK_PATH = re.compile(r"(/auth/one-time/)[^\s?\"]+")


class RedactSignInLinks(logging.Filter):
    """Keeps one-time sign-in tokens out of the server's access log (they are in the path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _LINK_PATH.sub(r"\1<redacted>", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def _cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "cli"


def _audit(crm: CRMStore, action: str, target_type: str, target_id: str, **change: Any) -> None:
    crm.audit.append(
        actor_id=None,
        actor=_cli_actor(),
        via="cli",
        action=action,
        target_type=target_type,
        target_id=target_id,
        **change,
    )


def _link(crm: CRMStore, settings: Settings, agent_id: str) -> str:
    from api.hosts import public_url
    from api.routes.agents import sign_in_url

    ttl = timedelta(hours=settings.auth.sign_in_link_ttl_hours)
    return sign_in_url(public_url(settings), crm.credentials.create_sign_in_link(agent_id, ttl=ttl).token)


def bootstrap_first_admin(crm: CRMStore, settings: Settings) -> str | None:
    """When there is no agent at all: create the first admin and return a one-time sign-in URL
    for them (valid ``auth.sign_in_link_ttl_hours``, once); ``None`` when agents exist."""
    admin = crm.agents.ensure_first_admin(
        name=settings.auth.first_admin_name, email=settings.auth.first_admin_email
    )
    if admin is None:
        return None
    crm.audit.append(
        actor_id=None,
        actor="system",
        via="system",
        action="agent.create",
        target_type="agent",
        target_id=admin.id,
        after={"email": admin.email, "role": admin.role, "first_admin": True},
    )
    return _link(crm, settings, admin.id)


def register(app: typer.Typer, load_settings: Callable[[], Settings]) -> None:
    """Add the ``agents`` and ``teams`` command groups to ``app``."""
    agents_app = typer.Typer(help="Agents: the people who work the inbox.", no_args_is_help=True)
    teams_app = typer.Typer(help="Teams (queues) of agents.", no_args_is_help=True)
    app.add_typer(agents_app, name="agents")
    app.add_typer(teams_app, name="teams")

    def run(work: Callable[[CRMStore, Settings], None]) -> None:
        from crm import open_crm
        from crm.errors import CRMError

        settings = load_settings()
        crm = open_crm(settings)
        try:
            work(crm, settings)
        except CRMError as exc:
            console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(code=1) from exc
        finally:
            crm.close()

    def agent_id(crm: CRMStore, email: str) -> str:
        agent = crm.agents.by_email(email)
        if agent is None:
            console.print(f"[bold red]error:[/] no agent with email {email!r} (see parley agents list)")
            raise typer.Exit(code=1)
        return agent.id

    @agents_app.command("add")
    def add(
        email: str,
        name: Annotated[
            str | None, typer.Option(help="shown name (the email's local part by default)")
        ] = None,
        role: Annotated[str, typer.Option(help="viewer, agent, supervisor or admin")] = "agent",
        language: Annotated[
            list[str] | None, typer.Option("--language", "-l", help="ISO 639-1; repeat")
        ] = None,
        channel: Annotated[
            list[str] | None, typer.Option("--channel", "-c", help="a channel; repeat")
        ] = None,
        capacity: Annotated[int, typer.Option(help="open conversations at once")] = 10,
        password: Annotated[bool, typer.Option("--password", help="prompt for a password")] = False,
        token: Annotated[bool, typer.Option("--token", help="also print an API token")] = False,
    ) -> None:
        """Add an agent; prints a one-time sign-in link (and an API token with --token)."""
        if role not in ROLES:
            console.print(f"[bold red]error:[/] unknown role {role!r}; roles: {', '.join(ROLES)}")
            raise typer.Exit(code=2)
        secret = typer.prompt("password", hide_input=True, confirmation_prompt=True) if password else None

        def work(crm: CRMStore, settings: Settings) -> None:
            agent = crm.agents.create(
                name=name or email.split("@", 1)[0],
                email=email,
                role=cast("Role", role),
                languages=language or [],
                channels=channel or [],
                capacity=capacity,
                password=secret,
            )
            _audit(crm, "agent.create", "agent", agent.id, after={"email": agent.email, "role": agent.role})
            console.print(f"added {agent.role} {agent.email} ({agent.id}); sign-in link, once, within 24 h:")
            typer.echo(_link(crm, settings, agent.id))
            if token:
                new = crm.credentials.create_token(
                    agent.id, name="cli", ttl=timedelta(days=settings.auth.token_ttl_days)
                )
                console.print(f"API token (shown once; expires {new.view.expires_at:%Y-%m-%d}):")
                typer.echo(new.token)

        run(work)

    @agents_app.command("availability")
    def availability(
        email: str, state: Annotated[str, typer.Argument(help="online, away or offline")]
    ) -> None:
        """Set an agent's availability; coming online takes conversations waiting for an agent."""

        def work(crm: CRMStore, settings: Settings) -> None:
            from api.triage import assign_waiting
            from kb import open_kb

            who = agent_id(crm, email)
            before = crm.agents.get(who)
            after = crm.agents.update(who, availability=cast("Availability", state))
            _audit(
                crm,
                "agent.availability",
                "agent",
                who,
                before={"availability": before and before.availability},
                after={"availability": state},
            )
            assigned = 0
            if state == "online":
                kb = open_kb(settings)
                try:
                    assigned = assign_waiting(crm, kb)
                finally:
                    kb.close()
            console.print(f"{after.email} is {after.availability}; {assigned} waiting conversations assigned")

        run(work)

    @agents_app.command("list")
    def list_agents() -> None:
        """Every agent with role, languages, channels, capacity and availability."""

        def work(crm: CRMStore, settings: Settings) -> None:
            table = Table(title="agents")
            for column in (
                "email",
                "name",
                "role",
                "languages",
                "channels",
                "capacity",
                "availability",
                "id",
            ):
                table.add_column(column, overflow="fold")
            for agent in crm.agents.list_all():
                table.add_row(
                    agent.email + (" (disabled)" if agent.disabled else ""),
                    agent.name,
                    agent.role,
                    ",".join(agent.languages) or "-",
                    ",".join(agent.channels) or "-",
                    str(agent.capacity),
                    agent.availability,
                    agent.id,
                )
            Console().print(table)

        run(work)

    @agents_app.command("disable")
    def disable(email: str) -> None:
        """Disable an agent: their tokens, sessions and sign-in links stop working at once, and
        the conversations assigned to them go back to the unassigned inbox."""

        def work(crm: CRMStore, settings: Settings) -> None:
            from api.triage import release_agent
            from kb import open_kb

            agent = crm.agents.update(agent_id(crm, email), disabled=True)
            _audit(crm, "agent.disable", "agent", agent.id, after={"disabled": True})
            kb = open_kb(settings)
            try:
                released = release_agent(crm, kb, agent.id, actor_id=None)
            finally:
                kb.close()
            note = f"; {released} of their conversations unassigned" if released else ""
            console.print(f"disabled {agent.email}{note}")

        run(work)

    @agents_app.command("link")
    def link(email: str) -> None:
        """Print a new one-time sign-in link for an agent (a lost first-admin link, say)."""

        def work(crm: CRMStore, settings: Settings) -> None:
            target = agent_id(crm, email)
            _audit(crm, "agent.sign_in_link", "agent", target)
            typer.echo(_link(crm, settings, target))

        run(work)

    @agents_app.command("token")
    def token_(
        email: str,
        days: Annotated[int | None, typer.Option(help="days until it expires (auth.token_ttl_days)")] = None,
        name: Annotated[str, typer.Option(help="what the token is for")] = "cli",
    ) -> None:
        """Print a new API token for an agent (``Authorization: Bearer <token>``)."""

        def work(crm: CRMStore, settings: Settings) -> None:
            ttl = timedelta(days=min(days or settings.auth.token_ttl_days, settings.auth.token_max_days))
            new = crm.credentials.create_token(agent_id(crm, email), name=name, ttl=ttl)
            _audit(
                crm, "token.create", "token", new.view.id, after={"agent_id": new.view.agent_id, "name": name}
            )
            typer.echo(new.token)

        run(work)

    @agents_app.command("password")
    def password_(email: str) -> None:
        """Set an agent's password (prompted) for signing in to the console."""
        secret = typer.prompt("new password", hide_input=True, confirmation_prompt=True)

        def work(crm: CRMStore, settings: Settings) -> None:
            target = agent_id(crm, email)
            crm.agents.set_password(target, secret)
            _audit(crm, "agent.password", "agent", target, after={"password": "set"})
            console.print(f"password set for {email}")

        run(work)

    _register_teams(teams_app, run, agent_id)


def _register_teams(
    teams_app: typer.Typer,
    run: Callable[[Callable[[CRMStore, Settings], None]], None],
    agent_id: Callable[[CRMStore, str], str],
) -> None:
    def team_id(crm: CRMStore, name_or_id: str) -> str:
        team = crm.teams.get(name_or_id) or crm.teams.by_name(name_or_id)
        if team is None:
            console.print(f"[bold red]error:[/] no team {name_or_id!r} (see parley teams list)")
            raise typer.Exit(code=1)
        return team.id

    @teams_app.command("add")
    def add(name: str, description: Annotated[str | None, typer.Option()] = None) -> None:
        """Add a team."""

        def work(crm: CRMStore, settings: Settings) -> None:
            team = crm.teams.create(name, description=description)
            _audit(crm, "team.create", "team", team.id, after={"name": team.name})
            console.print(f"added team {team.name} ({team.id})")

        run(work)

    @teams_app.command("list")
    def list_teams() -> None:
        """Every team with its members' emails."""

        def work(crm: CRMStore, settings: Settings) -> None:
            emails = {agent.id: agent.email for agent in crm.agents.list_all()}
            table = Table(title="teams")
            for column in ("name", "members", "id"):
                table.add_column(column, overflow="fold")
            for team in crm.teams.list_all():
                members = ", ".join(emails.get(member, member) for member in team.member_ids) or "-"
                table.add_row(team.name, members, team.id)
            Console().print(table)

        run(work)

    @teams_app.command("add-member")
    def add_member(team: str, email: str) -> None:
        """Add an agent (by email) to a team (by name or id)."""

        def work(crm: CRMStore, settings: Settings) -> None:
            target = team_id(crm, team)
            added, _ = crm.teams.add_member(target, agent_id(crm, email))
            if added:
                _audit(crm, "team.add_member", "team", target, after={"email": email})
            console.print(f"{email} {'added to' if added else 'was already in'} {team}")

        run(work)

    @teams_app.command("remove-member")
    def remove_member(team: str, email: str) -> None:
        """Remove an agent (by email) from a team (by name or id)."""

        def work(crm: CRMStore, settings: Settings) -> None:
            target = team_id(crm, team)
            removed, _ = crm.teams.remove_member(target, agent_id(crm, email))
            if removed:
                _audit(crm, "team.remove_member", "team", target, before={"email": email})
            console.print(f"{email} {'removed from' if removed else 'was not in'} {team}")

        run(work)
