"""Camera configuration for workers and ``zhizhi analyze``: source, analysis rate, calibration.

A camera-config file is JSON (or YAML) holding one camera or ``{"cameras": [...]}``; the
simulator's ``camera.json`` is one such camera. A drone's camera has ``drone`` instead of a
fixed ``calibration``: its frames are geolocated through the drone's telemetry (:mod:`video.drone`).
Object filters per class go under ``filters`` (:mod:`video.object_filters`; a class is one of
``video.observation.CLASSES`` or ``"*"``), e.g. ``"filters": {"classes": {"person": {"min_score": 0.5}}}``.

>>> cam = CameraConfig(id="CAM-0001", source=SourceConfig(url="clip.mp4", loop=True))
>>> cam.source.resolved_kind, cam.analysis_fps
('file', 5.0)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from zhizhi.video.calibration import Calibration
from zhizhi.video.masks import MaskError, mask_polygons
from zhizhi.video.object_filters import ObjectFilters

SourceKind = Literal["file", "rtsp", "http", "mjpeg", "images"]


class CameraConfigError(ValueError):
    """A camera-config file that cannot be used (the message names the file and field)."""


class SourceConfig(BaseModel):
    """Where a camera's frames come from."""

    url: str = Field(description="File path, image folder, rtsp:// or http(s):// URL.")
    kind: SourceKind | None = Field(None, description="Source kind; guessed from url when unset.")
    loop: bool = Field(False, description="Files: start again at the end.")
    fps: float | None = Field(None, gt=0, le=240, description="Image folders: frames per second.")
    realtime: bool = Field(True, description="Files: play at the clip's own frame rate.")

    @property
    def resolved_kind(self) -> SourceKind:
        if self.kind is not None:
            return self.kind
        lower = self.url.lower()
        if lower.startswith("rtsp://"):
            return "rtsp"
        if lower.startswith(("http://", "https://")):
            return "mjpeg" if "mjpg" in lower or "mjpeg" in lower else "http"
        if Path(self.url).is_dir():
            return "images"
        return "file"


LonLat = tuple[float, float]


class LaneConfig(BaseModel):
    """A lane in the camera's view, drawn by an analyst (or written by the simulator)."""

    id: str = Field(min_length=1, max_length=32)
    line: list[LonLat] = Field(min_length=2, description="Centre line, WGS-84, in the direction of travel.")
    width_m: float = Field(3.5, gt=0, le=20)
    speed_limit_kmh: float | None = Field(None, gt=0, le=200)


class ZoneConfig(BaseModel):
    """An area in the camera's view that warning rules can name (by name or kind)."""

    name: str = Field(min_length=1, max_length=128)
    kind: str = Field(min_length=1, max_length=64, description="e.g. school, hazmat_parking, crowd_area.")
    polygon: list[LonLat] = Field(min_length=3, description="WGS-84 ring.")
    speed_limit_kmh: float | None = Field(None, gt=0, le=200)


class DroneCamera(BaseModel):
    """The camera is carried by a drone: each frame is geolocated through the drone's pose at
    the frame's time (its ``Topic.DRONES`` telemetry), not through a fixed calibration."""

    drone_id: str = Field(min_length=1, max_length=64, description="The drone's id in its telemetry.")
    hfov_deg: float = Field(72.0, gt=0, lt=180, description="Horizontal field of view of its camera.")
    max_pose_age_s: float = Field(
        2.0, gt=0, le=60, description="A frame farther than this from every pose is not geolocated."
    )
    max_range_m: float = Field(1500.0, gt=0, description="Ground points farther from the drone are not geolocated.")


class CameraConfig(BaseModel):
    """One camera as a worker runs it."""

    id: str = Field(min_length=1, max_length=64)
    name: str = ""
    source: SourceConfig
    analysis_fps: float = Field(5.0, gt=0, le=60, description="Frames analysed per second.")
    detector: Literal["ultralytics", "motion"] | None = Field(
        None, description="Backend for this camera; default from settings."
    )
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    heading_deg: float | None = Field(None, ge=0, le=360)
    hfov_deg: float | None = Field(None, gt=0, le=360)
    range_m: float | None = Field(None, gt=0)
    calibration: Calibration | None = None
    speed_limit_kmh: float | None = Field(None, gt=0, le=200, description="Limit of the road in view.")
    lanes: list[LaneConfig] = Field(default_factory=list, description="Lanes with their direction of travel.")
    zones: list[ZoneConfig] = Field(default_factory=list, description="Areas in view for warning rules.")
    drone: DroneCamera | None = Field(None, description="Set when the camera is a drone's (moving: no calibration).")
    masks: list[list[tuple[float, float]]] = Field(
        default_factory=list, max_length=64,
        description="Pixel polygons of the analysed frame where detections are ignored (their box's bottom centre "
        "inside): a flag pole, a billboard, a tree line.",
    )
    filters: ObjectFilters = Field(
        default_factory=ObjectFilters,
        description="Object filters per class (video.object_filters: min_score, threshold, min/max_area, "
        "min/max_ratio, min/max_size_m, masks) under 'classes'; '*' for every class without its own.",
    )

    @field_validator("masks")
    @classmethod
    def _simple_masks(cls, masks: list[list[tuple[float, float]]]) -> list[list[tuple[float, float]]]:
        try:
            mask_polygons(masks)
        except MaskError as exc:
            raise ValueError(str(exc)) from None
        return masks

    @model_validator(mode="after")
    def _one_geometry(self) -> CameraConfig:
        if self.drone is not None and self.calibration is not None:
            raise ValueError("a drone's camera moves: give it 'drone' or 'calibration', not both")
        return self


def load_camera_configs(path: Path) -> list[CameraConfig]:
    """Read one camera or ``{"cameras": [...]}`` from a JSON or YAML file."""
    path = Path(path)
    if not path.is_file():
        raise CameraConfigError(f"camera config not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # json and yaml raise different types
        raise CameraConfigError(f"{path}: not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}") from exc
    items = data.get("cameras") if isinstance(data, dict) and "cameras" in data else [data]
    if not isinstance(items, list) or not items:
        raise CameraConfigError(f"{path}: expected a camera object or {{'cameras': [...]}}")
    cameras = []
    for i, item in enumerate(items):
        try:
            cameras.append(CameraConfig.model_validate(item))
        except (ValidationError, ValueError) as exc:
            raise CameraConfigError(f"{path}: camera {i}: {exc}") from exc
    ids = [c.id for c in cameras]
    if len(set(ids)) != len(ids):
        raise CameraConfigError(f"{path}: duplicate camera ids")
    return cameras
