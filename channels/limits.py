"""Shape limits on what enters the hub: nesting depth, size, and what a stored value may hold.

A value nested 200 levels deep is stored without complaint and then read by nothing (pydantic's
JSON reader stops at 200 levels, its writer at 500, Python's ``json`` near 1,000); a value of
megabytes weighs on every page that shows it. So every payload is measured before a parser
builds a ``Message`` from it, and every ``Message`` a parser returns is measured again:

* ``MAX_PAYLOAD_DEPTH`` / ``MAX_PAYLOAD_CHARS``: any envelope's JSON payload (a dict or a list;
  raw bytes and text payloads are the channel parser's business).
* ``MAX_FREEFORM_DEPTH`` / ``MAX_FREEFORM_CHARS``: each free-form value a message carries
  (``metadata``, a ``parley.message``'s ``attachments`` and ``author``).
* ``MAX_TEXT_CHARS``, ``MAX_SHORT_CHARS``, ``MAX_LIST_ITEMS``: the fields of a
  ``parley.message`` payload (``channels.normalised``).
* ``MAX_NAME_CHARS`` (a message's ``channel`` and ``account``) and ``MAX_SHORT_CHARS`` (its
  ``native_id``): every message, whichever parser made it.

Depth counts containers: ``{}`` is 1 deep, ``{"a": []}`` 2. Sizes are characters of the value's
JSON text, approximately (a number counts its digits, a string its characters and quotes).
Values are walked with an explicit stack, never by recursion, so a nesting bomb costs a short
loop rather than a ``RecursionError``; the walk stops at the first limit passed. Passing one
raises ``MalformedPayload`` saying which limit and where (``metadata.a.a.a...``), which the
flow turns into a dead letter.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hub.errors import MalformedPayload
from hub.models import Message

__all__ = [
    "MAX_FREEFORM_CHARS",
    "MAX_FREEFORM_DEPTH",
    "MAX_LIST_ITEMS",
    "MAX_NAME_CHARS",
    "MAX_PAYLOAD_CHARS",
    "MAX_PAYLOAD_DEPTH",
    "MAX_SHORT_CHARS",
    "MAX_TEXT_CHARS",
    "check_json",
    "check_message",
    "check_payload",
]

#: nesting of any envelope's JSON payload
MAX_PAYLOAD_DEPTH = 32
#: JSON size of any envelope's JSON payload (a JSONL line is capped at 5 MiB before this)
MAX_PAYLOAD_CHARS = 4 * 1024 * 1024
#: nesting of a free-form value (``metadata``...): a message's own fields take a few levels
#: more when stored, and the stores' readers stop at 200
MAX_FREEFORM_DEPTH = 16
#: JSON size of a free-form value
MAX_FREEFORM_CHARS = 256 * 1024
#: a ``parley.message``'s ``text`` and ``html``
MAX_TEXT_CHARS = 1024 * 1024
#: a ``parley.message``'s other strings: ids, names, subject, url, language...
MAX_SHORT_CHARS = 4096
#: a ``parley.message``'s ``references`` and ``attachments``
MAX_LIST_ITEMS = 1000
#: a message's ``channel`` and ``account`` names
MAX_NAME_CHARS = 128

_SHOWN_STEPS = 12  # a path deeper than this is shown as its start, then "..."

#: a linked path to a value: (parent path, key or index), or None at the root
_Path = tuple["_Path", str | int] | None


def _render(where: str, path: _Path) -> str:
    steps: list[str | int] = []
    while path is not None:
        path, step = path
        steps.append(step)
    steps.reverse()
    shown = "".join(f"[{s}]" if isinstance(s, int) else f".{s[:40]}" for s in steps[:_SHOWN_STEPS])
    return where + shown + ("..." if len(steps) > _SHOWN_STEPS else "")


def _lone_surrogate(text: str) -> int | None:
    """The index of the first lone surrogate in ``text`` (which no JSON writer accepts), if any."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


_CONTAINERS = (dict, list, tuple)


class _Walk:
    """One measurement of a value: its running JSON size and the limits it is held to."""

    def __init__(self, where: str, max_depth: int, max_chars: int, strict: bool) -> None:
        self.where, self.max_depth, self.max_chars, self.strict = where, max_depth, max_chars, strict
        self.chars = 0

    def _fail(self, problem: str, path: _Path) -> MalformedPayload:
        return MalformedPayload(f"{_render(self.where, path)} {problem}")

    def _text(self, text: str, path: _Path) -> int:
        if self.strict and (bad := _lone_surrogate(text)) is not None:
            problem = f"holds a lone surrogate (U+{ord(text[bad]):04X} at character {bad}): not valid Unicode"
            raise self._fail(problem, path)
        return len(text) + 2

    def _scalar(self, value: Any, path: _Path) -> int:
        if isinstance(value, str):
            return self._text(value, path)
        if value is None or isinstance(value, bool):
            return 5
        if isinstance(value, int):
            return len(str(value))
        if isinstance(value, float):
            return 24
        if self.strict:
            raise self._fail(f"holds a {type(value).__name__}, not JSON data", path)
        return len(value) if isinstance(value, (bytes, bytearray)) else 8

    def _add(self, chars: int) -> None:
        self.chars += chars
        if self.chars > self.max_chars:
            raise MalformedPayload(
                f"{self.where} is over the {self.max_chars}-character limit (as JSON text)"
            )

    def _members(self, container: Any, path: _Path) -> Iterator[tuple[Any, _Path]]:
        """The members of ``container`` that are containers themselves, with their paths; the
        others (and keys) are measured on the way, so a wide list costs no stack."""
        self._add(2)
        if isinstance(container, dict):
            for key, child in container.items():
                if not isinstance(key, str):
                    raise self._fail(f"has a non-string key {key!r}", path)
                self._add(self._text(key, (path, key)) + 2)
                if isinstance(child, _CONTAINERS):
                    yield child, (path, key)
                else:
                    self._add(self._scalar(child, (path, key)))
        else:
            for index, child in enumerate(container):
                if isinstance(child, _CONTAINERS):
                    yield child, (path, index)
                else:
                    self._add(self._scalar(child, (path, index)) + 1)

    def run(self, value: Any) -> int:
        if not isinstance(value, _CONTAINERS):
            self._add(self._scalar(value, None))
            return self.chars
        if self.max_depth < 1:
            raise self._fail(f"nests deeper than {self.max_depth} levels", None)
        # one iterator per open container: memory grows with depth, never with width
        open_containers = [self._members(value, None)]
        while open_containers:
            child = next(open_containers[-1], None)
            if child is None:
                open_containers.pop()
                continue
            container, path = child
            if len(open_containers) >= self.max_depth:
                raise self._fail(f"nests deeper than {self.max_depth} levels", path)
            open_containers.append(self._members(container, path))
        return self.chars


def check_json(value: Any, where: str, *, max_depth: int, max_chars: int, strict: bool = True) -> int:
    """Raise ``MalformedPayload`` unless ``value`` is at most ``max_depth`` containers deep and
    about ``max_chars`` characters of JSON or less; return its approximate JSON size.

    ``strict``: ``value`` must also be storable as it is: JSON data only (dicts with string
    keys, lists, strings, numbers, booleans, ``None``) and valid Unicode (no lone surrogates,
    which a JSON writer refuses). ``where`` names ``value`` in the reason. The walk stops at the
    first limit passed.
    """
    return _Walk(where, max_depth, max_chars, strict).run(value)


def check_payload(payload: Any) -> None:
    """Raise ``MalformedPayload`` when an envelope's JSON payload (a dict or a list) is deeper
    than ``MAX_PAYLOAD_DEPTH`` or larger than ``MAX_PAYLOAD_CHARS``; other payloads (raw bytes,
    text) pass: their parser reads them. Not strict: a parser may ignore what a stored value
    may not hold."""
    if isinstance(payload, (dict, list)):
        check_json(payload, "payload", max_depth=MAX_PAYLOAD_DEPTH, max_chars=MAX_PAYLOAD_CHARS, strict=False)


def check_message(message: Message) -> None:
    """Raise ``MalformedPayload`` unless ``message`` can be stored and read back.

    Its names and native id are within ``MAX_NAME_CHARS`` / ``MAX_SHORT_CHARS``, its
    ``metadata`` is strict JSON within the free-form limits, and the whole message
    serialises as JSON (no lone surrogates in any string, no value a JSON writer refuses).
    Stores read what they wrote with the same models, so a message that passes reads back.
    """
    for name, value, limit in (
        ("channel", message.channel, MAX_NAME_CHARS),
        ("account", message.account, MAX_NAME_CHARS),
        ("native_id", message.native_id, MAX_SHORT_CHARS),
    ):
        if len(value) > limit:
            raise MalformedPayload(f"{name} of {len(value)} characters is over the {limit}-character limit")
    check_json(message.metadata, "metadata", max_depth=MAX_FREEFORM_DEPTH, max_chars=MAX_FREEFORM_CHARS)
    try:
        message.model_dump_json()
    except ValueError as exc:  # PydanticSerializationError: a lone surrogate, undecodable bytes
        raise MalformedPayload(f"message cannot be stored as JSON: {exc}") from exc
