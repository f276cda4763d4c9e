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

A county's own grid code table may not follow the pattern: grid codes of 14 or 16 digits,
micro-grids below grids, dedicated grids (专属网格) coded ``HM-ZS-001``. Its hierarchy, once
imported, is installed as the process's :class:`CodeBook` (:func:`install_book`): every code in
it is valid, its level and parent come from the table, and *within* follows the table's parents.
Codes not in the book (those of alerts stored under an earlier hierarchy) keep the prefix rule.
When every code of the book extends its parent's and no code is a prefix of another branch's
(:attr:`CodeBook.prefix_exact`), the prefix test is exact and SQL filters stay ``LIKE 'code%'``;
otherwise :func:`subtree` gives the explicit codes below a unit.
"""

from __future__ import annotations

import bisect
import re
from enum import StrEnum


class Level(StrEnum):
    """A level of the jurisdiction hierarchy, from the top down."""

    DISTRICT = "district"
    TOWN = "town"
    VILLAGE = "village"
    GRID = "grid"
    MICRO_GRID = "micro_grid"  # below a grid; only in an imported code table


LEVEL_DIGITS: dict[Level, int] = {
    Level.DISTRICT: 6,
    Level.TOWN: 9,
    Level.VILLAGE: 12,
    Level.GRID: 15,
}
LEVELS: tuple[Level, ...] = tuple(LEVEL_DIGITS)
_LEVEL_BY_LENGTH = {n: level for level, n in LEVEL_DIGITS.items()}
_CODE = re.compile(r"^\d{6}(\d{3}){0,3}$")
#: What any imported code may look like: letters, digits, ``-``, ``_`` and ``.``.
CODE_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z_.\-]{0,39}$"
_ANY_CODE = re.compile(CODE_PATTERN)
#: Longest code a store column holds.
CODE_LENGTH = 40


class InvalidCodeError(ValueError):
    """A string that is not a jurisdiction code."""


class CodeBook:
    """The parent and level of every unit of an imported hierarchy (the codes it makes valid).

    >>> book = CodeBook({"320684": None, "320684101": "320684", "V1": "320684101", "G-7": "V1"},
    ...                 {"320684": Level.DISTRICT, "320684101": Level.TOWN, "V1": Level.VILLAGE,
    ...                  "G-7": Level.GRID})
    >>> book.chain("G-7"), book.prefix_exact
    (['320684', '320684101', 'V1', 'G-7'], False)
    """

    def __init__(self, parents: dict[str, str | None], levels: dict[str, Level]) -> None:
        self.parents = dict(parents)
        self.levels = dict(levels)
        children: dict[str, list[str]] = {}
        for code, parent in self.parents.items():
            if parent is not None:
                children.setdefault(parent, []).append(code)
        self._children = children
        self._subtrees: dict[str, frozenset[str]] = {}
        self._ordered = sorted(self.parents)
        self.prefix_exact = self._check_prefix_exact()

    def __contains__(self, code: object) -> bool:
        return code in self.parents

    def chain(self, code: str) -> list[str]:
        """Codes from the top down to ``code``."""
        out = [code]
        seen = {code}
        while (parent := self.parents.get(out[-1])) is not None:
            if parent in seen:
                raise InvalidCodeError(f"jurisdiction code {code!r} has a cycle of parents")
            out.append(parent)
            seen.add(parent)
        return out[::-1]

    def subtree(self, code: str) -> frozenset[str]:
        """``code`` and every code below it."""
        if code not in self._subtrees:
            found, todo = {code}, [code]
            while todo:
                for child in self._children.get(todo.pop(), ()):
                    if child not in found:
                        found.add(child)
                        todo.append(child)
            self._subtrees[code] = frozenset(found)
        return self._subtrees[code]

    def within_parts(self, code: str) -> tuple[bool, frozenset[str]]:
        """How to select the codes at and below ``code``: ``(prefix, extra)``. ``prefix``: every
        code of the book starting with ``code`` is in its subtree, so ``startswith`` may be used;
        ``extra``: the subtree's codes ``startswith`` does not find (all of them when ``prefix``
        is false). Short SQL for a hierarchy where only a few codes (dedicated grids) break the
        pattern."""
        below = self.subtree(code)
        ordered = self._ordered
        i = bisect.bisect_left(ordered, code)
        j = bisect.bisect_left(ordered, code + "\U0010ffff", i)
        starting = ordered[i:j]
        if all(c in below for c in starting):
            return True, frozenset(c for c in below if not c.startswith(code))
        return False, below

    def _check_prefix_exact(self) -> bool:
        """Whether ``startswith`` is the same test as the parents: each code extends its parent's
        and the codes starting with a unit's code are exactly its subtree."""
        if any(p is not None and not c.startswith(p) for c, p in self.parents.items()):
            return False
        ordered = self._ordered
        for i, code in enumerate(ordered):
            j = bisect.bisect_left(ordered, code + "\U0010ffff", i)
            if j - i != len(self.subtree(code)):
                return False
        return True


_book: CodeBook | None = None


def install_book(book: CodeBook | None) -> None:
    """Make ``book`` the hierarchy that codes are read with in this process (``None``: none)."""
    global _book
    _book = book


def active_book() -> CodeBook | None:
    """The installed :class:`CodeBook`, if any."""
    return _book


def validate_code(code: str) -> str:
    """Return ``code`` unchanged, or raise :class:`InvalidCodeError` saying why."""
    if isinstance(code, str) and (_CODE.match(code) or (_book is not None and code in _book)):
        return code
    raise InvalidCodeError(
        f"invalid jurisdiction code {code!r}: expected 6 (district), 9 (town), "
        "12 (village) or 15 (grid) digits, or a code of the imported hierarchy"
    )


def is_code_like(code: object) -> bool:
    """Whether ``code`` has the form any unit's code may have (:data:`CODE_PATTERN`)."""
    return isinstance(code, str) and bool(_ANY_CODE.match(code))


def level_of(code: str) -> Level:
    """The level a code names."""
    if _book is not None and code in _book.levels:
        return _book.levels[code]
    return _LEVEL_BY_LENGTH[len(validate_code(code))]


def parent_of(code: str) -> str | None:
    """The parent's code, or ``None`` for a district."""
    if _book is not None and code in _book:
        return _book.parents[code]
    validate_code(code)
    return code[:-3] if len(code) > 6 else None


def chain(code: str) -> list[str]:
    """Codes from the district down to ``code`` itself."""
    if _book is not None and code in _book:
        return _book.chain(code)
    validate_code(code)
    return [code[:n] for n in range(6, len(code) + 1, 3)]


def is_within(code: str, ancestor: str) -> bool:
    """True when ``code`` is ``ancestor`` itself or lies below it."""
    book = _book
    if book is not None and not book.prefix_exact and code in book:
        return ancestor in book.chain(code)
    return code.startswith(ancestor)


def within_parts(code: str) -> tuple[bool, frozenset[str]]:
    """:meth:`CodeBook.within_parts` of the installed book; ``(True, {})`` (``startswith`` alone)
    without one, for a book whose codes nest by prefix, and for a code the book does not know."""
    book = _book
    if book is None or book.prefix_exact or code not in book:
        return True, frozenset()
    return book.within_parts(code)


def child_code(parent: str, index: int) -> str:
    """The code of the ``index``-th child (1-based) of ``parent``."""
    validate_code(parent)
    if len(parent) >= LEVEL_DIGITS[Level.GRID]:
        raise InvalidCodeError(f"a grid ({parent}) has no children")
    if not 1 <= index <= 999:
        raise InvalidCodeError(f"child index {index} out of range 1..999")
    return f"{parent}{index:03d}"
