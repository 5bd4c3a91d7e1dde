"""One definition of the hub's own identities, used by the flow (outbound) and the CRM (no merge)."""

from __future__ import annotations

from hub.settings import CRMSettings, EmailSettings, EnrichmentSettings, MailboxSettings, Settings


def test_own_addresses_join_configured_ones_and_every_mailbox() -> None:
    mailbox = MailboxSettings(
        name="care", username="inbox-7@brand.example", from_address="Care@brand.example"
    )
    settings = Settings(
        crm=CRMSettings(own_addresses=["+447700900100", "Care@brand.example"]),
        email=EmailSettings(accounts=[mailbox, MailboxSettings(name="login-only", username="imapuser")]),
        enrichment=EnrichmentSettings(handles=["@ParleyCoffee"]),
    )
    assert settings.own_addresses() == ["+447700900100", "Care@brand.example", "inbox-7@brand.example"]
    assert settings.own_identities() == frozenset(
        {"+447700900100", "care@brand.example", "inbox-7@brand.example", "parleycoffee"}
    )
