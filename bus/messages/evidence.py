"""``evidence``: files a worker in another process wrote for an alert (worker -> console).

Paths are relative to the shared evidence folder.

>>> e = EvidenceAttached(alert_id="k3v9q2m7xa1b", snapshot="k3v9q2m7xa1b/snapshot.jpg")
>>> e.to_wire()
{'type': 'evidence', 'alert_id': 'k3v9q2m7xa1b', 'snapshot': 'k3v9q2m7xa1b/snapshot.jpg', 'clip': None, 'track': None}
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from zhizhi.bus.messages.base import BusMessage


class Evidence(BaseModel):
    """Files kept for an alert, relative to the evidence folder (an alert's ``evidence``)."""

    model_config = ConfigDict(frozen=True)

    snapshot: str | None = Field(None, description="The JPEG snapshot of the alert's frame.")
    clip: str | None = Field(None, description="The short video around it.")
    track: str | None = Field(
        None, description="The camera's observations around it (``observations.jsonl``, a backtest clip's file)."
    )


class EvidenceAttached(BusMessage):
    """Evidence written for an alert: the console records it on the alert."""

    KIND = "evidence"

    alert_id: str = Field(description="The alert the files belong to.")
    snapshot: str | None = Field(None, description="Snapshot path, if one was written.")
    clip: str | None = Field(None, description="Clip path, if one was written.")
    track: str | None = Field(None, description="Observations path, if one was written.")
