"""Which column of a county's hierarchy file holds a unit's code, name, parent and kind.

An explicit mapping (``grids.parent=所属村居``) wins; otherwise the common Chinese, English and
pinyin-abbreviation names are detected, case-insensitively: an exact name first, then a name that
contains a telling word (``网格编码`` holds a code, ``所属村居编码`` a parent's code).

>>> detect_fields("grids", ["FID", "网格编码", "网格名称", "所属村居编码", "所属村居名称"])
{'code': '网格编码', 'name': '网格名称', 'parent': '所属村居编码'}
>>> parse_field("grids.parent=所属村居")
('grids', 'parent', '所属村居')
"""

from __future__ import annotations

ROLES: tuple[str, ...] = ("code", "name", "parent", "kind")
REQUIRED_ROLES: tuple[str, ...] = ("code", "name")
LEVELS: tuple[str, ...] = ("towns", "villages", "grids", "micro_grids")
_LEVEL_ALIASES = {
    "town": "towns", "towns": "towns",
    "village": "villages", "villages": "villages",
    "grid": "grids", "grids": "grids",
    "micro-grid": "micro_grids", "micro-grids": "micro_grids", "micro_grid": "micro_grids",
    "micro_grids": "micro_grids", "microgrids": "micro_grids",
}

# Exact names (compared lower-case), then words a longer name contains.
_EXACT: dict[str, tuple[str, ...]] = {
    "parent": ("所属", "上级", "父级", "parent", "ss", "sj", "ssbm", "sjbm", "sjdm", "ssdm", "parent_code", "pcode"),
    "code": ("编码", "代码", "编号", "code", "dm", "bm", "bh", "adcode"),
    "name": ("名称", "名字", "name", "mc"),
    "kind": ("类型", "类别", "种类", "kind", "type", "lx", "lb"),
}
_WORDS: dict[str, tuple[str, ...]] = {
    "parent": ("所属", "上级", "父级", "parent"),
    "code": ("编码", "代码", "编号", "code"),
    "name": ("名称", "名字", "name"),
    "kind": ("类型", "类别", "kind", "type"),
}


class FieldMappingError(ValueError):
    """A field mapping that cannot be used."""


def parse_field(spec: str) -> tuple[str, str, str]:
    """``LEVEL.ROLE=NAME`` as ``(level, role, column)``; the level spelled as in :data:`LEVELS`."""
    key, sep, column = spec.partition("=")
    level, dot, role = key.strip().partition(".")
    level_key = _LEVEL_ALIASES.get(level.strip().lower())
    role = role.strip().lower()
    if not sep or not dot or not column.strip() or level_key is None or role not in ROLES:
        raise FieldMappingError(
            f"bad --field {spec!r}: expected LEVEL.ROLE=NAME with LEVEL one of towns, villages, grids, "
            f"micro-grids and ROLE one of {', '.join(ROLES)}"
        )
    return level_key, role, column.strip()


def _has_word(column: str, role: str) -> bool:
    low = column.lower()
    return any(word in low for word in _WORDS[role])


def _pick(role: str, columns: list[str], taken: set[str]) -> str | None:
    """The one column for ``role``, or ``None``; several equally good ones are an error."""
    free = [c for c in columns if c not in taken]
    exact = [c for c in free if c.lower() in _EXACT[role]]
    tiers = [exact]
    if role == "parent":  # a parent's code before a parent's name
        tiers.append([c for c in free if _has_word(c, "parent") and _has_word(c, "code")])
        tiers.append([c for c in free if _has_word(c, "parent") and not _has_word(c, "name")])
    else:
        tiers.append([c for c in free if _has_word(c, role) and not _has_word(c, "parent")])
    for found in tiers:
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise FieldMappingError(f"several columns could hold the {role}: {', '.join(found)}")
    return None


def detect_fields(level: str, columns: list[str], explicit: dict[str, str] | None = None) -> dict[str, str]:
    """Role -> column for one level's file: ``explicit`` first, the rest detected.

    Raises :class:`FieldMappingError` naming the level and the columns seen when an explicit
    column is absent or a required role (code, name) cannot be found.
    """
    explicit = dict(explicit or {})
    seen = ", ".join(columns) or "none"
    for role, column in explicit.items():
        if column not in columns:
            raise FieldMappingError(f"{level}: no column {column!r} for {role} (columns: {seen})")
    mapping = dict(explicit)
    taken = set(explicit.values())
    for role in ("parent", "code", "name", "kind"):  # parent first: 上级编码 is not the code
        if role in mapping:
            continue
        try:
            column = _pick(role, columns, taken)
        except FieldMappingError as exc:
            raise FieldMappingError(f"{level}: {exc}; name it with --field {level}.{role}=NAME") from None
        if column is not None:
            mapping[role] = column
            taken.add(column)
    for role in REQUIRED_ROLES:
        if role not in mapping:
            raise FieldMappingError(
                f"{level}: no column for the {role} found (columns: {seen}); "
                f"name it with --field {level}.{role}=NAME"
            )
    return {role: mapping[role] for role in ROLES if role in mapping}
