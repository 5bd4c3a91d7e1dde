"""Canned responses: reusable reply texts with a shortcut, per-language variants and placeholders.

A canned response is a name, a unique ``shortcut`` (what an agent types: ``refund``) and
``variants``, language code (ISO 639-1, or ``default``) -> template. Templates are Jinja2,
rendered in a sandbox (:func:`render`): the placeholders are ``{{contact.first_name}}``,
``{{contact.name}}``, ``{{agent.name}}``, ``{{conversation.id}}`` and whatever else the caller
passes in those three scopes. A placeholder without a value (absent, ``None`` or blank) is an
error naming it (:class:`MissingPlaceholder`), never a blank in a message to a customer; so
is a name outside the three scopes. For HTML channels values are escaped (autoescape).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from crm.engine import write
from crm.errors import Conflict, InvalidRequest, NotFound
from crm.schema import canned_responses
from hub.models import utcnow

__all__ = [
    "SCOPES",
    "CannedResponse",
    "CannedStore",
    "MissingPlaceholder",
    "check_template",
    "pick_variant",
    "render",
]

#: the placeholder scopes a template may use
SCOPES = ("contact", "agent", "conversation")


class MissingPlaceholder(InvalidRequest):
    """A placeholder the template uses has no value (``name`` is its dotted name)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"placeholder {{{{{name}}}}} has no value here; fill it in or edit the text")
        self.name = name


class _Scope(dict[str, Any]):
    """A placeholder scope that knows its dotted path, so a missing value is named in full."""

    def __init__(self, path: str, values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self.path = path


class _Environment(SandboxedEnvironment):
    """The sandbox, looking values up in scopes: a missing or blank one raises, naming it."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, _Scope):
            return self._lookup(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, _Scope) and isinstance(argument, str):
            return self._lookup(obj, argument)
        return super().getitem(obj, argument)

    @staticmethod
    def _lookup(scope: _Scope, name: str) -> Any:
        value = scope.get(name)
        path = f"{scope.path}.{name}"
        if value is None or (isinstance(value, str) and not value.strip()):
            raise MissingPlaceholder(path)
        return _Scope(path, value) if isinstance(value, Mapping) else value


_PLAIN = _Environment(undefined=StrictUndefined, autoescape=False)
_HTML = _Environment(undefined=StrictUndefined, autoescape=True)


def check_template(template: str) -> None:
    """``InvalidRequest`` unless ``template`` parses and uses only the known scopes."""
    try:
        names = meta.find_undeclared_variables(_PLAIN.parse(template))
    except TemplateSyntaxError as exc:
        raise InvalidRequest(f"the template does not parse (line {exc.lineno}): {exc.message}") from exc
    unknown = sorted(set(names) - set(SCOPES))
    if unknown:
        raise InvalidRequest(
            f"unknown placeholder {unknown[0]!r}: placeholders start with {', '.join(SCOPES)}"
        )


def render(template: str, values: Mapping[str, Mapping[str, Any]], *, html: bool = False) -> str:
    """``template`` with its placeholders filled from ``values`` (scope -> name -> value).

    Raises :class:`MissingPlaceholder` naming the first placeholder without a value, and
    ``InvalidRequest`` for a template that does not parse or tries what the sandbox forbids.
    ``html``: values are HTML-escaped (the channel sends HTML).
    """
    check_template(template)
    environment = _HTML if html else _PLAIN
    scopes = {scope: _Scope(scope, values.get(scope) or {}) for scope in SCOPES}
    try:
        return environment.from_string(template).render(scopes)
    except UndefinedError as exc:  # a filter or test over an undefined value
        raise InvalidRequest(f"the template uses a value that is not there: {exc.message}") from exc
    except SecurityError as exc:
        raise InvalidRequest(f"the template tries something templates may not do: {exc}") from exc


def pick_variant(variants: Mapping[str, str], languages: list[str]) -> tuple[str, str]:
    """(language, template) for the first of ``languages`` a variant exists for, else the
    ``default`` one, else ``en``, else the first by code."""
    for language in [*languages, "default", "en", *sorted(variants)]:
        if language in variants:
            return language, variants[language]
    raise InvalidRequest("this canned response has no variants")


class CannedResponse(BaseModel):
    """A canned response as stored."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    shortcut: str
    variants: dict[str, str]
    created_by: str | None
    created_at: datetime
    updated_at: datetime


def _checked(variants: Mapping[str, str]) -> dict[str, str]:
    if not variants:
        raise InvalidRequest("a canned response needs at least one variant")
    for language, template in variants.items():
        try:
            check_template(template)
        except InvalidRequest as exc:
            raise InvalidRequest(f"variant {language!r}: {exc}") from exc
    return dict(variants)


class CannedStore:
    """CRUD over canned responses; shortcuts are unique (``Conflict`` otherwise)."""

    def __init__(self, engine: Engine, writer: Engine) -> None:
        self._engine = engine
        self._writer = writer

    def _write(self, work: Any) -> Any:
        try:
            return write(self._writer, work, attempts=3)
        except IntegrityError as exc:
            raise Conflict("another canned response has this shortcut") from exc

    def _shortcut_free(self, conn: Connection, shortcut: str, own_id: str | None) -> None:
        query = select(canned_responses.c.id).where(canned_responses.c.shortcut == shortcut)
        found = conn.execute(query).scalar_one_or_none()
        if found is not None and found != own_id:
            raise Conflict(f"the shortcut {shortcut!r} is taken by canned response {found}")

    def create(
        self, name: str, shortcut: str, variants: Mapping[str, str], actor_id: str | None
    ) -> CannedResponse:
        now = utcnow()
        values = {
            "id": f"can_{uuid.uuid4().hex}",
            "name": name,
            "shortcut": shortcut,
            "variants": _checked(variants),
            "created_by": actor_id,
            "created_at": now,
            "updated_at": now,
        }

        def work(conn: Connection) -> None:
            self._shortcut_free(conn, shortcut, None)
            conn.execute(insert(canned_responses).values(values))

        self._write(work)
        return CannedResponse.model_validate(values)

    def get(self, canned_id: str) -> CannedResponse | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(canned_responses).where(canned_responses.c.id == canned_id)).mappings()
            found = row.first()
            return CannedResponse.model_validate(dict(found)) if found is not None else None

    def list(self, q: str | None = None, language: str | None = None) -> list[CannedResponse]:
        """By shortcut; ``q`` keeps those whose shortcut or name contains it, ``language`` those
        with a variant in it (or a ``default`` one)."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(canned_responses).order_by(canned_responses.c.shortcut)).mappings()
            found = [CannedResponse.model_validate(dict(row)) for row in rows]
        needle = (q or "").strip().lower().lstrip("/")
        return [
            c
            for c in found
            if (not needle or needle in c.shortcut.lower() or needle in c.name.lower())
            and (language is None or language in c.variants or "default" in c.variants)
        ]

    def update(
        self,
        canned_id: str,
        *,
        name: str | None = None,
        shortcut: str | None = None,
        variants: Mapping[str, str] | None = None,
    ) -> tuple[CannedResponse, CannedResponse]:
        """Change what is given; returns (before, after)."""
        before = self.get(canned_id)
        if before is None:
            raise NotFound(f"no canned response {canned_id}")
        values: dict[str, Any] = {"updated_at": utcnow()}
        if name is not None:
            values["name"] = name
        if shortcut is not None:
            values["shortcut"] = shortcut
        if variants is not None:
            values["variants"] = _checked(variants)

        def work(conn: Connection) -> None:
            if shortcut is not None:
                self._shortcut_free(conn, shortcut, canned_id)
            statement = update(canned_responses).where(canned_responses.c.id == canned_id).values(values)
            if not conn.execute(statement).rowcount:
                raise NotFound(f"no canned response {canned_id}")

        self._write(work)
        after = self.get(canned_id)
        assert after is not None
        return before, after

    def delete(self, canned_id: str) -> CannedResponse:
        found = self.get(canned_id)
        if found is None:
            raise NotFound(f"no canned response {canned_id}")
        statement = delete(canned_responses).where(canned_responses.c.id == canned_id)
        write(self._writer, lambda conn: conn.execute(statement))
        return found
