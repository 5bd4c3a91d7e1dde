"""MIME body extraction: the text a person wrote, the HTML, and the attachments' metadata.

``extract_body`` walks a parsed message once. It prefers ``text/plain``, falls back to HTML
converted to text, decodes every transfer encoding and charset (falling back to a tolerant
decode and recording a defect when a part's declared charset is unknown or invalid), and
lists attachments as metadata only. It never raises on content: broken parts become defects.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from email import message_from_string, policy
from email.message import EmailMessage, Message
from typing import TYPE_CHECKING

from hub.models import Attachment

if TYPE_CHECKING:
    from bs4 import BeautifulSoup

__all__ = ["BodyParts", "decode_part", "extract_body", "html_texts", "html_to_text"]

# Labels seen in real mail that Python's codec registry does not know, mapped to the codec
# that actually decodes them.
_CHARSET_ALIASES = {
    "unknown-8bit": "cp1252",
    "x-unknown": "cp1252",
    "unknown": "cp1252",
    "8bit": "cp1252",
    "ansi_x3.4-1968": "ascii",
    "iso-8859-8-i": "iso-8859-8",
    "x-user-defined": "cp1252",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",  # GB 18030 is a superset; mislabelled GBK mail decodes too
    "gbk": "gb18030",
    "windows-874": "cp874",
    "x-mac-roman": "mac_roman",
    "utf8": "utf-8",
}

_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass
class BodyParts:
    """What ``extract_body`` found; ``text`` is the full readable body (quotes included)."""

    text: str = ""
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    #: message/rfc822 or text/rfc822-headers parts (bounces and forwards carry the original)
    enclosed: list[Message] = field(default_factory=list)
    from_html: bool = False
    #: when ``text`` came from HTML: the text without quoted history (blockquotes etc.)
    html_own_text: str = ""


def _codec_for(charset: str | None) -> str:
    label = (charset or "us-ascii").strip().strip('"').lower()
    label = _CHARSET_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return ""


def decode_part(part: Message, defects: list[str]) -> str:
    """The text of one leaf part, transfer-decoded and charset-decoded."""
    try:
        raw = part.get_payload(decode=True)
    except Exception as exc:  # broken base64 padding and the like
        defects.append(f"undecodable transfer encoding in {part.get_content_type()}: {exc}")
        raw = None
    if raw is None:
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    if not isinstance(raw, bytes):
        return str(raw)
    declared = part.get_content_charset()
    codec = _codec_for(declared)
    if codec:
        try:
            return raw.decode(codec)
        except UnicodeDecodeError as exc:
            # A few stray bytes in otherwise valid text: keep the declared charset, mark them.
            defects.append(f"invalid {codec} bytes in {part.get_content_type()} at offset {exc.start}")
            return raw.decode(codec, errors="replace")
    elif declared:
        defects.append(f"unknown charset {declared!r}")
    # Undeclared or wrong: most such mail is UTF-8; cp1252 with replacement keeps every byte
    # readable rather than losing the message.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


_QUOTE_CLASSES = frozenset(
    {"gmail_quote", "gmail_extra", "moz-cite-prefix", "yahoo_quoted", "OutlookMessageHeader"}
)


def _soup_text(soup: BeautifulSoup) -> str:
    text = soup.get_text("\n")
    lines = [line.strip() for line in text.splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def html_texts(html: str) -> tuple[str, str]:
    """(full text, text without quoted earlier messages) of an HTML body, from one parse."""
    from bs4 import BeautifulSoup, Tag  # on first HTML body: most processes never need it

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "head", "title"]):
        tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    full = _soup_text(soup)

    def is_quote(tag: Tag) -> bool:
        classes: list[str] = list(tag.get("class") or [])
        return tag.name == "blockquote" or any(c in _QUOTE_CLASSES for c in classes)

    for tag in soup.find_all(is_quote):
        if not tag.decomposed:
            tag.decompose()
    # Outlook puts the quoted history after a divider element, not inside a blockquote.
    divider = soup.find(id="divRplyFwdMsg") or soup.find(id="appendonsend")
    if isinstance(divider, Tag):
        for later in list(divider.find_all_next()):
            if not later.decomposed:
                later.decompose()
        divider.decompose()
    return full, _soup_text(soup)


def html_to_text(html: str, *, drop_quotes: bool = False) -> str:
    """Readable text from an HTML body; ``drop_quotes`` removes quoted earlier messages."""
    full, own = html_texts(html)
    return own if drop_quotes else full


def _is_attachment(part: Message, ctype: str) -> bool:
    disposition = (part.get_content_disposition() or "").lower()
    if disposition == "attachment":
        return True
    if part.get_filename():
        return not ctype.startswith("text/") or disposition != "inline"
    return ctype.split("/", 1)[0] not in ("text", "multipart", "message")


def _attachment_of(part: Message, ctype: str, defects: list[str]) -> Attachment:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    try:
        raw = part.get_payload(decode=True)
        size = len(raw) if isinstance(raw, bytes) else None
    except Exception as exc:
        defects.append(f"attachment {name!r} undecodable: {exc}")
        size = None
    return Attachment(name=name, content_type=ctype, size=size)


def extract_body(msg: EmailMessage) -> BodyParts:
    """Walk ``msg`` and collect its body text, HTML and attachments (see module docstring)."""
    found = BodyParts()
    plains: list[str] = []
    htmls: list[str] = []
    _walk(msg, found, plains, htmls)
    found.html = "\n".join(htmls) if htmls else None
    if any(p.strip() for p in plains):
        found.text = "\n\n".join(p.strip("\n") for p in plains if p.strip())
    elif found.html:
        found.text, found.html_own_text = html_texts(found.html)
        found.from_html = True
    found.text = found.text.replace("\r\n", "\n").replace("\r", "\n").strip()
    return found


def _walk(part: Message, found: BodyParts, plains: list[str], htmls: list[str]) -> None:
    ctype = part.get_content_type()
    if part.is_multipart():
        children = part.get_payload()
        if not isinstance(children, list):
            return
        if ctype == "message/rfc822":
            found.enclosed.extend(c for c in children if isinstance(c, Message))
            found.attachments.append(Attachment(name=part.get_filename(), content_type=ctype, size=None))
            return
        for child in children:
            if isinstance(child, Message):
                _walk(child, found, plains, htmls)
        return
    if ctype == "text/rfc822-headers":
        found.enclosed.append(message_from_string(decode_part(part, found.defects), policy=policy.default))
        return
    if _is_attachment(part, ctype):
        found.attachments.append(_attachment_of(part, ctype, found.defects))
        return
    if ctype == "text/html":
        htmls.append(decode_part(part, found.defects))
    elif ctype.startswith(("text/", "multipart/")):
        # A "multipart" leaf has no usable boundary: its payload is all the text there is.
        plains.append(decode_part(part, found.defects))
