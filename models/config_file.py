"""What every rule model's configuration shares: a name, a version, rules with unique ids,
and one way to read the file with every problem reported by its path.

Warning models over video (:mod:`models.warning.config`) and trajectory rules over telemetry
(:mod:`models.trajectory.config`) are both a :class:`VersionedRules` subclass read with
:func:`parse_config` / :func:`load_config`.

>>> class Tiny(VersionedRules):
...     rules: list[dict]
>>> parse_config(Tiny, {"name": "t", "version": 2, "rules": [{"id": "a"}]}).label
't@2'
>>> parse_config(Tiny, {"name": "t", "version": 0, "rules": []})
Traceback (most recent call last):
...
zhizhi.models.config_file.ModelConfigError: invalid warning model <config>:
  version: Input should be greater than or equal to 1
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ModelConfigError(ValueError):
    """A model configuration that cannot be used; ``errors`` holds (path, reason) pairs."""

    def __init__(self, source: str, errors: list[tuple[str, str]]) -> None:
        self.source = source
        self.errors = errors
        lines = "\n".join(f"  {path}: {reason}" for path, reason in errors)
        super().__init__(f"invalid warning model {source}:\n{lines}")


class Strict(BaseModel):
    """Unknown keys are errors (a typo must not silently fall back to a default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SeverityRule(Strict):
    """A rule whose context ``upgrades`` may only raise its ``severity`` (both declared by each
    kind of rule)."""

    @model_validator(mode="after")
    def _upgrades_raise(self):
        for u in self.upgrades:  # type: ignore[attr-defined]
            if u.severity.rank >= self.severity.rank:  # type: ignore[attr-defined]
                raise ValueError(f"upgrade to {u.severity} does not raise {self.severity}")  # type: ignore[attr-defined]
        return self


class VersionedRules(Strict):
    """A named, versioned set of rule instances (``rules`` is declared by each kind of model)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    version: int = Field(ge=1, le=2**31 - 1, description="Stored as a 32-bit integer.")
    description: str = ""

    @model_validator(mode="after")
    def _unique_ids(self):
        ids = [r["id"] if isinstance(r, dict) else r.id for r in self.rules]  # type: ignore[attr-defined]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate rule ids {dupes}")
        return self

    @property
    def label(self) -> str:
        """``name@version``, as alerts carry it."""
        return f"{self.name}@{self.version}"


Config = TypeVar("Config", bound=VersionedRules)


def parse_config(cls: type[Config], data: object, source: str = "<config>") -> Config:
    """Validate a parsed configuration; every problem is reported with its path."""
    if not isinstance(data, dict):
        raise ModelConfigError(source, [("", "expected a mapping with name, version and rules")])
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        errors = [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
        raise ModelConfigError(source, errors) from None


def load_config(cls: type[Config], path: Path) -> Config:
    """Read a YAML (or JSON) configuration file of ``cls``."""
    if not path.is_file():
        raise ModelConfigError(str(path), [("", "file not found")])
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ModelConfigError(str(path), [("", f"not valid YAML: {exc}")]) from None
    return parse_config(cls, data, str(path))
