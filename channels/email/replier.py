"""Send an agent's reply as properly threaded mail over SMTP (``aiosmtplib``).

The outgoing mail comes From the mailbox's address, goes To the customer, has the subject
"Re: <original>", ``In-Reply-To`` the answered message and ``References`` its chain plus the
answered id, and a Message-ID derived from the reply id (so a retried send carries the same id
and the customer's client and our dedupe see one message). The returned ``Delivery.message`` is
the outbound hub message (direction out, same thread root, same conversation), so when the
customer answers, their In-Reply-To/References thread back into the conversation.

SMTP failures are translated here, in one place: 4xx replies, timeouts and dropped connections
raise ``RetriableError``; 5xx replies ``SkippableError`` (this reply can never be delivered as
it is); a refused SMTP login ``FatalError`` (every reply would fail until it is fixed).
"""

from __future__ import annotations

import hashlib
import logging
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from html import escape
from typing import Any

import aiosmtplib
from aiosmtplib.typing import Default

from channels.base import DeliveryInDoubt, HandOver, ReplyProblem
from channels.email.headers import normalize_subject
from channels.email.settings import CHANNEL, MailboxSettings, email_settings
from hub.errors import FatalError, RetriableError, SkippableError
from hub.models import Delivery, Direction, Identity, Message, Reply, utcnow
from hub.settings import Settings

__all__ = ["EmailReplier", "build_reply", "check_reply", "check_smtp", "replier_for"]

log = logging.getLogger(__name__)

#: References keeps the root and the most recent ids; RFC 5322 puts no limit, servers do.
MAX_REFERENCES = 20


def _address_of(identity: Identity) -> str | None:
    candidate = identity.email or identity.native_id
    return candidate if candidate and "@" in candidate else None


def _reply_subject(reply: Reply) -> str:
    original = reply.subject or (reply.in_reply_to.subject if reply.in_reply_to else None) or ""
    if original.lstrip().lower().startswith("re:"):
        return original.strip()
    return f"Re: {original}" if original else "Re: your message"


def _references(parent: Message | None) -> list[str]:
    if parent is None or parent.native_id.startswith("sha:"):
        return []  # a hashed id is ours, not a Message-ID the customer's client knows
    refs = list(parent.references)
    if not refs and parent.thread_key and parent.thread_key != parent.native_id:
        refs = [parent.thread_key]
    refs = [r for r in refs if r != parent.native_id] + [parent.native_id]
    if len(refs) > MAX_REFERENCES:
        refs = refs[:1] + refs[-(MAX_REFERENCES - 1) :]
    return refs


def _with_quote(reply: Reply, parent: Message | None) -> tuple[str, str | None]:
    """The reply's text and HTML with the answered message quoted below, as mail clients do."""
    if parent is None or not parent.text.strip():
        return reply.text, reply.html
    who = (parent.author.display_name or parent.author.email) if parent.author else None
    when = format_datetime(parent.created_at)
    attribution = f"On {when}, {who or 'you'} wrote:"
    quoted = "\n".join(f"> {line}" if line else ">" for line in parent.text.splitlines())
    plain = f"{reply.text.rstrip()}\n\n{attribution}\n{quoted}\n"
    html = None
    if reply.html:
        body = escape(parent.text).replace("\n", "<br>\n")
        html = f"{reply.html}\n<p>{escape(attribution)}</p>\n<blockquote>{body}</blockquote>\n"
    return plain, html


def _default_recipients(parent: Message | None) -> list[Identity]:
    if parent is None:
        return []
    if parent.direction is Direction.OUT:
        # Following up our own earlier reply: write to whom that one went, not to ourselves.
        return list(parent.recipients)
    answer_to = parent.metadata.get("reply_to_addresses") or []
    if answer_to:
        return [
            Identity(
                channel=CHANNEL,
                native_id=str(a["email"]).lower(),
                email=a["email"],
                display_name=a.get("display_name"),
            )
            for a in answer_to
            if isinstance(a, dict) and a.get("email")
        ]
    return [parent.author] if parent.author is not None else []


def check_reply(reply: Reply) -> list[ReplyProblem]:
    """What keeps ``reply`` from going out as mail (pure): it needs text or HTML, and a
    recipient with an email address (given in ``to``, or the answered message's sender)."""
    problems = []
    if not reply.text.strip() and not (reply.html or "").strip():
        problems.append(ReplyProblem("text", "a mail reply needs some text"))
    to = reply.to or _default_recipients(reply.in_reply_to)
    if not any(_address_of(ident) for ident in to):
        problems.append(
            ReplyProblem(
                "to",
                "a mail reply needs a recipient with an email address: the answered message has "
                "none, so name one in 'to'",
            )
        )
    if reply.private is False:
        problems.append(ReplyProblem("private", "mail has no public replies: leave 'private' out"))
    return problems


def build_reply(reply: Reply, mailbox: MailboxSettings) -> tuple[EmailMessage, Message]:
    """The MIME message to send and the hub message that records it (pure; no I/O)."""
    from_address = mailbox.from_address or mailbox.username
    if "@" not in from_address:
        raise FatalError(f"mailbox {mailbox.name!r} has no from_address to send replies from")
    parent = reply.in_reply_to
    to = reply.to or _default_recipients(parent)
    recipients = [(ident, addr) for ident in to if (addr := _address_of(ident))]
    if not recipients:
        raise SkippableError(f"reply {reply.id} has no recipient email address")

    domain = from_address.rsplit("@", 1)[1]
    digest = hashlib.blake2b(reply.id.encode(), digest_size=12).hexdigest()
    native_id = f"parley.{digest}@{domain}"
    references = _references(parent)
    subject = _reply_subject(reply)
    now = utcnow()

    mime = EmailMessage()
    mime["From"] = formataddr((mailbox.from_name, from_address))
    mime["To"] = [Address(display_name=i.display_name or "", addr_spec=a) for i, a in recipients]
    mime["Subject"] = subject
    mime["Date"] = format_datetime(now)
    mime["Message-ID"] = f"<{native_id}>"
    if references:
        mime["In-Reply-To"] = f"<{references[-1]}>"
        mime["References"] = " ".join(f"<{r}>" for r in references)
    mime["X-Parley-Reply-Id"] = reply.id
    plain, html = _with_quote(reply, parent) if mailbox.quote_original else (reply.text, reply.html)
    mime.set_content(plain)
    if html:
        mime.add_alternative(html, subtype="html")

    sender = Identity(
        channel=CHANNEL,
        native_id=from_address.lower(),
        email=from_address,
        display_name=mailbox.from_name or None,
    )
    root = (parent.thread_key or parent.native_id) if parent is not None else None
    outbound = Message(
        channel=CHANNEL,
        account=reply.account if reply.account != "default" else mailbox.name,
        native_id=native_id,
        direction=Direction.OUT,
        author=sender,
        recipients=[ident for ident, _ in recipients],
        subject=subject,
        text=reply.text,
        body=plain,
        html=html,
        created_at=now,
        reply_to=parent.native_id if parent is not None else None,
        thread_key=root,
        conversation_id=reply.conversation_id,
        references=references,
        subject_key=normalize_subject(subject) or None,
        metadata={
            "reply_id": reply.id,
            **({"agent": reply.author} if reply.author else {}),
        },
    )
    return mime, outbound


def _untrusted_certificate(exc: BaseException) -> bool:
    # aiosmtplib wraps the ssl error in SMTPConnectError; look down the chain.
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


class _HandingOverSMTP(aiosmtplib.SMTP):
    """``aiosmtplib.SMTP`` that awaits ``handing_over`` right before DATA (the SMTP command
    after which the server may hold the message)."""

    def __init__(self, handing_over: HandOver | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._handing_over = handing_over
        #: DATA was started: from here on the server may hold the message
        self.handed_over = False

    async def data(self, message: str | bytes, /, *, timeout: Any = Default.token) -> Any:
        if self._handing_over is not None:
            await self._handing_over()
        self.handed_over = True
        return await super().data(message, timeout=timeout)


class EmailReplier:
    """Sends replies through one mailbox's SMTP server (implements ``channels.base.Replier``)."""

    def __init__(self, mailbox: MailboxSettings) -> None:
        self.mailbox = mailbox

    def rebuild(self, reply: Reply) -> Message:
        """The outbound message ``send`` made for ``reply`` (the same Message-ID: it derives
        from the reply id), for a dispatcher that sent it but died before recording it."""
        return build_reply(reply, self.mailbox)[1]

    async def send(self, reply: Reply, *, handing_over: HandOver | None = None) -> Delivery:
        """Send ``reply``; ``handing_over`` is awaited after the server accepted the sender and
        recipients, just before the message itself goes (SMTP DATA): up to there the server
        cannot have it, so a sender that dies earlier never sent it."""
        mime, outbound = build_reply(reply, self.mailbox)
        mb = self.mailbox
        credentials = mb.smtp_credentials()
        where = f"SMTP {mb.smtp_host}:{mb.smtp_port}"
        client = _HandingOverSMTP(
            handing_over,
            hostname=mb.smtp_host,
            port=mb.smtp_port,
            username=credentials[0] if credentials else None,
            password=credentials[1] if credentials else None,
            use_tls=mb.smtp_tls == "ssl",
            start_tls=mb.smtp_tls == "starttls",
            tls_context=mb.tls_context() if mb.smtp_tls != "none" else None,
            timeout=mb.timeout_s,
        )
        try:
            async with client:
                refused, _ = await client.send_message(mime, sender=parseaddr(str(mime["From"]))[1])
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise FatalError(
                f"{where}: login refused ({exc.code} {exc.message}); check SMTP credentials"
            ) from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            text = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            if all(500 <= code < 600 for code in codes):
                raise SkippableError(f"{where}: every recipient refused: {text}") from exc
            raise RetriableError(f"{where}: recipients refused for now: {text}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise SkippableError(f"{where}: message refused: {exc.code} {exc.message}") from exc
            raise RetriableError(f"{where}: temporary failure: {exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            if _untrusted_certificate(exc):
                raise FatalError(
                    f"{where}: server certificate not trusted ({exc}); set the mailbox's ca_file"
                ) from exc
            if client.handed_over:  # no answer to DATA: the server may have taken it
                raise DeliveryInDoubt(
                    f"{where}: {exc.__class__.__name__} after the message was sent: {exc}"
                ) from exc
            raise RetriableError(f"{where}: {exc.__class__.__name__}: {exc}") from exc
        error = None
        if refused:
            # Some recipients took it, some did not: delivered, with the refusals on record.
            error = "; ".join(f"{rcpt}: {resp.code} {resp.message}" for rcpt, resp in refused.items())
            log.warning("reply %s: %s refused some recipients: %s", reply.id, where, error)
        return Delivery(
            reply_id=reply.id,
            status="sent",
            native_id=outbound.native_id,
            sent_at=outbound.created_at,
            error=error,
            message=outbound,
        )


async def check_smtp(mailbox: MailboxSettings) -> str:
    """ "ok: ..." when the SMTP server greets, does TLS and accepts the login; else the error."""
    credentials = mailbox.smtp_credentials()
    client = aiosmtplib.SMTP(
        hostname=mailbox.smtp_host,
        port=mailbox.smtp_port,
        use_tls=mailbox.smtp_tls == "ssl",
        start_tls=mailbox.smtp_tls == "starttls",
        tls_context=mailbox.tls_context() if mailbox.smtp_tls != "none" else None,
        timeout=mailbox.timeout_s,
    )
    where = f"SMTP {mailbox.smtp_host}:{mailbox.smtp_port}"
    try:
        await client.connect()
        if credentials:
            await client.login(*credentials)
        await client.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return f"error: {where}: {exc.__class__.__name__}: {exc}"
    return f"ok: {where} ({mailbox.smtp_tls}{', authenticated' if credentials else ''})"


def replier_for(settings: Settings, account: str) -> EmailReplier:
    """The replier of the mailbox named ``account`` (= ``Reply.account``).

    Raises ``SkippableError`` when no mailbox has that name (a conversation imported from a
    file has account ``import``): that reply cannot be sent, others can.
    """
    mailboxes = {mailbox.name: mailbox for mailbox in email_settings(settings).accounts}
    mailbox = mailboxes.get(account)
    if mailbox is None:
        configured = ", ".join(sorted(mailboxes)) or "none"
        raise SkippableError(f"no mailbox named {account!r} to reply from (configured: {configured})")
    return EmailReplier(mailbox)
