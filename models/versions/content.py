"""A version's text: the model kinds, the detector manifest, parsing, normalised YAML, checksums.

>>> check_kind("warning")
'warning'
>>> checksum("abc")[:12]
'ba7816bf8f01'
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import Field, ValidationError

from zhizhi.models.config_file import ModelConfigError, Strict, VersionedRules, parse_config
from zhizhi.models.versions.errors import UnknownModel

Kind = Literal["warning", "trajectory", "detector"]
KINDS: tuple[str, ...] = get_args(Kind)
RULE_KINDS = ("warning", "trajectory")
NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"


class DetectorManifest(Strict):
    """A detector version: its weights file, their SHA-256 and the evaluation report."""

    name: str | None = Field(None, min_length=1, max_length=64, pattern=NAME_PATTERN,
                             description="Default: the weights file's stem.")
    version: int | None = Field(None, ge=1, le=2**31 - 1, description="Default: the next free version of the name.")
    weights_path: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    report: dict[str, Any] | str | None = Field(None, description="Evaluation report (metrics) or its path.")
    camera_id: str | None = Field(None, min_length=1, max_length=64,
                                  description="The one camera this detector is for (adapted to its site by "
                                  "zhizhi adapt); None: every camera.")



def config_class(kind: str) -> type[VersionedRules]:
    """The config class of a rule-model kind."""
    if kind == "warning":
        from zhizhi.models.warning.config import WarningModelConfig

        return WarningModelConfig
    if kind == "trajectory":
        from zhizhi.models.trajectory.config import TrajectoryModelConfig

        return TrajectoryModelConfig
    raise UnknownModel(f"{kind!r} is not a rule-model kind; use one of {list(RULE_KINDS)}")


def check_kind(kind: str) -> Kind:
    """``kind`` if known; :class:`UnknownModel` naming the kinds otherwise."""
    if kind not in KINDS:
        raise UnknownModel(f"unknown model kind {kind!r}; use one of {list(KINDS)}")
    return kind  # type: ignore[return-value]


def _load_text(content: str, source: str) -> object:
    try:
        return yaml.safe_load(content)
    except yaml.YAMLError as exc:
        raise ModelConfigError(source, [("", f"not valid YAML: {exc}")]) from None


def parse_content(kind: str, content: str, source: str = "<content>") -> VersionedRules | DetectorManifest:
    """Validate a version's text; :class:`ModelConfigError` lists every bad path."""
    data = _load_text(content, source)
    if check_kind(kind) == "detector":
        if not isinstance(data, dict):
            raise ModelConfigError(source, [("", "expected a JSON object with weights_path, sha256 and report")])
        try:
            return DetectorManifest.model_validate(data)
        except ValidationError as exc:
            errors = [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
            raise ModelConfigError(source, errors) from None
    return parse_config(config_class(kind), data, source)


def normalised(kind: str, content: str) -> dict[str, Any]:
    """The content as validated, every default filled in (what actually runs)."""
    return parse_content(kind, content).model_dump(mode="json")


def normalised_yaml(kind: str, content: str) -> str:
    """:func:`normalised` as YAML, in field order with each rule's ``kind`` after its ``id``
    (the text diffs compare)."""
    data = normalised(kind, content)
    if isinstance(data.get("rules"), list):
        data["rules"] = [_id_kind_first(r) for r in data["rules"]]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def _id_kind_first(rule: dict[str, Any]) -> dict[str, Any]:
    head = {k: rule[k] for k in ("id", "kind") if k in rule}
    return head | {k: v for k, v in rule.items() if k not in head}


def checksum(content: str) -> str:
    """SHA-256 of the stored text."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def file_sha256(path: Path | str) -> str:
    """SHA-256 of a file, read in chunks (weights, clips: the one helper for every file hash)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_weights(manifest: DetectorManifest, base_dir: Path | None = None, source: str = "<manifest>") -> Path:
    """The manifest's weights file, which must exist and match ``sha256``."""
    path = Path(manifest.weights_path).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_file():
        raise ModelConfigError(source, [("weights_path", f"file not found: {path}")])
    actual = file_sha256(path)
    if actual != manifest.sha256.lower():
        raise ModelConfigError(source, [("sha256", f"does not match the weights file ({actual})")])
    return path
