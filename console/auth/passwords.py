"""Password hashing (Argon2id via argon2-cffi) and the password policy.

:meth:`Passwords.verify` takes ``None`` for a user that does not exist and then checks the
password against a dummy hash made with the same parameters, so that an unknown name costs
as much time as a wrong password.

The policy (:meth:`Passwords.check`, for the API, ``zhizhi users`` and the demo password)
refuses, saying why: an empty password, one shorter than ``min_length`` or longer than
:data:`MAX_PASSWORD_LENGTH`, fewer than four different characters (``aaaaaaaa``,
``12121212``), a shorter pattern repeated (``abcdabcd``), a keyboard, digit or alphabet run
(``12345678``, ``87654321``, ``qwertyui``, ``abcdefgh``), the user name inside (ignoring case
and punctuation), and a common password — one of ``common_passwords.txt`` (Django's list of
20,000, BSD licence: ``common_passwords.LICENSE``) or :data:`LOCAL_COMMON`, also with digits
or symbols before or after it (``Password2024!``).

>>> policy = Passwords()
>>> for weak in ("password", "12345678", "Qwerty123!", "abcdabcd"):
...     try:
...         policy.check(weak)
...     except WeakPassword as exc:
...         print(weak, "->", exc)
password -> the password is too common (a well-known password, maybe with digits or symbols added)
12345678 -> the password is a keyboard, digit or alphabet sequence
Qwerty123! -> the password is too common (a well-known password, maybe with digits or symbols added)
abcdabcd -> the password repeats a shorter pattern
>>> policy.check("Zhizhi-test-pass-7")
"""

from __future__ import annotations

import re
import secrets
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MAX_PASSWORD_LENGTH = 1024
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")
#: Common passwords of Chinese users and of this console that the shipped list lacks.
LOCAL_COMMON = frozenset({
    "admin888", "admin@123", "admin@888", "admin1234", "zhizhi", "zhizhi123", "zhizhi888",
    "wang123456", "li123456", "zhangsan", "zhangsan123", "lisi123456", "woaini521",
    "aini1314", "1314520", "520520", "5211314", "147258", "159357", "123456abc", "qwe123456",
    "asd123456", "zxc123456", "a1b2c3d4", "huawei123", "abc@123", "test1234", "root1234",
})
#: Runs a guesser tries first: digits, the alphabet, keyboard rows and columns (both ways).
SEQUENCES = (
    "01234567890123456789",
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
    "qwertyuiopasdfghjklzxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "!@#$%^&*()_+",
)
_EDGES = re.compile(r"^[\W\d_]+|[\W\d_]+$")
_PUNCTUATION = re.compile(r"[\W_]+")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (lower case) with :data:`LOCAL_COMMON`."""
    words = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").split("\n")
    return frozenset(w.strip().lower() for w in words if w.strip()) | LOCAL_COMMON


def is_sequence(password: str) -> bool:
    """Whether ``password`` (ignoring case) is one run of :data:`SEQUENCES`, either way.

    >>> is_sequence("12345678"), is_sequence("HGFEDCBA"), is_sequence("asdfghjk"), is_sequence("1357abcd")
    (True, True, True, False)
    """
    lower = password.lower()
    return any(lower in seq or lower[::-1] in seq for seq in SEQUENCES)


def is_repeated(password: str) -> bool:
    """Whether ``password`` is a shorter pattern said again (``abcabcabc``, ``Ab1!Ab1!``)."""
    return (password + password).find(password, 1) < len(password)


def is_common(password: str) -> bool:
    """Whether ``password`` (ignoring case), or it without the digits and symbols at its ends,
    is a common password."""
    lower = password.lower()
    common = common_passwords()
    return lower in common or _EDGES.sub("", lower) in common


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
        if username and _contains_name(password, username):
            raise WeakPassword("the password contains the user name")
        if is_sequence(password):
            raise WeakPassword("the password is a keyboard, digit or alphabet sequence")
        if is_repeated(password):
            raise WeakPassword("the password repeats a shorter pattern")
        if is_common(password):
            raise WeakPassword(
                "the password is too common (a well-known password, maybe with digits or symbols added)"
            )


def _contains_name(password: str, username: str) -> bool:
    lower, name = password.lower(), username.lower()
    bare = _PUNCTUATION.sub("", name)
    return name in lower or (len(bare) >= 3 and bare in _PUNCTUATION.sub("", lower))
