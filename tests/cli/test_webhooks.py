"""``parley webhooks deliver`` and ``parley webhooks list`` against a real receiver."""

from __future__ import annotations

from pathlib import Path

from standardwebhooks.webhooks import Webhook
from typer.testing import CliRunner

from cli.main import app
from crm import open_crm
from hub.settings import Settings
from tests.outbound.webhooks.receiver import receiving


def test_deliver_once_sends_what_is_due_and_list_shows_the_state(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {
        "PARLEY_DATA_DIR": str(data),
        "PARLEY_DEMO": "false",
        "PARLEY_LOG_LEVEL": "ERROR",
        "PARLEY_OUTBOUND_WEBHOOKS__ALLOW_PRIVATE_ADDRESSES": "true",
        "COLUMNS": "250",
    }
    store = open_crm(Settings(data_dir=data, demo=False))
    with receiving() as receiver:
        try:
            sub = store.outbound_webhooks.create(url=receiver.url, event_types=["contact.*"], start_after=0)
            merged = store.events.append("contact.merged", contact_id="k-1", data={"merged": ["k-2"]})
            store.events.append("conversation.assigned", conversation_id="c-1")
        finally:
            store.close()
        result = CliRunner().invoke(app, ["webhooks", "deliver", "--once"], env=env)
        assert result.exit_code == 0, result.output
        assert "queued 1, delivered 1, failed attempts 0" in result.stderr
        [request] = receiver.requests
        assert request.headers["webhook-id"] == f"evt_{merged}"
        assert Webhook(sub.secret).verify(request.body, request.headers)["data"]["merged"] == ["k-2"]
    listed = CliRunner().invoke(app, ["webhooks", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert sub.id in listed.stdout and "contact.*" in listed.stdout and "enabled" in listed.stdout
