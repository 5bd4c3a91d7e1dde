"""Parse ``rfc822`` envelopes (one raw mail message) into a hub ``Message``.

Payload: the raw message as ``bytes`` (``.eml``/mbox files, IMAP) or ``str`` (JSONL envelopes).
The result's ``native_id`` is the Message-ID without brackets (``sha:<hex>`` of the raw bytes
when there is none); ``reply_to`` is the In-Reply-To id; ``thread_key`` is the thread root: the
first References id, else the In-Reply-To id. ``text`` is what the author wrote (quotes and
signature stripped), ``body`` the full text. Bounces, auto-replies, read receipts and complaints
are flagged (``bounce``, ``receipt``, ``complaint``, each with ``auto_reply``) and point at the
message they are about when the original is enclosed; RFC 3834 auto-generated mail (contact
forms, shops) gets ``auto_generated`` only, since it often carries a real customer request.
When In-Reply-To is missing, the last References id is the parent; self-references (mail
loops) are dropped, and so are tokens that cannot be a msg-id (no ``@``: ``git send-email``'s
``<yes>``), listed in ``metadata["ignored_thread_ids"]``. ``created_at`` is the Date header
unless missing or more than a day in the future (then the arrival time; the header is kept in
``metadata["date_header"]``).
The thread hints are typed: ``references`` (the References ids, oldest first) and
``subject_key`` (the normalised subject, for the thread step's subject fallback).
``metadata`` carries ``reply_to_addresses`` when Reply-To differs from From (the replier reads
it), ``original_message_id`` for bounces, ``list_id`` and MIME ``defects`` when any.
Spam-filter verdicts add the ``spam`` flag.
``recipients`` are the first ``headers.MAX_ADDRESSES`` To/Cc addresses; when there were more,
``metadata["recipient_count"]`` is how many entries the headers hold (the rest are not parsed).

Empty, non-mail or unparseable input raises ``MalformedPayload`` with the reason.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from channels.base import Parser
from channels.email.body import extract_body
from channels.email.classify import classify, original_message_id
from channels.email.headers import (
    address_list,
    addresses,
    first_msg_id,
    header_text,
    msg_ids,
    normalize_subject,
    parse_date,
)
from channels.email.quotes import strip_quotes
from channels.email.settings import CHANNEL
from hub.errors import MalformedPayload
from hub.models import Direction, Envelope, Identity, Message

__all__ = ["CHANNEL", "PARSERS", "RFC822", "parse_mail_bytes", "parse_rfc822", "raw_bytes"]

log = logging.getLogger(__name__)

#: the envelope kind of one raw mail message (IMAP, .eml and mbox files, JSONL envelopes)
RFC822 = "rfc822"
#: flags of machine-generated mail that must attach to, never open, a conversation
MACHINE_FLAGS = frozenset({"bounce", "auto_reply", "receipt", "complaint"})
#: a Date header further ahead of the arrival time than this is not believed
FUTURE_TOLERANCE = timedelta(days=1)


def raw_bytes(payload: Any) -> bytes:
    """The payload as bytes; raises ``MalformedPayload`` for empty or non-text payloads."""
    if isinstance(payload, (bytes, bytearray, memoryview)):
        raw = bytes(payload)
    elif isinstance(payload, str):
        # JSONL envelopes carry the message as text; lone surrogates (from a lossy upstream
        # decode) are kept as bytes rather than failing the whole message.
        raw = payload.encode("utf-8", "surrogateescape")
    else:
        raise MalformedPayload(f"rfc822 payload must be bytes or str, got {type(payload).__name__}")
    if not raw.strip():
        raise MalformedPayload("empty rfc822 message (no headers, no body)")
    return raw


# RFC 5322 obsolete syntax allows whitespace before a header's colon ("From  : ann@x");
# the stdlib parser does not, and would read the whole message as body.
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OBS_HEADER = re.compile(rb"^[!-9;-~]+[ \t]+:")


def _fix_obs_headers(raw: bytes) -> bytes:
    head, sep, rest = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
    fixed = re.sub(rb"(?m)^([!-9;-~]+)[ \t]+:", rb"\1:", head)
    return fixed + sep + rest


def parse_mail_bytes(raw: bytes) -> EmailMessage:
    """``raw`` parsed with ``policy.default``; raises ``MalformedPayload`` for non-mail."""
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:  # the stdlib parser is lenient; anything escaping it is a bug we contain
        raise MalformedPayload(f"unparseable rfc822 message: {exc.__class__.__name__}: {exc}") from exc
    if not list(msg.keys()) and _OBS_HEADER.match(raw):
        msg = BytesParser(policy=policy.default).parsebytes(_fix_obs_headers(raw))
    if not isinstance(msg, EmailMessage) or not list(msg.keys()):
        if raw.startswith(_OLE2_MAGIC):
            raise MalformedPayload("not an rfc822 message: an Outlook .msg (OLE2) file; export it as .eml")
        if b"\x00" in raw[:1024]:
            raise MalformedPayload("not an rfc822 message: binary data, no header fields")
        first = raw.lstrip()[:60].decode("utf-8", "replace")
        raise MalformedPayload(f"not an rfc822 message: no header fields (starts with {first!r})")
    return msg


def _identity(display: str, addr: str) -> Identity:
    return Identity(channel=CHANNEL, native_id=addr.lower(), email=addr, display_name=display or None)


def _defects(msg: EmailMessage) -> list[str]:
    names: list[str] = []
    try:
        for part in msg.walk():
            names.extend(type(d).__name__ for d in getattr(part, "defects", []))
    except Exception as exc:
        names.append(f"walk failed: {exc}")
    return sorted(set(names))


def _created_at(msg: EmailMessage, envelope: Envelope, metadata: dict[str, Any]) -> datetime:
    """The Date header, unless missing or in the future (spam and broken clocks)."""
    date = parse_date(header_text(msg, "Date"))
    if date is None:
        return envelope.received_at
    if date > envelope.received_at + FUTURE_TOLERANCE:
        # A mail dated next year would sit on top of every inbox sorted by time.
        metadata["date_header"] = date.isoformat()
        return envelope.received_at
    return date


def _is_msg_id(value: str) -> bool:
    """Whether ``value`` can be an RFC 5322 msg-id (``id-left@id-right``).

    ``git send-email`` asks for the Message-ID to answer and some set-ups answer "yes", which
    lands as ``In-Reply-To: <yes>`` and ``References: <yes> <real-parent@host>``: such a token
    names no message, and honouring it would make every such series one thread rooted at
    "yes". Every id that can be a message's is honoured (JWZ), this one never.
    """
    left, at, right = value.partition("@")
    return bool(at and left and right)


def _threading(
    msg: EmailMessage, native_id: str, metadata: dict[str, Any]
) -> tuple[str | None, str | None, list[str]]:
    """(reply_to, thread_key, references): every msg-id In-Reply-To and References name, as
    JWZ threading reads them, with self-references (mail loops) and tokens that cannot be a
    msg-id (kept in ``metadata["ignored_thread_ids"]``) removed."""
    named = msg_ids(header_text(msg, "References"))
    in_reply_to = msg_ids(header_text(msg, "In-Reply-To"))
    if not in_reply_to:
        bare = first_msg_id(header_text(msg, "In-Reply-To"))
        in_reply_to = [bare] if bare else []
    ignored = [i for i in dict.fromkeys([*named, *in_reply_to]) if not _is_msg_id(i)]
    if ignored:
        metadata["ignored_thread_ids"] = ignored
    references = [r for r in named if r != native_id and _is_msg_id(r)]
    # JWZ: the first msg-id of In-Reply-To is the parent (later ones are rarely ids at all)
    reply_to = next((r for r in in_reply_to if r != native_id and _is_msg_id(r)), None)
    if reply_to is None and references:
        # Some clients send References only; its last id is the direct parent.
        reply_to = references[-1]
    thread_key = references[0] if references else reply_to
    return reply_to, thread_key, references


def parse_rfc822(envelope: Envelope) -> list[Message]:
    """The one ``Message`` in an ``rfc822`` envelope (see the module docstring)."""
    raw = raw_bytes(envelope.payload)
    msg = parse_mail_bytes(raw)
    try:
        return [_to_message(envelope, raw, msg)]
    except MalformedPayload:
        raise
    except Exception as exc:
        # The stdlib header registry and real-world MIME meet in odd ways; whatever escapes
        # becomes a dead letter with the reason, never a stopped flow.
        raise MalformedPayload(f"cannot read rfc822 message: {exc.__class__.__name__}: {exc}") from exc


def _to_message(envelope: Envelope, raw: bytes, msg: EmailMessage) -> Message:

    message_id_header = header_text(msg, "Message-ID")
    native_id = first_msg_id(message_id_header) or f"sha:{hashlib.sha256(raw).hexdigest()[:40]}"
    senders = addresses(msg, "From") or addresses(msg, "Sender", "Return-Path")
    author = _identity(*senders[0]) if senders else None
    to_and_cc = address_list(msg, "To", "Cc")
    recipients = [_identity(d, a) for d, a in to_and_cc.pairs]
    subject = header_text(msg, "Subject")

    parts = extract_body(msg)
    text = strip_quotes(parts.html_own_text if parts.from_html else parts.text)

    flags = classify(msg, senders[0][1] if senders else None, subject)
    metadata: dict[str, Any] = {}
    reply_to, thread_key, references = _threading(msg, native_id, metadata)
    if message_id_header is None:
        metadata["missing_message_id"] = True
    if to_and_cc.capped:
        metadata["recipient_count"] = to_and_cc.total
    if MACHINE_FLAGS.intersection(flags):
        original = original_message_id(parts.enclosed)
        if original and original != native_id:
            metadata["original_message_id"] = original
            if reply_to is None:
                reply_to = thread_key = original
    answer_to = [{"email": a, "display_name": d or None} for d, a in addresses(msg, "Reply-To")]
    if answer_to and [str(x["email"]).lower() for x in answer_to] != [a.lower() for _, a in senders[:1]]:
        # Contact forms and shops send From a no-reply address with the customer in Reply-To:
        # replies must go there (the replier reads this).
        metadata["reply_to_addresses"] = answer_to
    list_id = header_text(msg, "List-Id")
    if list_id:
        metadata["list_id"] = list_id
    defects = _defects(msg) + parts.defects
    if defects:
        metadata["defects"] = defects
        log.warning("email %s (%s): MIME defects: %s", native_id, envelope.raw_ref, "; ".join(defects))

    return Message(
        channel=CHANNEL,
        account=envelope.account,
        native_id=native_id,
        direction=Direction.IN,
        author=author,
        recipients=recipients,
        subject=subject,
        text=text,
        body=parts.text or None,
        html=parts.html,
        created_at=_created_at(msg, envelope, metadata),
        thread_key=thread_key,
        reply_to=reply_to,
        references=references,
        subject_key=normalize_subject(subject) or None,
        attachments=parts.attachments,
        flags=flags,
        raw_ref=envelope.raw_ref,
        metadata=metadata,
    )


PARSERS: dict[str, Parser] = {RFC822: parse_rfc822}
