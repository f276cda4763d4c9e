"""Calibrating a camera from the console: pairs in, a checked homography and its ground area out.

The calibration page sends the pairs the user clicked (``px`` on the camera's frame, ``lonlat``
on the map). :func:`fit` checks them against the camera's record and fits them
(:mod:`video.calibration`): at least 4 pairs, no three of four on a line, map points near the
camera (a swapped lon/lat is named as such), pixels inside the image, and a homography a real
camera could have (not mirrored, not crossing its horizon) whose ground area within the camera's
range is not empty. Anything else is a :class:`CalibrationRefused` naming the point and the field,
which the API answers as 422. The result carries each pair's reprojection error (pixels) and
ground error (metres) and the calibrated ground area (``fov``, a GeoJSON Polygon) that replaces
the camera's nominal sector in "which cameras see this point" (:func:`with_footprints`).

A camera without pairs yet starts from :func:`first_guess`: the pinhole model of its mounting
height, heading, tilt and field of view (:func:`video.calibration.pinhole_calibration`), which
predicts where each clicked pixel lies on the map (:func:`predict`) so the user finds the
matching map point quickly and refines it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from zhizhi.gis.cameras import CameraIndex, fov_sector
from zhizhi.gis.metric import geodesic_distance_m
from zhizhi.layers.camera_calibrations import NewCalibration, StoredCalibration
from zhizhi.layers.camera_registry import CameraRecord
from zhizhi.video.calibration import (
    DEFAULT_HEIGHT_M,
    DEFAULT_TILT_DEG,
    Calibration,
    CalibrationError,
    check_near_camera,
    ground_footprint,
    pinhole_calibration,
)
from zhizhi.video.masks import MaskError, mask_polygons
from zhizhi.video.registry_feed import stored_calibration

#: The frame size assumed when neither the request nor an earlier calibration gives one (1080p).
DEFAULT_IMAGE_SIZE = (1920, 1080)
#: Most pairs one calibration takes.
MAX_POINTS = 200


class CalibrationRefused(ValueError):
    """Pairs (or masks) that cannot be used: ``field`` is where the fault is (``points``,
    ``points.3.lonlat``, ``image_size``, ``masks.2``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def detail(self) -> list[dict[str, Any]]:
        """FastAPI's 422 shape."""
        return [{"loc": ["body", *self.field.split(".")], "msg": self.message, "type": "value_error"}]


@dataclass(frozen=True)
class Fitted:
    """A checked fit: the calibration, its ground area and each pair's errors."""

    calibration: Calibration
    image_size: tuple[int, int]
    footprint: shapely.Polygon
    point_px: list[float]
    point_m: list[float]

    def answer(self) -> dict[str, Any]:
        """The contract's answer (``reprojection_px``, ``ground_error_m``, ``fov``) and the pairs."""
        return {
            "reprojection_px": round(self.calibration.reprojection_error_px, 3),
            "ground_error_m": round(self.calibration.ground_error_m, 3),
            "fov": geojson(self.footprint),
            "points": [{"px": list(px), "lonlat": list(ll), "reprojection_px": round(e_px, 3),
                        "ground_error_m": round(e_m, 3)}
                       for px, ll, e_px, e_m in zip(self.calibration.pixels, self.calibration.lonlats, self.point_px,
                                                    self.point_m)],
            "image_size": list(self.image_size),
            "homography": self.calibration.homography,
            "origin": list(self.calibration.origin),
        }

    def to_store(self, camera_id: str) -> NewCalibration:
        answer = self.answer()
        return NewCalibration(
            camera_id=camera_id, points=answer["points"], origin=self.calibration.origin,
            homography=self.calibration.homography, image_size=self.image_size,
            reprojection_px=self.calibration.reprojection_error_px, ground_error_m=self.calibration.ground_error_m,
            footprint=answer["fov"],
        )


def geojson(geometry: shapely.Geometry) -> dict[str, Any]:
    """A shapely geometry as a GeoJSON dict (coordinates rounded to 1e-7 degrees, about a centimetre)."""
    return json.loads(shapely.to_geojson(shapely.set_precision(geometry, 1e-7)))


def image_size_of(value: Any, fallback: tuple[int, int] | None = None) -> tuple[int, int]:
    """``[width, height]`` checked (16..16384 each), or the fallback, or :data:`DEFAULT_IMAGE_SIZE`."""
    if value is None:
        return fallback or DEFAULT_IMAGE_SIZE
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise CalibrationRefused("image_size", "image_size must be [width, height], two whole numbers of pixels")
    width, height = value
    if not (16 <= width <= 16384 and 16 <= height <= 16384):
        raise CalibrationRefused("image_size", f"image_size must be 16..16384 pixels each way, got {width}x{height}")
    return int(width), int(height)


def _pairs(points: Any, *, need_lonlat: bool) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The pairs' pixels (n, 2), lon/lats (n, 2; NaN where absent) and which have a lon/lat."""
    if not isinstance(points, list):
        raise CalibrationRefused("points", "points must be a list of {px: [x, y], lonlat: [lon, lat]}")
    if len(points) > MAX_POINTS:
        raise CalibrationRefused("points", f"at most {MAX_POINTS} point pairs, got {len(points)}")
    px = np.full((len(points), 2), np.nan)
    ll = np.full((len(points), 2), np.nan)
    complete = []
    for i, point in enumerate(points):
        if not isinstance(point, dict) or not set(point) <= {"px", "lonlat"}:
            raise CalibrationRefused(f"points.{i}", f"point {i + 1} must be an object with px and lonlat only")
        for key, out in (("px", px), ("lonlat", ll)):
            value = point.get(key)
            if value is None and (key == "lonlat" and not need_lonlat):
                continue
            if (not isinstance(value, (list, tuple)) or len(value) != 2
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
                    or not all(np.isfinite(value))):
                what = "[x, y] in pixels" if key == "px" else "[lon, lat] in degrees (WGS-84)"
                raise CalibrationRefused(f"points.{i}.{key}", f"point {i + 1}: {key} must be {what}")
            out[i] = value
        if not np.isnan(ll[i]).any():
            complete.append(i)
    return px, ll, complete


def _check_points(px: np.ndarray, ll: np.ndarray, complete: list[int], record: CameraRecord,
                  size: tuple[int, int]) -> None:
    width, height = size
    outside = np.flatnonzero(~((px[:, 0] >= 0) & (px[:, 0] <= width) & (px[:, 1] >= 0) & (px[:, 1] <= height)))
    if len(outside):
        i = int(outside[0])
        raise CalibrationRefused(f"points.{i}.px", f"pixel point {i + 1} ({px[i, 0]:g}, {px[i, 1]:g}) is outside the "
                                                   f"{width}x{height} image")
    bad = [i for i in complete if not (abs(ll[i, 0]) <= 180 and abs(ll[i, 1]) <= 90)]
    if bad:
        i = bad[0]
        swapped = abs(ll[i, 1]) <= 180 and abs(ll[i, 0]) <= 90
        raise CalibrationRefused(
            f"points.{i}.lonlat",
            f"map point {i + 1} ({ll[i, 0]:g}, {ll[i, 1]:g}) is out of range (lon -180..180, lat -90..90)"
            + (": are lon and lat swapped? send [lon, lat]" if swapped else ": are these metres, not degrees?"))
    try:
        check_near_camera(ll[complete], (record.lon, record.lat))
    except CalibrationError as exc:  # it numbers the complete pairs: name the request's point
        message = str(exc)
        for n, i in enumerate(complete, start=1):
            if message.startswith(f"map point {n} "):
                message = f"map point {i + 1} " + message[len(f"map point {n} "):]
                raise CalibrationRefused(f"points.{i}.lonlat", message) from None
        raise CalibrationRefused("points", message) from None


def fit(record: CameraRecord, points: Any, image_size: Any = None, *,
        fallback_size: tuple[int, int] | None = None) -> Fitted:
    """Check and fit the pairs of a camera (see the module); :class:`CalibrationRefused` otherwise."""
    if record.kind == "drone":
        raise CalibrationRefused("points", f"camera {record.id!r} is a drone's: it moves, and its frames are placed "
                                           "on the ground from its telemetry, not from a calibration")
    size = image_size_of(image_size, fallback_size)
    px, ll, complete = _pairs(points, need_lonlat=True)
    if len(px) < 4:
        raise CalibrationRefused("points", f"a calibration needs at least 4 point pairs (pixel and map), got {len(px)}")
    _check_points(px, ll, complete, record, size)
    try:
        calibration = Calibration.fit(px, ll, image_size=size)
        footprint = ground_footprint(calibration, size, (record.lon, record.lat), record.range_m)
    except CalibrationError as exc:
        raise CalibrationRefused("points", str(exc)) from None
    point_px, point_m = calibration.point_errors()
    return Fitted(calibration, size, footprint, point_px.tolist(), point_m.tolist())


def first_guess(record: CameraRecord, image_size: tuple[int, int]) -> Calibration | None:
    """The pinhole first guess of a camera (``None`` for a panoramic one, hfov >= 170°)."""
    try:
        return pinhole_calibration(record.lon, record.lat, record.heading_deg, record.hfov_deg, image_size,
                                   height_m=record.height_m, tilt_deg=record.tilt_deg)
    except CalibrationError:
        return None


def first_guess_answer(record: CameraRecord, image_size: tuple[int, int]) -> dict[str, Any] | None:
    """What the page starts from: the pinhole guess, its assumptions and its ground area."""
    guess = first_guess(record, image_size)
    if guess is None:
        return None
    try:
        fov = geojson(ground_footprint(guess, image_size, (record.lon, record.lat), record.range_m))
    except CalibrationError:
        fov = None
    return {
        "homography": guess.homography, "origin": list(guess.origin), "image_size": list(image_size),
        "height_m": record.height_m if record.height_m is not None else DEFAULT_HEIGHT_M,
        "tilt_deg": record.tilt_deg if record.tilt_deg is not None else DEFAULT_TILT_DEG,
        "assumed": [k for k, v in (("height_m", record.height_m), ("tilt_deg", record.tilt_deg)) if v is None],
        "fov": fov,
    }


def stored_answer(stored: StoredCalibration) -> dict[str, Any]:
    """A stored version as the API shows it."""
    return {
        "version": stored.version, "created_at": stored.created_at.isoformat(), "created_by": stored.created_by,
        "reprojection_px": round(stored.reprojection_px, 3), "ground_error_m": round(stored.ground_error_m, 3),
        "fov": stored.footprint, "points": stored.points, "image_size": list(stored.image_size),
        "homography": stored.homography, "origin": list(stored.origin),
    }


def predict(record: CameraRecord, points: Any, image_size: Any, newest: StoredCalibration | None) -> dict[str, Any]:
    """The preview of the pairs clicked so far (``lonlat`` may be missing on the last one).

    With 4 or more complete pairs: their fit (:func:`fit`, so the same refusals as saving). With
    fewer: where the current model (the newest calibration, else the pinhole first guess) puts
    each pixel on the map, and how far that is from the map point clicked for it. Either way
    ``points[i].predicted`` is the pixel's ground position by the model used.
    """
    fallback = tuple(newest.image_size) if newest is not None else None
    size = image_size_of(image_size, fallback)
    px, ll, complete = _pairs(points, need_lonlat=False)
    _check_points(px, ll, complete, record, size)
    fitted: Fitted | None = None
    if len(complete) >= 4:
        fitted = fit(record, [{"px": list(px[i]), "lonlat": list(ll[i])} for i in complete], list(size))
        model, source = fitted.calibration, "fit"
    elif newest is not None and tuple(newest.image_size) == size:
        model, source = stored_calibration(newest), f"version {newest.version}"
    else:
        model, source = first_guess(record, size), "first guess"
    out: list[dict[str, Any]] = [{"predicted": None, "reprojection_px": None, "ground_error_m": None}
                                 for _ in range(len(px))]
    if model is not None and len(px):
        lon, lat = model.pixel_to_lonlat(px[:, 0], px[:, 1])
        x, y = model.pixel_to_metric(px[:, 0], px[:, 1])
        w = px @ np.asarray(model.homography)[2, :2] + np.asarray(model.homography)[2, 2]
        side = model.ground_side or 1
        for i in range(len(px)):
            if w[i] * side > 0 and np.isfinite(lon[i]) and np.hypot(x[i], y[i]) < 1e6:
                out[i]["predicted"] = [round(float(lon[i]), 7), round(float(lat[i]), 7)]
    if fitted is not None:
        for n, i in enumerate(complete):
            out[i]["reprojection_px"] = round(fitted.point_px[n], 3)
            out[i]["ground_error_m"] = round(fitted.point_m[n], 3)
    elif model is not None:
        for i in complete:
            if out[i]["predicted"] is not None:
                out[i]["ground_error_m"] = round(float(geodesic_distance_m(*out[i]["predicted"], *ll[i])), 3)
    answer: dict[str, Any] = {"model": source, "points": out, "image_size": list(size), "complete": len(complete),
                              "reprojection_px": None, "ground_error_m": None, "fov": None}
    if fitted is not None:
        answer.update(reprojection_px=round(fitted.calibration.reprojection_error_px, 3),
                      ground_error_m=round(fitted.calibration.ground_error_m, 3), fov=geojson(fitted.footprint))
    return answer


def check_masks(masks: Any, image_size: tuple[int, int] | None) -> list[list[tuple[float, float]]]:
    """Mask polygons checked (simple, at least 3 vertices, inside the image when its size is known)."""
    if not isinstance(masks, list):
        raise CalibrationRefused("masks", "masks must be a list of polygons, each a list of [x, y] pixel vertices")
    if len(masks) > 100:
        raise CalibrationRefused("masks", f"at most 100 masks, got {len(masks)}")
    rings: list[list[tuple[float, float]]] = []
    for i, ring in enumerate(masks):
        if (not isinstance(ring, list) or len(ring) > 1000 or not all(
                isinstance(p, (list, tuple)) and len(p) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p) for p in ring)):
            raise CalibrationRefused(f"masks.{i}", f"mask {i + 1} must be a list of at most 1000 [x, y] pixel vertices")
        rings.append([(float(x), float(y)) for x, y in ring])
    try:
        polygons = mask_polygons(rings)
    except MaskError as exc:
        index = int(str(exc).split()[1]) - 1
        raise CalibrationRefused(f"masks.{index}", str(exc)) from None
    for i, polygon in enumerate(polygons):
        minx, miny, maxx, maxy = polygon.bounds
        if minx < 0 or miny < 0:
            raise CalibrationRefused(f"masks.{i}", f"mask {i + 1} has a vertex left of or above the image "
                                                   "(negative pixel coordinates)")
        if image_size is not None and (maxx > image_size[0] or maxy > image_size[1]):
            raise CalibrationRefused(f"masks.{i}", f"mask {i + 1} reaches outside the {image_size[0]}x{image_size[1]}"
                                                   " image")
    return rings


def sector_of(record: CameraRecord) -> dict[str, Any]:
    """The camera's nominal field-of-view sector (GeoJSON)."""
    return geojson(fov_sector(record.lon, record.lat, record.heading_deg, record.hfov_deg, record.range_m))


def with_footprints(index: CameraIndex, footprints: dict[str, shapely.Geometry]) -> CameraIndex:
    """The index with each calibrated camera's footprint set (the others as they are)."""
    if not footprints:
        return index
    cameras = [c.model_copy(update={"footprint": footprints[c.id]}) if c.id in footprints else c
               for c in index.cameras]
    return CameraIndex(cameras, frame=index.frame)
