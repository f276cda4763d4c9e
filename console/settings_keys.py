"""Which ``ZHIZHI_*`` environment variables name a setting, and the check that refuses the rest.

pydantic-settings reads only the variables of declared fields, so a typo such as
``ZHIZHI_PORTT=9000`` would be dropped without a word (a typo below a section, such as
``ZHIZHI_DEMO__SEEED``, is caught by the section's ``extra="forbid"``, but named by its path,
not by the variable). :class:`StrictEnvironment` runs before the other sources and refuses any
``ZHIZHI_*`` variable that names no field, naming it and the closest declared one.

>>> from zhizhi.console.settings import Settings
>>> names = EnvNames.of(Settings, "ZHIZHI_", "__")
>>> [n in names for n in ("ZHIZHI_DEMO__SEED", "ZHIZHI_ALERTS__POLICY__TIME_LIMITS_S__FIRE", "ZHIZHI_PORTT")]
[True, True, False]
>>> names.closest("ZHIZHI_DEMO__SEEED")
'ZHIZHI_DEMO__SEED'
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

#: ``ZHIZHI_*`` variables that are not settings: where the settings file is, and the test
#: tools' own (each is read where its description says).
OTHER_VARIABLES: dict[str, str] = {
    "ZHIZHI_CONFIG": "the settings file (default: ./zhizhi.toml)",
    "ZHIZHI_TEST_POSTGRES": "tests: the PostgreSQL server they create their databases on (tests/db_support.py)",
    "ZHIZHI_UPDATE_SCREENSHOTS": "tests: 1 writes the browser tests' screenshots into docs/screenshots",
    "ZHIZHI_CHROMIUM": "tests: the Chromium the browser tests drive (tests/browser.py)",
}


def section_type(annotation: Any) -> type[BaseModel] | None:
    """The model class of a field that is a section (``Demo`` or ``Demo | None``), else ``None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [a for a in typing.get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
        return models[0] if len(models) == 1 else None
    return None


def is_mapping(annotation: Any) -> bool:
    """Whether a field holds a mapping (its keys are data, not declared names)."""
    origin = typing.get_origin(annotation) or annotation
    return isinstance(origin, type) and issubclass(origin, Mapping)


@dataclass(frozen=True)
class EnvNames:
    """The variable names of a model's fields: exact ones, and prefixes of mappings."""

    exact: frozenset[str]
    open_prefixes: frozenset[str]

    @classmethod
    def of(cls, model: type[BaseModel], prefix: str, delimiter: str) -> EnvNames:
        exact: set[str] = set()
        open_prefixes: set[str] = set()

        def walk(fields: dict[str, FieldInfo], base: str) -> None:
            for name, info in fields.items():
                full = f"{base}{name}".upper()
                exact.add(full)
                section = section_type(info.annotation)
                if section is not None:
                    walk(section.model_fields, full + delimiter)
                elif is_mapping(info.annotation):
                    open_prefixes.add(full + delimiter)

        walk(model.model_fields, prefix)
        return cls(frozenset(exact), frozenset(open_prefixes))

    def __contains__(self, name: str) -> bool:
        upper = name.upper()
        return upper in self.exact or any(upper.startswith(p) for p in self.open_prefixes)

    def closest(self, name: str) -> str | None:
        """The declared name nearest to ``name`` (a likely typo's intent), if any is near."""
        matches = difflib.get_close_matches(name.upper(), sorted(self.exact), n=1, cutoff=0.75)
        return matches[0] if matches else None


def unknown_variables(settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> list[str]:
    """The ``ZHIZHI_*`` names of ``environ`` that are neither a field nor in :data:`OTHER_VARIABLES`."""
    config = settings_cls.model_config
    prefix = str(config.get("env_prefix") or "").upper()
    names = EnvNames.of(settings_cls, prefix, str(config.get("env_nested_delimiter") or "__"))
    others = {k.upper() for k in OTHER_VARIABLES}
    return sorted(k for k in environ if k.upper().startswith(prefix) and k.upper() not in others and k not in names)


class StrictEnvironment(PydanticBaseSettingsSource):
    """A settings source that adds nothing and refuses unknown ``ZHIZHI_*`` variables.

    The error is a :class:`pydantic.ValidationError` naming each variable (and the nearest
    declared name), never its value.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str] | None = None) -> None:
        super().__init__(settings_cls)
        self.environ = os.environ if environ is None else environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        unknown = unknown_variables(self.settings_cls, self.environ)
        if unknown:
            raise unknown_error(self.settings_cls, unknown)
        return {}


def unknown_error(settings_cls: type[BaseSettings], names: list[str]) -> ValidationError:
    """One error per unknown variable, located at its name."""
    config = settings_cls.model_config
    declared = EnvNames.of(settings_cls, str(config.get("env_prefix") or "").upper(),
                           str(config.get("env_nested_delimiter") or "__"))
    errors: list[InitErrorDetails] = []
    for name in names:
        hint = declared.closest(name)
        message = "unknown setting: no field is named by environment variable {name}" + (
            "; did you mean {hint}?" if hint else "")
        errors.append(InitErrorDetails(
            type=PydanticCustomError("unknown_setting", message, {"name": name, "hint": hint or ""}),
            loc=(name,), input=name,
        ))
    return ValidationError.from_exception_data(settings_cls.__name__, errors, hide_input=True)


__all__ = ["OTHER_VARIABLES", "EnvNames", "StrictEnvironment", "is_mapping", "section_type", "unknown_variables"]
