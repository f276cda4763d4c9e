"""Administrative codes of the jurisdiction hierarchy.

Every level's code extends its parent's, so ancestry is a prefix test:

========  ======  ===================  =========================
level     digits  example              made of
========  ======  ===================  =========================
district  6       ``320612``           the adcode
town      9       ``320612101``        district + 3 digits
village   12      ``320612101001``     town + 3 digits
grid      15      ``320612101001001``  village + 3 digits
========  ======  ===================  =========================

>>> chain("320612101001001")
['320612', '320612101', '320612101001', '320612101001001']
>>> is_within("320612101001", "320612101")
True
"""

from __future__ import annotations

import re
from enum import StrEnum


class Level(StrEnum):
    """A level of the jurisdiction hierarchy, from the top down."""

    DISTRICT = "district"
    TOWN = "town"
    VILLAGE = "village"
    GRID = "grid"


LEVEL_DIGITS: dict[Level, int] = {
    Level.DISTRICT: 6,
    Level.TOWN: 9,
    Level.VILLAGE: 12,
    Level.GRID: 15,
}
LEVELS: tuple[Level, ...] = tuple(LEVEL_DIGITS)
_LEVEL_BY_LENGTH = {n: level for level, n in LEVEL_DIGITS.items()}
_CODE = re.compile(r"^\d{6}(\d{3}){0,3}$")


class InvalidCodeError(ValueError):
    """A string that is not a jurisdiction code."""


def validate_code(code: str) -> str:
    """Return ``code`` unchanged, or raise :class:`InvalidCodeError` saying why."""
    if not isinstance(code, str) or not _CODE.match(code):
        raise InvalidCodeError(
            f"invalid jurisdiction code {code!r}: expected 6 (district), 9 (town), "
            "12 (village) or 15 (grid) digits"
        )
    return code


def level_of(code: str) -> Level:
    """The level a code names."""
    return _LEVEL_BY_LENGTH[len(validate_code(code))]


def parent_of(code: str) -> str | None:
    """The parent's code, or ``None`` for a district."""
    validate_code(code)
    return code[:-3] if len(code) > 6 else None


def chain(code: str) -> list[str]:
    """Codes from the district down to ``code`` itself."""
    validate_code(code)
    return [code[:n] for n in range(6, len(code) + 1, 3)]


def is_within(code: str, ancestor: str) -> bool:
    """True when ``code`` is ``ancestor`` itself or lies below it."""
    return code.startswith(ancestor)


def child_code(parent: str, index: int) -> str:
    """The code of the ``index``-th child (1-based) of ``parent``."""
    validate_code(parent)
    if len(parent) >= LEVEL_DIGITS[Level.GRID]:
        raise InvalidCodeError(f"a grid ({parent}) has no children")
    if not 1 <= index <= 999:
        raise InvalidCodeError(f"child index {index} out of range 1..999")
    return f"{parent}{index:03d}"
