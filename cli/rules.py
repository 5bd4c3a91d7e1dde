"""``parley rules ...``: routing rules from the command line (list, add, delete).

A rule's listening query is parsed before it is saved: one that does not parse is refused with
the position and what was expected, like the API's 400. Changes are in the audit log with the
actor ``cli:<os user>``. What rules do: ``crm.rules`` and ``flows.routing``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cli.agents import _audit
from hub.settings import Settings

if TYPE_CHECKING:
    from crm import CRMStore
    from crm.rules import RuleView

__all__ = ["describe_rule", "register"]

console = Console(stderr=True)
#: the CLI's spelling of the assignment modes
MODES = {"agent": "agent", "round-robin": "round_robin", "least-loaded": "least_loaded", "sticky": "sticky"}


def describe_rule(rule: RuleView, names: dict[str, str]) -> tuple[str, str]:
    """(when, then) of ``rule`` in words, with agent and team ids shown by ``names``."""
    cond = rule.condition
    parts = [f"query {cond.query!r}"] if cond.query else []
    for label in (
        "channels",
        "accounts",
        "languages",
        "intents",
        "sentiments",
        "priorities",
        "tags",
        "segments",
    ):
        if values := getattr(cond, label):
            parts.append(f"{label}: {', '.join(str(v) for v in values)}")
    acts = rule.actions
    then = [f"queue {acts.queue}"] if acts.queue else []
    if acts.priority:
        then.append(f"priority {acts.priority}")
    if acts.tags:
        then.append(f"tags {', '.join(acts.tags)}")
    if acts.assign is not None:
        chain = " else ".join(
            f"{spec.mode}" + (f" {names.get(t, t)}" if (t := spec.agent_id or spec.team_id) else "")
            for spec in acts.assign.chain()
        )
        then.append(f"assign {chain}")
    return " and ".join(parts) or "always", "; ".join(then)


def register(app: typer.Typer, load_settings: Callable[[], Settings]) -> None:
    """Add the ``rules`` command group to ``app``."""
    rules_app = typer.Typer(help="Routing rules: queue, priority, tags and assignment.", no_args_is_help=True)
    app.add_typer(rules_app, name="rules")

    def run(work: Callable[[CRMStore], None]) -> None:
        from crm import open_crm
        from crm.errors import CRMError
        from kb.query import QuerySyntaxError

        crm = open_crm(load_settings())
        try:
            work(crm)
        except QuerySyntaxError as exc:
            console.print(
                f"[bold red]error:[/] the query does not parse: {exc}; fix it and add the rule again"
            )
            raise typer.Exit(code=1) from exc
        except CRMError as exc:
            console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(code=1) from exc
        finally:
            crm.close()

    @rules_app.command("list")
    def list_rules() -> None:
        """Every rule in evaluation order."""

        def work(crm: CRMStore) -> None:
            names = {a.id: a.email for a in crm.agents.list_all()} | {
                t.id: t.name for t in crm.teams.list_all()
            }
            table = Table(title="routing rules (in order)")
            for column in ("#", "name", "when", "then", "on", "id"):
                table.add_column(column, overflow="fold")
            for rule in crm.rules.list_all():
                when, then = describe_rule(rule, names)
                on = ("yes" if rule.enabled else "no") + (", stop" if rule.stop else "")
                table.add_row(str(rule.position), rule.name, when, then, on, rule.id)
            Console().print(table)

        run(work)

    @rules_app.command("add")
    def add(
        name: str,
        query: Annotated[str, typer.Option(help='listening query, e.g. "channel:email refund"')] = "",
        channel: Annotated[list[str] | None, typer.Option("--channel", "-c", help="repeat")] = None,
        language: Annotated[list[str] | None, typer.Option("--language", "-l", help="repeat")] = None,
        queue: Annotated[str | None, typer.Option(help="set this queue")] = None,
        priority: Annotated[str | None, typer.Option(help="low, normal, high or urgent")] = None,
        tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="add this tag; repeat")] = None,
        assign: Annotated[str | None, typer.Option(help="agent, round-robin, least-loaded or sticky")] = None,
        team: Annotated[str | None, typer.Option(help="team name or id (round-robin, least-loaded)")] = None,
        agent: Annotated[str | None, typer.Option(help="agent email (assign agent)")] = None,
        fallback: Annotated[
            str | None, typer.Option(help="round-robin or least-loaded in --team when nobody fits")
        ] = None,
        stop: Annotated[bool, typer.Option(help="a match ends the evaluation")] = False,
    ) -> None:
        """Add a rule at the end of the list."""

        def work(crm: CRMStore) -> None:
            from kb.query import parse_query

            parse_query(query)
            actions: dict[str, Any] = {"queue": queue, "priority": priority, "tags": tag or []}
            if assign is not None:
                actions["assign"] = _assignment(crm, assign, team, agent, fallback)
            rule = crm.rules.create(
                name=name,
                condition={"query": query, "channels": channel or [], "languages": language or []},
                actions={k: v for k, v in actions.items() if v is not None},
                stop=stop,
            )
            _audit(crm, "rule.create", "rule", rule.id, after=rule.model_dump(mode="json"))
            console.print(f"added rule {rule.name} ({rule.id}) at position {rule.position}")

        run(work)

    @rules_app.command("delete")
    def delete(rule_id: str) -> None:
        """Delete a rule by id (see parley rules list)."""

        def work(crm: CRMStore) -> None:
            crm.rules.delete(rule_id)
            _audit(crm, "rule.delete", "rule", rule_id)
            console.print(f"deleted rule {rule_id}")

        run(work)


def _assignment(
    crm: CRMStore, mode: str, team: str | None, agent: str | None, fallback: str | None
) -> dict[str, Any]:
    from crm.errors import InvalidRequest

    if mode not in MODES or (fallback is not None and fallback not in ("round-robin", "least-loaded")):
        raise InvalidRequest(f"--assign is one of {', '.join(MODES)}; --fallback round-robin or least-loaded")
    team_id = None
    if team is not None:
        found = crm.teams.get(team) or crm.teams.by_name(team)
        if found is None:
            raise InvalidRequest(f"no team {team!r} (see parley teams list)")
        team_id = found.id
    agent_id = None
    if agent is not None:
        who = crm.agents.by_email(agent)
        if who is None:
            raise InvalidRequest(f"no agent with email {agent!r} (see parley agents list)")
        agent_id = who.id
    spec: dict[str, Any] = {"mode": MODES[mode], "team_id": team_id, "agent_id": agent_id}
    if fallback is not None:
        spec["fallback"] = {"mode": MODES[fallback], "team_id": team_id}
    return {k: v for k, v in spec.items() if v is not None}
