"""The effective configuration, field by field: value, source and description, secrets masked.

What ``zhizhi config show`` prints. A field's source is the first of, highest priority first,
``cli`` (a command-line option), ``environment`` (a ``ZHIZHI_*`` variable), ``file`` (the
settings file) and ``default`` that gives it. Passwords, tokens and secret keys are masked, and
so are the credentials inside URLs (``redis://:pw@host`` -> ``redis://:***@host``, and query
parameters such as ``?tk=`` of a tile URL).

>>> mask_url("postgresql+psycopg://zz:hunter2@db:5432/zhizhi")
'postgresql+psycopg://zz:***@db:5432/zhizhi'
>>> mask_url("https://t0.example.cn/wmts?layer=img&tk=abc123")
'https://t0.example.cn/wmts?layer=img&tk=***'
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import EnvSettingsSource, TomlConfigSettingsSource

from zhizhi.console.settings import Settings, config_file
from zhizhi.console.settings_keys import section_type
from zhizhi.layers.camera_registry import mask_stream_url

MASK = "***"
#: Field names whose values are secrets whatever their type.
SECRET_NAME = re.compile(r"(^|_)(password|passwd|token|secret|secret_key|api_key|apikey|credentials?)$",
                         re.IGNORECASE)
#: Query parameters of a URL that carry credentials.
SECRET_QUERY = re.compile(
    r"^(key|apikey|api_key|tk|token|access_token|auth|password|passwd|pwd|secret|sig|signature)$", re.IGNORECASE
)
SOURCES = ("cli", "environment", "file", "default")


@dataclass(frozen=True)
class ConfigEntry:
    """One field of the effective configuration."""

    key: str  # dotted path, as in the settings file: ``demo.seed``
    value: Any  # as JSON, secrets masked
    source: str  # one of SOURCES
    env: str  # the variable that sets it: ``ZHIZHI_DEMO__SEED``
    description: str
    secret: bool


@dataclass(frozen=True)
class ConfigReport:
    """The effective configuration and where the settings file is."""

    file: Path
    file_exists: bool
    entries: list[ConfigEntry]

    def to_json(self) -> dict[str, Any]:
        return {"file": str(self.file), "file_exists": self.file_exists,
                "settings": [asdict(entry) for entry in self.entries]}

    def lines(self) -> Iterator[str]:
        """``key = value  [source]  description``, one field a line."""
        yield f"# settings file: {self.file} ({'read' if self.file_exists else 'absent'})"
        width = max(len(e.key) for e in self.entries)
        for e in self.entries:
            where = f"{e.source}: {e.env}" if e.source == "environment" else e.source
            yield f"{e.key:<{width}} = {_show(e.value)}  [{where}]  {e.description}"


def config_report(cli: Mapping[str, Any] | None = None) -> ConfigReport:
    """The settings as the program sees them (``cli``: the command-line options given)."""
    cli = dict(cli or {})
    settings = Settings(**cli)
    path = config_file()
    given = {
        "cli": cli,
        "environment": EnvSettingsSource(Settings)(),
        "file": TomlConfigSettingsSource(Settings, toml_file=path)(),
    }
    values = settings.model_dump(mode="json")
    entries = [_entry(parts, info, values, given) for parts, info in fields(Settings)]
    return ConfigReport(path, path.is_file(), entries)


def fields(model: type[BaseModel], base: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], FieldInfo]]:
    """Every leaf field of ``model`` with its path; sections are walked into."""
    for name, info in model.model_fields.items():
        section = section_type(info.annotation)
        if section is not None:
            yield from fields(section, (*base, name))
        else:
            yield (*base, name), info


def is_secret(name: str, info: FieldInfo) -> bool:
    """Whether a field holds a secret: typed ``SecretStr`` or named like a password or token."""
    annotation = info.annotation
    types = (annotation, *typing.get_args(annotation))
    return SecretStr in types or bool(SECRET_NAME.search(name))


def mask(value: Any) -> Any:
    """A value with the credentials of any URL in it masked."""
    if isinstance(value, str):
        return mask_url(value)
    if isinstance(value, list):
        return [mask(v) for v in value]
    if isinstance(value, dict):
        return {k: MASK if SECRET_NAME.search(str(k)) else mask(v) for k, v in value.items()}
    return value


def mask_url(text: str) -> str:
    """``text`` with a URL's password and credential query parameters masked (other text as is).

    A password holding ``@``, ``/`` or ``#`` is masked whole, as camera streams' are
    (:func:`~zhizhi.layers.camera_registry.mask_stream_url`):

    >>> mask_url("rtsp://admin:p@ss/w0rd@10.0.0.9:554/ch1")
    'rtsp://admin:***@10.0.0.9:554/ch1'
    """
    text = mask_stream_url(text) or text
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:
        return text
    if not parts.scheme or not parts.netloc:
        return text
    netloc = parts.netloc
    if password is not None:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(SECRET_QUERY.match(k) for k, _ in pairs):
        query = urlencode([(k, MASK if SECRET_QUERY.match(k) else v) for k, v in pairs], safe="{}*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _entry(parts: tuple[str, ...], info: FieldInfo, values: dict, given: dict[str, Mapping]) -> ConfigEntry:
    value = _get(values, parts)
    secret = is_secret(parts[-1], info)
    if secret and value not in (None, ""):
        value = MASK
    source = next((name for name in SOURCES[:-1] if _has(given[name], parts)), "default")
    env = "ZHIZHI_" + "__".join(parts).upper()
    return ConfigEntry(".".join(parts), mask(value), source, env, (info.description or "").strip(), secret)


def _get(values: Mapping, parts: tuple[str, ...]) -> Any:
    for part in parts:
        values = values[part]
    return values


def _has(values: Mapping, parts: tuple[str, ...]) -> bool:
    for part in parts:
        if not isinstance(values, Mapping) or part not in values:
            return False
        values = values[part]
    return True


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


__all__ = ["ConfigEntry", "ConfigReport", "config_report", "fields", "is_secret", "mask", "mask_url"]
