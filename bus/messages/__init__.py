"""The message types of the bus: one per topic, and the codec that goes with them.

:data:`TOPIC_TYPES` maps each topic to its type; ``publish`` refuses (``TypeError``) a message
of another type, so a wrong payload fails at its publisher, and the Redis bus encodes with
``to_wire()`` and decodes with the topic's ``from_wire()`` (:func:`encode`, :func:`decode`),
so both ends hold the same objects. The types are the contracts between the stages: this
package imports none of them.

To add a topic: a module here with its type (``to_wire``/``from_wire``, see
:class:`~zhizhi.bus.messages.base.WireMessage`), a member of :class:`~zhizhi.bus.topics.Topic`
and a line in :data:`TOPIC_TYPES`.
"""

from __future__ import annotations

from typing import Any

from zhizhi.bus.messages.alerts import AlertEvent
from zhizhi.bus.messages.base import BusMessage, WireMessage
from zhizhi.bus.messages.camera_status import CameraStatus
from zhizhi.bus.messages.cameras import CamerasChanged
from zhizhi.bus.messages.drones import DroneState
from zhizhi.bus.messages.evidence import EvidenceAttached
from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.bus.messages.incidents import IncidentEvent
from zhizhi.bus.messages.models import ModelPromoted
from zhizhi.bus.messages.telemetry import FixBatch
from zhizhi.bus.topics import Topic

#: The message type of each topic (one line per topic; its module beside this one).
TOPIC_TYPES: dict[Topic, type[WireMessage]] = {
    Topic.FRAMES: ObservationBatch,
    Topic.TELEMETRY: FixBatch,
    Topic.CAMERA_STATUS: CameraStatus,
    Topic.DRONES: DroneState,
    Topic.ALERTS: AlertEvent,
    Topic.EVIDENCE: EvidenceAttached,
    Topic.INCIDENTS: IncidentEvent,
    Topic.MODELS: ModelPromoted,
    Topic.CAMERAS: CamerasChanged,
}


def message_type(topic: str) -> type[WireMessage]:
    """The type registered for ``topic``; ``TypeError`` for a name that is not a topic."""
    try:
        return TOPIC_TYPES[Topic(topic)]
    except (ValueError, KeyError):
        raise TypeError(f"{topic!r} is not a bus topic") from None


def check(topic: str, message: object) -> None:
    """``TypeError`` unless ``message`` is of the type registered for ``topic``."""
    expected = message_type(topic)
    if type(message) is not expected:
        raise TypeError(
            f"topic {topic!r} carries {expected.__name__}, not {type(message).__name__}"
        )


def encode(topic: str, message: Any) -> dict[str, Any]:
    """The wire form of ``message`` (checked against ``topic``'s type)."""
    check(topic, message)
    return message.to_wire()


def decode(topic: str, data: dict[str, Any]) -> Any:
    """The message of ``topic`` from its wire form; ``ValueError`` when it does not fit."""
    expected = message_type(topic)
    try:
        return expected.from_wire(data)
    except ValueError:
        raise
    except Exception as exc:  # a non-pydantic type may fail in its own ways
        raise ValueError(f"not a {expected.__name__}: {type(exc).__name__}: {exc}") from exc


__all__ = [
    "TOPIC_TYPES",
    "AlertEvent",
    "BusMessage",
    "CameraStatus",
    "CamerasChanged",
    "DroneState",
    "EvidenceAttached",
    "IncidentEvent",
    "ModelPromoted",
    "WireMessage",
    "check",
    "decode",
    "encode",
    "message_type",
]
