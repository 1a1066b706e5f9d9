"""Password hashes: argon2id through argon2-cffi, with the library's recommended parameters.

A hash string carries its own parameters and salt, so parameters can be raised later: a sign-in with an
older hash stores a new one (``needs_rehash``). Checking a sign-in for a user who does not exist still
hashes once (``verify_or_waste``), so the answer's timing does not tell which names exist.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """A new argon2id hash of ``password`` (random salt), about 0.1 s of one core and 64 MiB."""
    return _hasher.hash(password)


def verify(password_hash: str, password: str) -> bool:
    """Whether ``password`` is the one ``password_hash`` was made from (constant time)."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@cache
def _decoy() -> str:
    return _hasher.hash("not anyone's password")


def verify_or_waste(password_hash: str | None, password: str) -> bool:
    """``verify``, or as much work for nothing when there is no hash (no such user, no password set)."""
    if password_hash is None:
        verify(_decoy(), password)
        return False
    return verify(password_hash, password)
