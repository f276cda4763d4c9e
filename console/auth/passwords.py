"""Password hashing (Argon2id via argon2-cffi) and the password policy.

:meth:`Passwords.verify` takes ``None`` for a user that does not exist and then checks the
password against a dummy hash made with the same parameters, so that an unknown name costs
as much time as a wrong password.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MAX_PASSWORD_LENGTH = 1024


class WeakPassword(ValueError):
    """A password the policy refuses, with the reason."""


class Passwords:
    """Hash and verify passwords; check new ones against the policy."""

    def __init__(self, min_length: int = 8) -> None:
        self.min_length = min_length
        self._hasher = PasswordHasher()
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        """The encoded Argon2id hash (salt and parameters included)."""
        return self._hasher.hash(password)

    def verify(self, encoded: str | None, password: str) -> bool:
        """True when ``password`` matches ``encoded``; ``None`` verifies against a dummy."""
        try:
            ok = self._hasher.verify(encoded or self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return ok and encoded is not None

    def needs_rehash(self, encoded: str) -> bool:
        """True when ``encoded`` was made with other parameters than today's."""
        return self._hasher.check_needs_rehash(encoded)

    def check(self, password: str, username: str = "") -> None:
        """Raise :class:`WeakPassword` saying why ``password`` is not acceptable."""
        if not password or not password.strip():
            raise WeakPassword("the password is empty")
        if len(password) < self.min_length:
            raise WeakPassword(f"the password is shorter than {self.min_length} characters")
        if len(password) > MAX_PASSWORD_LENGTH:
            raise WeakPassword(f"the password is longer than {MAX_PASSWORD_LENGTH} characters")
        if len(set(password)) < 4:
            raise WeakPassword("the password repeats too few different characters")
        if username and username.lower() in password.lower():
            raise WeakPassword("the password contains the user name")
