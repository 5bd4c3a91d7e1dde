"""Request bodies the stores can hold and read back, within sizes that make sense.

Every request model that carries data to a store derives from :class:`RequestBody`: each
string in it, at any depth, must hold no NUL character (PostgreSQL refuses it in text) and no
lone surrogate (neither SQLite nor the JSON encoder can write one), so a write never fails
half way. Lengths are capped where the field is declared, with the caps below for the common
kinds (a 100 MB tag was once stored and then weighed on every inbox page). A value outside
these bounds is refused with 422 before anything is written.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator

from crm.attributes import text_problem

__all__ = [
    "MAX_ID_CHARS",
    "MAX_LABEL_CHARS",
    "MAX_TAG_CHARS",
    "MAX_TEXT_CHARS",
    "Id",
    "Label",
    "RequestBody",
    "Tag",
]

#: a tag: a label, not a document
MAX_TAG_CHARS = 100
#: an id of ours (``con_...``, ``idn_...``, ``seg_...``) is far shorter; room for foreign ones
MAX_ID_CHARS = 128
#: an assignee, a queue, an actor
MAX_LABEL_CHARS = 256
#: reasons, descriptions, criteria
MAX_TEXT_CHARS = 4000

Tag = Annotated[str, Field(max_length=MAX_TAG_CHARS)]
Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]
Label = Annotated[str, Field(max_length=MAX_LABEL_CHARS)]


class RequestBody(BaseModel):
    """A request body whose strings, wherever they are, can be stored on every backend."""

    @field_validator("*")
    @classmethod
    def _storable_strings(cls, value: Any) -> Any:
        # An explicit stack: a field holding free JSON may nest deeply, and checking it must
        # not be what exhausts the recursion limit (its own depth cap is checked elsewhere).
        stack = [value]
        while stack:
            node = stack.pop()
            if isinstance(node, str):
                if (problem := text_problem(node)) is not None:
                    raise ValueError(problem)
            elif isinstance(node, dict):
                stack.extend(node.keys())
                stack.extend(node.values())
            elif isinstance(node, list | tuple):
                stack.extend(node)
            elif isinstance(node, BaseModel):  # a nested part of the body (an SLA's escalation)
                stack.extend(getattr(node, name) for name in type(node).model_fields)
        return value
