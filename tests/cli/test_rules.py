"""`parley rules ...` run the way a user runs them, and the README's story: two agents in a
team, a round-robin rule for `channel:email`, a file of mail spread over the two."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from crm import open_crm
from hub.settings import Settings
from kb import open_kb
from tests.flows.test_routing_flow import write_mbox


def _parley(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_the_story_two_agents_a_round_robin_rule_and_a_file_of_mail(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {
        "PARLEY_DATA_DIR": str(data),
        "PARLEY_DEMO": "false",
        "PARLEY_LOG_LEVEL": "ERROR",
        "PARLEY_ENRICHMENT__NER": "false",
        "COLUMNS": "250",
    }
    for email in ("ann@example.org", "bob@example.org"):
        assert _parley(env, "agents", "add", email, "--channel", "email", "--language", "en")[0] == 0
        assert _parley(env, "agents", "availability", email, "online")[0] == 0
    code, _, err = _parley(env, "teams", "add", "Support")
    assert code == 0, err
    for email in ("ann@example.org", "bob@example.org"):
        assert _parley(env, "teams", "add-member", "Support", email)[0] == 0

    code, _, err = _parley(
        env,
        "rules",
        "add",
        "mail",
        "--query",
        "channel:email (",
        "--assign",
        "round-robin",
        "--team",
        "Support",
    )
    assert code == 1 and "does not parse" in err
    code, _, err = _parley(env, "rules", "add", "mail", "--query", "channel:email", "--assign", "round-robin")
    assert code == 1 and "team_id" in err  # round robin needs a team
    code, _, err = _parley(
        env,
        "rules",
        "add",
        "mail",
        "--query",
        "channel:email",
        "--queue",
        "support",
        "--assign",
        "round-robin",
        "--team",
        "Support",
    )
    assert code == 0, err
    code, out, _ = _parley(env, "rules", "list")
    assert code == 0 and "channel:email" in out and "round_robin Support" in out

    mbox = write_mbox(tmp_path / "mail.mbox", 8)
    code, _, err = _parley(env, "ingest", str(mbox))
    assert code == 0, err

    settings = Settings(data_dir=data)
    crm, kb = open_crm(settings), open_kb(settings)
    try:
        emails = {a.id: a.email for a in crm.agents.list_all()}
        spread = Counter(emails[c.assignee] for c in kb.iter_conversations() if c.assignee)
        assert spread == {"ann@example.org": 4, "bob@example.org": 4}
    finally:
        crm.close()
        kb.close()
