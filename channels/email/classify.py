"""Recognise machine-generated mail: bounces, auto-replies, read receipts and complaints.

Such mail must not open conversations (nobody is waiting for an answer) but should attach to
the conversation it refers to. ``classify`` returns the flags; ``original_message_id`` finds
the id of the message a bounce or receipt is about, from the enclosed original.
"""

from __future__ import annotations

import re
from email.message import EmailMessage, Message

from channels.email.headers import first_msg_id, header_text

__all__ = ["classify", "original_message_id"]

_BOUNCE_SENDER = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|mailer|bounces?)@", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"(?:undeliver|undelivered mail|delivery status notification|delivery (?:has )?failed|"
    r"mail delivery (?:failed|failure|subsystem)|returned mail|failure notice|"
    r"delivery failure|non[- ]?delivery|unzustellbar|nicht zustellbar|delayed mail|"
    r"warning: could not send|message not delivered)",
    re.IGNORECASE,
)
MACHINE = frozenset({"bounce", "receipt", "complaint"})
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:out of (?:the )?office|automatic reply|auto(?:matic)?[- ]?(?:reply|response|antwort)|"
    r"auto:|abwesenheit|absence|réponse automatique|respuesta automática|vacation)",
    re.IGNORECASE,
)


def classify(msg: EmailMessage, sender: str | None, subject: str | None) -> list[str]:
    """Flags: ``bounce``, ``receipt``, ``complaint`` (with ``auto_reply``), ``auto_generated``, ``spam``."""
    flags: list[str] = []
    ctype = msg.get_content_type()
    # Content-Type parsing is the costly part of the stdlib's header registry: once per part.
    types = _part_types(msg)
    report_type = (msg.get_param("report-type") or "") if ctype == "multipart/report" else ""
    report_type = str(report_type).lower()
    from_daemon = bool(sender and _BOUNCE_SENDER.match(sender))
    if (
        report_type == "delivery-status"
        or "message/delivery-status" in types
        or (from_daemon and (_BOUNCE_SUBJECT.search(subject or "") or "message/rfc822" in types))
    ):
        flags.append("bounce")
    if report_type == "disposition-notification" or "message/disposition-notification" in types:
        flags.append("receipt")
    if report_type == "feedback-report" or "message/feedback-report" in types:
        flags.append("complaint")
    spam_flag = (header_text(msg, "X-Spam-Flag") or "").lower()
    if spam_flag.startswith("yes") or (header_text(msg, "X-Spam-Status") or "").lower().startswith("yes"):
        flags.append("spam")
    if MACHINE.intersection(flags) or _is_auto_reply(msg, subject):
        flags.append("auto_reply")
    elif (header_text(msg, "Auto-Submitted") or "no").lower() != "no":
        # Auto-generated (RFC 3834) covers contact forms and shop systems relaying a real
        # customer's request: informative, but it must still open a conversation.
        flags.append("auto_generated")
    return flags


def _is_auto_reply(msg: EmailMessage, subject: str | None) -> bool:
    if (header_text(msg, "Auto-Submitted") or "").lower().startswith("auto-replied"):
        return True
    if any(header_text(msg, h) for h in ("X-Autoreply", "X-Autorespond", "X-Autoresponder")):
        return True
    precedence = (header_text(msg, "Precedence") or "").lower()
    if precedence == "auto_reply":
        return True
    return bool(_AUTO_SUBJECT.match(subject or ""))


def _part_types(msg: Message) -> set[str]:
    try:
        return {part.get_content_type() for part in msg.walk()}
    except Exception:  # a part the registry cannot parse: judge by headers and subject only
        return set()


def original_message_id(enclosed: list[Message]) -> str | None:
    """The Message-ID of the first enclosed original (a bounce's returned message)."""
    for original in enclosed:
        try:
            value = original.get("Message-ID")
        except Exception:
            continue
        found = first_msg_id(str(value)) if value else None
        if found:
            return found
    return None
