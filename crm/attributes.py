"""What a contact's custom attributes may hold: JSON the store can write and read back.

A contact's ``attributes`` are free JSON set by people and integrations. Unchecked, a document
nested 400 levels deep was stored and then broke every read of the contact (the serializer
gives up long before that depth), and a non-finite number or a NUL character breaks the write
on PostgreSQL half way. :func:`attributes_problem` says what is wrong with a value before
anything is written; it walks the value with an explicit stack, so no depth of nesting can
exhaust the interpreter's recursion limit while checking it.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["MAX_ATTRIBUTES_BYTES", "MAX_ATTRIBUTES_DEPTH", "attributes_problem", "text_problem"]

#: objects and arrays nested in one another, the attributes object itself being level 1
MAX_ATTRIBUTES_DEPTH = 16
#: the size of a contact's attributes as compact JSON (UTF-8): profile data, not a file store
MAX_ATTRIBUTES_BYTES = 64 * 1024


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored as text on every backend, or None."""
    if "\x00" in text:
        return "must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (it holds a lone surrogate)"
    return None


def attributes_problem(value: Any) -> str | None:
    """Why ``value`` cannot be stored as a contact's attributes, or None when it can.

    It must be a JSON object with string keys whose values are JSON (objects, arrays, strings,
    finite numbers, booleans, null), nested at most :data:`MAX_ATTRIBUTES_DEPTH` levels and at
    most :data:`MAX_ATTRIBUTES_BYTES` long as compact JSON.
    """
    if not isinstance(value, dict):
        return "attributes must be a JSON object"
    stack: list[tuple[Any, int, str]] = [(value, 1, "attributes")]
    while stack:
        node, depth, where = stack.pop()
        if isinstance(node, dict | list) and depth > MAX_ATTRIBUTES_DEPTH:
            return f"{where} nests deeper than {MAX_ATTRIBUTES_DEPTH} levels"
        if isinstance(node, dict):
            for key, item in node.items():
                if not isinstance(key, str):
                    return f"{where} has a key that is not a string"
                if (problem := text_problem(key)) is not None:
                    return f"a key of {where} {problem}"
                stack.append((item, depth + 1, f"{where}.{key[:40]}"))
        elif isinstance(node, list):
            stack.extend((item, depth + 1, f"{where}[{i}]") for i, item in enumerate(node))
        elif isinstance(node, str):
            if (problem := text_problem(node)) is not None:
                return f"{where} {problem}"
        elif isinstance(node, float):
            if not math.isfinite(node):
                return f"{where} is not a finite number"
        elif node is not None and not isinstance(node, bool | int):
            return f"{where} is not a JSON value"
    # Only now is dumping safe: the depth is bounded, so json.dumps cannot recurse too far.
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > MAX_ATTRIBUTES_BYTES:
        return f"attributes take {size} bytes as JSON; at most {MAX_ATTRIBUTES_BYTES} are kept per contact"
    return None
