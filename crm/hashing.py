"""Secrets and their digests: new credentials, SHA-256 digests of them, argon2 password hashes.

The contract the credential store relies on:

* :func:`new_secret` is 32 random bytes (``secrets.token_urlsafe``) behind a recognisable
  prefix (``parley_pat_`` for API tokens, ``parley_otl_`` for one-time sign-in links), so a
  leaked token is recognisable by secret scanners and by people;
* :func:`digest` is what is stored of such a secret: SHA-256 suffices because the secret is
  high-entropy (no dictionary to try), and it lets a lookup go through a unique index;
* passwords are low-entropy, so they get argon2id (:func:`hash_password`) with the library's
  RFC 9106 defaults; :func:`check_password` says whether the hash should be upgraded;
* :func:`waste_a_password_check` costs what a real check costs, for callers that found no
  account: failing fast for unknown emails would tell who has an account.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = [
    "LINK_PREFIX",
    "TOKEN_PREFIX",
    "check_password",
    "digest",
    "digests_match",
    "hash_password",
    "new_secret",
    "waste_a_password_check",
]

#: API tokens look like ``parley_pat_<43 url-safe characters>``
TOKEN_PREFIX = "parley_pat_"
#: one-time sign-in link tokens look like ``parley_otl_<43 url-safe characters>``
LINK_PREFIX = "parley_otl_"

_hasher = PasswordHasher()


def new_secret(prefix: str = "") -> str:
    """A fresh credential: ``prefix`` and 32 random bytes, URL-safe."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """The SHA-256 hex digest stored in place of a high-entropy ``secret``."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def digests_match(secret: str, stored_digest: str) -> bool:
    """Whether ``secret`` is the one ``stored_digest`` was made of, in constant time."""
    return hmac.compare_digest(digest(secret), stored_digest)


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted; the parameters are part of the hash)."""
    return _hasher.hash(password)


def check_password(password_hash: str, password: str) -> tuple[bool, bool]:
    """``(matches, needs_rehash)``: whether ``password`` matches, and whether a match should be
    re-hashed because the hash's parameters are older than the current ones."""
    try:
        _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, False
    return True, _hasher.check_needs_rehash(password_hash)


@cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def waste_a_password_check(password: str) -> None:
    """Spend as long as checking ``password`` against a real hash would (and match nothing)."""
    check_password(_dummy_hash(), password)
