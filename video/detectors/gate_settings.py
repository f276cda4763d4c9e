"""Settings of the motion gate in front of the detector (``settings.detector.gate``).

The gate decides per camera and frame whether, and where, the detector runs: see
:mod:`zhizhi.video.detectors.gated`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MotionGateSettings(BaseModel):
    """Motion-gated, region-based detection: a quiet camera costs a motion check only."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    enabled: bool = Field(
        True, description="Run the detector only where motion is (and on stopped objects at a low rate); "
        "off: every analysed frame goes whole through the detector."
    )
