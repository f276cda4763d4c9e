"""``evidence``: files a worker in another process wrote for an alert (worker -> console).

Paths are relative to the shared evidence folder.

>>> e = EvidenceAttached(alert_id="k3v9q2m7xa1b", snapshot="k3v9q2m7xa1b/snapshot.jpg")
>>> e.to_wire()
{'type': 'evidence', 'alert_id': 'k3v9q2m7xa1b', 'snapshot': 'k3v9q2m7xa1b/snapshot.jpg', 'clip': None, 'track': None}

The files of a camera that joined the alert later name it (``camera_id``); an alert's
``evidence`` then holds them as one of its ``views``. Both are left out of the wire form while
they say nothing (``camera_id`` None, no views), so it stays what it was before they existed:

>>> EvidenceAttached(alert_id="k3v9q2m7xa1b", camera_id="CAM-2").to_wire()["camera_id"]
'CAM-2'
>>> Evidence(snapshot="a/snapshot.jpg").model_dump()
{'snapshot': 'a/snapshot.jpg', 'clip': None, 'track': None}
>>> Evidence(views=[CameraEvidence(camera_id="CAM-2", clip="a/clip-x.webm")]).model_dump()["views"]
[{'camera_id': 'CAM-2', 'snapshot': None, 'clip': 'a/clip-x.webm', 'track': None}]
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from zhizhi.bus.messages.base import BusMessage

#: The most cameras beside the first whose evidence an alert keeps (``Evidence.views``).
MAX_VIEWS = 4


class CameraEvidence(BaseModel):
    """The files of one camera that joined an alert after its first one."""

    model_config = ConfigDict(frozen=True)

    camera_id: str = Field(description="The camera that joined the alert.")
    snapshot: str | None = Field(None, description="Its JPEG snapshot of the moment it joined.")
    clip: str | None = Field(None, description="Its short video around that moment.")
    track: str | None = Field(None, description="Its observations around it (``observations.jsonl``).")


class Evidence(BaseModel):
    """Files kept for an alert, relative to the evidence folder (an alert's ``evidence``): those
    of its first camera, and ``views`` of the cameras that joined it later."""

    model_config = ConfigDict(frozen=True)

    snapshot: str | None = Field(None, description="The JPEG snapshot of the alert's frame.")
    clip: str | None = Field(None, description="The short video around it.")
    track: str | None = Field(
        None, description="The camera's observations around it (``observations.jsonl``, a backtest clip's file)."
    )
    views: list[CameraEvidence] = Field(
        default_factory=list,
        description=f"The evidence of each camera that joined the alert later (at most {MAX_VIEWS}); "
        "left out of the JSON form when there is none.",
    )

    @model_serializer(mode="wrap")
    def _without_empty_views(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        if not self.views:
            data.pop("views", None)
        return data

    def view(self, camera_id: str) -> CameraEvidence | None:
        """The files of a camera that joined the alert, if any were recorded."""
        return next((v for v in self.views if v.camera_id == camera_id), None)


class EvidenceAttached(BusMessage):
    """Evidence written for an alert: the console records it on the alert."""

    KIND = "evidence"

    alert_id: str = Field(description="The alert the files belong to.")
    snapshot: str | None = Field(None, description="Snapshot path, if one was written.")
    clip: str | None = Field(None, description="Clip path, if one was written.")
    track: str | None = Field(None, description="Observations path, if one was written.")
    camera_id: str | None = Field(
        None, description="The camera that joined the alert the files are of; None: the alert's first camera."
    )

    def _wire_form(self) -> dict[str, Any]:
        data = super()._wire_form()
        if self.camera_id is None:  # what a console that predates views reads
            del data["camera_id"]
        return data
