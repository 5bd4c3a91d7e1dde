"""JSON answers of models the route built itself, serialised once.

A route returning a model has FastAPI validate it again against the route's response model
(in the thread pool, for a plain ``def`` route: one more hop) and then serialise it. The
list routes the inbox polls (``/search``, ``/conversations``) build their answer from
validated parts, so they return :func:`model_json` and declare ``response_model=`` for the
schema: the same bytes (the models have no aliases; FastAPI's defaults dump every field),
without the second validation.
"""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel

__all__ = ["model_json"]


def model_json(model: BaseModel) -> Response:
    """``model`` as an ``application/json`` answer (200), as FastAPI would serialise it."""
    return Response(model.model_dump_json(), media_type="application/json")
