"""A stored model version and an audit entry, as the store returns them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict

from zhizhi.bus.messages.models import ModelPromoted
from zhizhi.models.config_file import VersionedRules
from zhizhi.models.versions.content import DetectorManifest, Kind, parse_content

Status = Literal["draft", "production", "retired"]
Action = Literal["add", "promote", "rollback", "retire"]


class ModelVersion(BaseModel):
    """One stored version of a model."""

    model_config = ConfigDict(frozen=True)

    id: int
    kind: Kind
    name: str
    version: int
    content: str
    status: Status
    author: str
    reason: str
    created_ts: float
    checksum: str
    scope: str = ""  # a camera id: a version for that camera alone (a detector adapted to its site)

    @property
    def camera_id(self) -> str | None:
        """The one camera this version is for, or None (every camera)."""
        return self.scope or None

    @property
    def label(self) -> str:
        """``name@version``, as alerts carry it."""
        return f"{self.name}@{self.version}"

    def config(self) -> VersionedRules | DetectorManifest:
        """The parsed, validated content (a rule model's config class, or the manifest)."""
        return parse_content(self.kind, self.content, self.label)

    def to_event(self, action: Literal["promote", "rollback"] = "promote") -> ModelPromoted:
        """The ``models`` topic's message of this version going into production."""
        return ModelPromoted(kind=self.kind, name=self.name, version=self.version, content=self.content,
                             action=action)


class AuditEntry(BaseModel):
    """One change of the model store."""

    model_config = ConfigDict(frozen=True)

    id: int
    ts: float
    actor: str
    action: Action
    kind: Kind
    name: str
    version: int
    from_name: str | None = None
    from_version: int | None = None
    reason: str



Listener = Callable[[ModelVersion, str], object]
