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
    work_width: int = Field(
        256, ge=64, le=1280, description="Width in pixels of the grey copy of a frame the motion check runs on."
    )
    threshold: int = Field(
        20, ge=1, le=255,
        description="Grey-level difference from the running background (after a global brightness shift is "
        "taken out) above which a pixel moved.",
    )
    background_alpha: float = Field(
        0.05, gt=0, le=1, description="Weight of each analysed frame in the running-average background."
    )
    min_area_frac: float = Field(
        3e-4, ge=0, le=0.1, description="Smallest moving blob kept, as a share of the frame's area."
    )
    padding: float = Field(
        0.1, ge=0, le=2, description="Context added round a moving blob or a track, as a share of its size, each side."
    )
    min_region_px: int = Field(
        128, ge=0, le=1024,
        description="Smallest side of a region, in the network's pixels: a small object (a walker 15 px tall to the "
        "network) is found only with this much of its surroundings (at 75 px it was missed, at 128 found).",
    )
    context_px: int = Field(
        16, ge=0, le=128, description="Context added round every region, in the network's pixels, each side."
    )
    full_frame_frac: float = Field(
        0.5, gt=0, le=1,
        description="A camera's frame goes whole through the detector when its regions cover more than this "
        "share of it (packed in whole 32-pixel strides, they would cost about as much).",
    )
    scene_change_frac: float = Field(
        0.5, gt=0, le=1,
        description="Share of moved pixels taken as a scene change (camera moved, lights): a full-frame pass and "
        "the background learnt afresh.",
    )
    stationary_check_s: float = Field(
        1.5, gt=0, le=60,
        description="Seconds between detector checks of an object that stopped; in between its last detection "
        "is carried to the tracker, so it keeps its id.",
    )
    stationary_misses: int = Field(
        2, ge=1, le=10,
        description="Checks in a row that must miss a stopped object (no motion on it) before it is dropped.",
    )
    full_frame_s: float = Field(
        30.0, gt=0, le=3600, description="Seconds between full-frame passes of a camera, a safety net."
    )
    canvas: int | None = Field(
        None, ge=64, le=4096,
        description="Side of the square canvases regions are packed into; default: the detector's imgsz.",
    )
