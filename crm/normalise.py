"""Normalisation of the email addresses and phone numbers identity resolution merges on.

Pure functions. An address or number is *mergeable* only when it is valid and belongs to one
person: role and shared addresses (``support@``, ``noreply@``...) and the hub's own addresses
and numbers are kept but never merged on; invalid ones are kept as raw handles with a reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

from hub.settings import CRMSettings

__all__ = ["Normalised", "Resolver", "normalise_email", "normalise_phone"]

# Unicode letters and digits are fine in IDN labels; spaces, quotes and brackets are not.
_LOCAL_BAD = re.compile(r"[\s\x00-\x1f\x7f\"(),:;<>\[\]\\]|[\ud800-\udfff]")
_LABEL = re.compile(r"^[^\W_]+(?:-+[^\W_]+)*$")


@dataclass(frozen=True)
class Normalised:
    """``value`` is the normalised form when valid, else the raw text; ``note`` says why it
    is not merged on (``None`` means it is a merge key)."""

    kind: str
    value: str
    note: str | None = None

    @property
    def mergeable(self) -> bool:
        return self.note is None


def _decode_domain(domain: str) -> str:
    labels = []
    for label in domain.rstrip(".").split("."):
        if label.startswith("xn--"):
            label = label.encode("ascii").decode("idna")
        labels.append(label.lower())
    return ".".join(labels)


def normalise_email(raw: str, *, fold_plus_tags: bool = False) -> Normalised:
    """Lower-case and IDN-decode ``raw``; fold ``local+tag`` only when asked."""
    text = raw.strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    text = text.strip().strip("<>").strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        return Normalised("email", raw, "invalid email: no local part or domain")
    if len(local) > 64 or _LOCAL_BAD.search(local) or local.startswith(".") or ".." in local:
        return Normalised("email", raw, "invalid email: malformed local part")
    try:
        domain = _decode_domain(domain)
    except UnicodeError:
        return Normalised("email", raw, "invalid email: undecodable IDN domain")
    labels = domain.split(".")
    if len(labels) < 2 or not all(len(label) <= 63 and _LABEL.match(label) for label in labels):
        return Normalised("email", raw, "invalid email: malformed domain")
    local = local.lower()
    if fold_plus_tags and "+" in local[1:]:
        local = local.split("+", 1)[0]
    return Normalised("email", f"{local}@{domain}")


def normalise_phone(raw: str, *, default_region: str, strict: bool = False) -> Normalised:
    """E.164 via ``phonenumbers``; numbers without ``+`` are read in ``default_region``.

    A number must have a possible length for its country; ``strict`` also requires it to be
    in an allocated range (which rejects the fictional ranges demos and tests use).
    """
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        return Normalised("phone", raw, f"invalid phone: {exc._msg}")
    # local-only numbers (no area code) cannot identify anyone across channels
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return Normalised("phone", raw, "invalid phone: impossible length for its country")
    if strict and not phonenumbers.is_valid_number(number):
        return Normalised("phone", raw, "invalid phone: not in an allocated range")
    return Normalised("phone", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


class Resolver:
    """Applies the CRM settings: normalises and says whether a value may be merged on.

    ``own_addresses`` are the brand's own email addresses and phone numbers
    (``Settings.own_addresses()``): never merged on.
    """

    def __init__(self, settings: CRMSettings, own_addresses: Sequence[str] = ()) -> None:
        self._settings = settings
        self._roles = {part.lower() for part in settings.role_local_parts}
        own_emails: set[str] = set()
        own_phones: set[str] = set()
        for item in own_addresses:
            if "@" in item:
                own_emails.add(normalise_email(item, fold_plus_tags=settings.fold_plus_tags).value)
            else:
                own_phones.add(self._phone(item).value)
        self._own_emails = own_emails
        self._own_phones = own_phones
        # the same people write again and again: parsing is the expensive part
        self.email = lru_cache(maxsize=65_536)(self._email)  # type: ignore[method-assign]
        self.phone = lru_cache(maxsize=65_536)(self._phone_checked)  # type: ignore[method-assign]

    def email(self, raw: str) -> Normalised:
        """``raw`` normalised, with a note when it must not be merged on."""
        return self._email(raw)

    def phone(self, raw: str) -> Normalised:
        """``raw`` as E.164, with a note when it must not be merged on."""
        return self._phone_checked(raw)

    def _email(self, raw: str) -> Normalised:
        result = normalise_email(raw, fold_plus_tags=self._settings.fold_plus_tags)
        if not result.mergeable:
            return result
        local = result.value.rsplit("@", 1)[0].split("+", 1)[0]
        if local in self._roles:
            return Normalised("email", result.value, "role address: never merged on")
        if result.value in self._own_emails:
            return Normalised("email", result.value, "the hub's own address: never merged on")
        return result

    def _phone(self, raw: str) -> Normalised:
        settings = self._settings
        return normalise_phone(
            raw, default_region=settings.default_region, strict=settings.strict_phone_validation
        )

    def _phone_checked(self, raw: str) -> Normalised:
        result = self._phone(raw)
        if result.mergeable and result.value in self._own_phones:
            return Normalised("phone", result.value, "the hub's own number: never merged on")
        return result
