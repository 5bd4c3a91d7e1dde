"""The email story end to end, with real servers and the real ingest flow.

A customer mails the support mailbox (Dovecot) → the flow ingests it into a conversation →
an agent's reply goes out through SMTP (aiosmtpd) with the right threading headers → the
customer's answer lands in the mailbox → the next flow run puts it in the same conversation.
"""

from __future__ import annotations

import asyncio
import uuid
from email.utils import format_datetime
from typing import Any

import pytest
from bytewax.testing import run_main
from pydantic import SecretStr

from channels import CHANNELS
from channels.email import EMAIL
from channels.email.settings import EmailSettings, MailboxSettings
from channels.email.source import IMAPSource
from hub.models import Direction, Message, Reply, message_id, utcnow
from hub.settings import Settings
from tests.channels.email.conftest import Dovecot, SMTPServer

pytestmark = pytest.mark.dovecot

flows_ingest = pytest.importorskip("flows.ingest")
kb_module = pytest.importorskip("kb")


def customer_mail(
    message_id_: str,
    subject: str,
    body: str,
    *,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
) -> bytes:
    headers = [
        "From: Dana Customer <dana@example.org>",
        "To: Support <support@parley.test>",
        f"Subject: {subject}",
        f"Date: {format_datetime(utcnow())}",
        f"Message-ID: <{message_id_}>",
    ]
    if in_reply_to:
        headers.append(f"In-Reply-To: <{in_reply_to}>")
    if references:
        headers.append("References: " + " ".join(f"<{r}>" for r in references))
    headers += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]
    return ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode()


def ingest(settings: Settings, mailbox: MailboxSettings) -> None:
    flow = flows_ingest.build_flow(settings, sources=[("imap", IMAPSource([mailbox], once=True))])
    run_main(flow)


def stored(settings: Settings, native_id: str) -> Message:
    kb = kb_module.open_kb(settings)
    try:
        found = kb.get_message(message_id("email", native_id))
    finally:
        kb.close()
    assert found is not None, f"{native_id} not in the knowledge base"
    return found


@pytest.fixture
def story(dovecot: Dovecot, smtp_server: SMTPServer, settings: Settings) -> dict[str, Any]:
    folder = f"Story{uuid.uuid4().hex[:8]}"
    dovecot.create_folder(folder)
    mailbox = dovecot.mailbox(
        folders=[folder], smtp_host=smtp_server.host, smtp_port=smtp_server.port, smtp_tls="none"
    )
    settings = EMAIL.with_settings(settings, EmailSettings(accounts=[mailbox]))
    settings.enrichment.ner = False  # spaCy NER is not what this story is about; keep it fast
    return {"folder": folder, "mailbox": mailbox, "settings": settings}


@pytest.mark.parametrize("answer_has_references", [True, False], ids=["references", "in-reply-to-only"])
def test_mail_reply_answer_share_one_conversation(
    dovecot: Dovecot, smtp_server: SMTPServer, story: dict[str, Any], answer_has_references: bool
) -> None:
    settings, mailbox, folder = story["settings"], story["mailbox"], story["folder"]
    first_id = f"q1-{uuid.uuid4().hex[:8]}@example.org"
    dovecot.append(customer_mail(first_id, "Kettle not delivered", "Where is my kettle? Order 991."), folder)

    ingest(settings, mailbox)
    question = stored(settings, first_id)
    assert question.conversation_id is not None
    assert "Where is my kettle" in question.text
    assert question.raw_ref is not None and question.raw_ref.startswith(f"imap:support/{folder}/")

    reply = Reply(
        id=f"reply-{uuid.uuid4().hex[:6]}",
        conversation_id=question.conversation_id,
        channel="email",
        account="support",
        in_reply_to=question,
        text="It leaves our warehouse today.",
    )
    make_replier = CHANNELS["email"].replier  # how the outbox dispatcher reaches a channel
    assert make_replier is not None
    delivery = asyncio.run(make_replier(settings, "support").send(reply))
    assert delivery.status == "sent" and delivery.message is not None
    (received,) = smtp_server.received
    assert received.rcpt_tos == ["dana@example.org"]
    assert received.message["In-Reply-To"] == f"<{first_id}>"
    assert received.message["References"] == f"<{first_id}>"
    assert received.message["Subject"] == "Re: Kettle not delivered"
    reply_id = delivery.native_id
    assert reply_id is not None and received.message["Message-ID"] == f"<{reply_id}>"
    assert delivery.message.direction is Direction.OUT
    assert delivery.message.conversation_id == question.conversation_id

    if not answer_has_references:
        # Clients that send only In-Reply-To need the outbound message on record, as the
        # outbox dispatcher keeps it (Delivery.message) in the knowledge base.
        kb = kb_module.open_kb(settings)
        try:
            kb.upsert_messages([delivery.message])
        finally:
            kb.close()
    answer_id = f"q2-{uuid.uuid4().hex[:8]}@example.org"
    references = [first_id, reply_id] if answer_has_references else None
    dovecot.append(
        customer_mail(
            answer_id,
            "Re: Kettle not delivered",
            "Great, thanks!\r\n\r\n> It leaves our warehouse today.",
            in_reply_to=reply_id,
            references=references,
        ),
        folder,
    )

    ingest(settings, mailbox)  # a fresh source re-reads the folder: dedupe absorbs the repeat
    answer = stored(settings, answer_id)
    assert answer.conversation_id == question.conversation_id
    assert answer.text == "Great, thanks!"
    assert answer.reply_to == reply_id
    assert stored(settings, first_id).conversation_id == question.conversation_id
    kb = kb_module.open_kb(settings)
    try:
        conversation = kb.get_conversation(question.conversation_id)
        thread = kb.conversation_messages(question.conversation_id)
    finally:
        kb.close()
    assert conversation is not None and conversation.inbound_count == 2
    assert {first_id, answer_id} <= {m.native_id for m in thread}


def test_bad_mail_in_the_mailbox_is_dead_lettered_and_the_flow_goes_on(
    dovecot: Dovecot, story: dict[str, Any]
) -> None:
    from flows.report import IngestReport

    settings, mailbox, folder = story["settings"], story["mailbox"], story["folder"]
    dovecot.append(b"\r\n\r\n", folder)  # blank: no headers, no body
    dovecot.append(b"this line is not a header\r\nneither is this\r\n", folder)
    good_id = f"ok-{uuid.uuid4().hex[:8]}@example.org"
    dovecot.append(customer_mail(good_id, "Still here", "The good one after two bad ones."), folder)

    report = IngestReport()
    flow = flows_ingest.build_flow(
        settings, sources=[("imap", IMAPSource([mailbox], once=True))], report=report
    )
    run_main(flow)
    assert (report.read, report.parsed, report.dead_letters) == (3, 1, 2)
    assert stored(settings, good_id).text == "The good one after two bad ones."

    from crm.store import open_crm

    crm = open_crm(settings)
    try:
        total, letters = crm.list_dead_letters()
    finally:
        crm.close()
    assert total == 2
    refs = sorted(letter.raw_ref or "" for letter in letters)
    assert [ref.rsplit("/", 1)[1] for ref in refs] == ["1", "2"]
    assert all(ref.startswith(f"imap:support/{folder}/") for ref in refs)
    assert {letter.stage for letter in letters} == {"parse"}
    assert any("empty rfc822 message" in letter.reason for letter in letters)
    assert any("no header fields" in letter.reason for letter in letters)


def test_refused_login_reaches_the_dead_letter_store(story: dict[str, Any]) -> None:
    from crm.store import open_crm

    settings, mailbox = story["settings"], story["mailbox"]
    wrong = mailbox.model_copy(update={"password": SecretStr("not-the-password")})
    run_main(flows_ingest.build_flow(settings, sources=[("imap", IMAPSource([wrong], once=True))]))
    crm = open_crm(settings)
    try:
        total, letters = crm.list_dead_letters(stage="source.imap")
    finally:
        crm.close()
    assert total == 1 and "login refused" in letters[0].reason


def test_reply_without_threading_headers_joins_by_subject(dovecot: Dovecot, story: dict[str, Any]) -> None:
    settings, mailbox, folder = story["settings"], story["mailbox"], story["folder"]
    first_id = f"s1-{uuid.uuid4().hex[:8]}@example.org"
    bare_id = f"s2-{uuid.uuid4().hex[:8]}@example.org"
    other_id = f"s3-{uuid.uuid4().hex[:8]}@example.org"
    dovecot.append(customer_mail(first_id, "Broken lid on my kettle", "The lid broke."), folder)
    # A webmail client that drops In-Reply-To/References: only the subject ties it back.
    dovecot.append(customer_mail(bare_id, "AW: RE: Broken lid on my kettle", "Photo attached."), folder)
    dovecot.append(customer_mail(other_id, "Invoice copy please", "Different matter."), folder)
    ingest(settings, mailbox)
    first, bare, other = (stored(settings, i) for i in (first_id, bare_id, other_id))
    assert bare.subject_key == first.subject_key == "broken lid on my kettle"
    assert bare.conversation_id == first.conversation_id != other.conversation_id
