"""The topics of the bus: one channel per kind of message.

Each topic carries exactly one message type (:data:`zhizhi.bus.messages.TOPIC_TYPES`); the
table in docs/architecture.md says who publishes and who consumes each.
"""

from __future__ import annotations

from enum import StrEnum


class Topic(StrEnum):
    """Topics of the bus (their values are the Redis stream and channel names)."""

    #: One message per analysed frame of a camera, with all its observations (also none).
    FRAMES = "frames"
    #: A camera source's state, rate and counters, on every change.
    CAMERA_STATUS = "camera_status"
    #: Accepted vehicle positions, in batches (WGS-84, time order per vehicle).
    TELEMETRY = "telemetry"
    #: Drone poses.
    DRONES = "drones"
    #: Alert lifecycle events (new, updated, transitions, escalations ...).
    ALERTS = "alerts"
    #: Evidence a worker in another process wrote for an alert (snapshot, clip).
    EVIDENCE = "evidence"
    #: A model version went into production (or was rolled back to).
    MODELS = "models"
    #: Incident changes: opened, updated, closed, and timeline entries.
    INCIDENTS = "incidents"
    #: The camera registry changed: cameras added, changed, removed, imported.
    CAMERAS = "cameras"
