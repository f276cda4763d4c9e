"""Two versions of a model compared: the changed paths of their normalised documents.

>>> [str(c) for c in diff_changes({"rules": [{"id": "a", "s": 1}]}, {"rules": [{"id": "a", "s": 2}]})]
['rules.a.s: 1 -> 2']
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from zhizhi.models.versions.content import Kind


class Change(BaseModel):
    """One changed path of a diff; ``old``/``new`` are ``None`` with ``added``/``removed``."""

    path: str
    old: Any = None
    new: Any = None
    added: bool = False
    removed: bool = False

    def __str__(self) -> str:
        old = "(absent)" if self.added else _show(self.old)
        new = "(absent)" if self.removed else _show(self.new)
        return f"{self.path}: {old} -> {new}"


class ModelDiff(BaseModel):
    """Two versions compared: a unified diff of their normalised YAML and the changed paths."""

    kind: Kind
    name: str
    a: int
    b: int
    unified: str
    changes: list[Change]

    def __str__(self) -> str:
        lines = [str(c) for c in self.changes] or ["(no changes)"]
        return self.unified + ("\n" if self.unified and not self.unified.endswith("\n") else "") + "\n".join(lines)



def diff_changes(a: Any, b: Any, path: str = "") -> list[Change]:
    """The changed paths between two normalised documents.

    Lists of objects with ``id`` (rules) are matched by id (``rules.hazmat-stop.min_duration_s``),
    other lists of objects by position, lists of plain values compared whole.
    """
    if isinstance(a, list) and isinstance(b, list) and (a or b) and _objects(a) and _objects(b):
        keyed_a, keyed_b = _by_id(a), _by_id(b)
        if keyed_a is not None and keyed_b is not None:
            return diff_changes(keyed_a, keyed_b, path)
        return diff_changes(dict(enumerate(a)), dict(enumerate(b)), path)
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[Change] = []
        for key in [*a, *(k for k in b if k not in a)]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in b:
                out.append(Change(path=sub, old=a[key], removed=True))
            elif key not in a:
                out.append(Change(path=sub, new=b[key], added=True))
            else:
                out.extend(diff_changes(a[key], b[key], sub))
        return out
    return [] if a == b else [Change(path=path, old=a, new=b)]


def _objects(items: list) -> bool:
    return all(isinstance(x, dict) for x in items)


def _by_id(items: list) -> dict[str, Any] | None:
    if not all("id" in x for x in items):
        return None
    keyed = {str(x["id"]): x for x in items}
    return keyed if len(keyed) == len(items) else None


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
