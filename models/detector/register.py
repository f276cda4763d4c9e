"""Registering trained detector weights as a model version.

The version store (``models.versions.store.ModelStore``) keeps, for ``kind="detector"``, a JSON
manifest ``{"name", "version", "weights_path", "sha256", "report"}``: the weights stay where
training wrote them (the path is made absolute) and the store checks them against ``sha256``.
``version`` is an integer; left ``None`` (the default) the store gives the next free version of
the name, and the same manifest added again gets the version it already has.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from zhizhi.models.detector.train import NAME_PATTERN, EvaluationReport
from zhizhi.models.versions.content import file_sha256

KIND = "detector"


class VersionStore(Protocol):
    """What registration needs of a version store (``models.versions.store.ModelStore`` has it)."""

    def add(self, kind: str, content: str, author: str, reason: str) -> Any: ...


class DetectorManifest(BaseModel):
    """The content of a detector model version."""

    name: str = Field(min_length=1, max_length=64, pattern=NAME_PATTERN,
                      description="The detector's name (the recipe's, or --name), e.g. zhizhi-det-v2.")
    version: int | None = Field(None, ge=1, description="None: the store's next free version of the name.")
    weights_path: str = Field(description="Absolute path of the weights file.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    report: dict[str, Any] = Field(description="The evaluation report (report.json) of these weights.")
    camera_id: str | None = Field(None, min_length=1, max_length=64,
                                  description="The one camera these weights are for (zhizhi adapt); None: all.")


def manifest_for(
    weights_path: Path,
    report: EvaluationReport | Mapping[str, Any] | None = None,
    *,
    version: int | None = None,
    camera_id: str | None = None,
) -> dict[str, Any]:
    """The manifest of ``weights_path``; ``report`` defaults to the ``.report.json`` beside it;
    ``camera_id`` scopes it to one camera (a site adaptation's weights)."""
    weights_path = Path(weights_path).resolve()
    if not weights_path.is_file():
        raise FileNotFoundError(f"weights not found: {weights_path}")
    if report is None:
        beside = weights_path.with_name(f"{weights_path.stem}.report.json")
        if not beside.is_file():
            raise FileNotFoundError(f"no report given and none beside the weights ({beside})")
        report = json.loads(beside.read_text(encoding="utf-8"))
    checked = EvaluationReport.model_validate(
        report.model_dump() if isinstance(report, EvaluationReport) else dict(report)
    )
    return DetectorManifest(
        name=checked.name,
        version=version,
        weights_path=str(weights_path),
        sha256=file_sha256(weights_path),
        report=checked.model_dump(mode="json"),
        camera_id=camera_id,
    ).model_dump(mode="json", exclude={"camera_id"} if camera_id is None else None)


def register_weights(
    store: VersionStore,
    weights_path: Path,
    report: EvaluationReport | Mapping[str, Any] | None,
    author: str,
    reason: str,
    *,
    camera_id: str | None = None,
) -> Any:
    """Add the weights as a draft ``detector`` model version (``camera_id``: that camera's own);
    returns what ``store.add`` returns (a ``models.versions.record.ModelVersion``)."""
    if not author.strip():
        raise ValueError("registering a model version needs an author")
    if not reason.strip():
        raise ValueError("registering a model version needs a reason")
    manifest = manifest_for(weights_path, report, camera_id=camera_id)
    return store.add(KIND, json.dumps(manifest, ensure_ascii=False), author, reason)
