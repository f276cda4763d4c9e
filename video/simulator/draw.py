"""Projecting posed models into an image and drawing them (painter's algorithm inside a model).

Polygons are filled with sub-pixel precision (``shift``) and anti-aliased; faces turned away
from the camera are culled; a model's parts are drawn layer by layer, far to near. A model
that reaches behind the camera is clipped against the near plane face by face.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from zhizhi.video.simulator.camera import NEAR_M, PinholeCamera, clip_near
from zhizhi.video.simulator.objects import LIGHT_KINDS, Model
from zhizhi.video.simulator.variation import Lighting

Float = NDArray[np.float64]
Image = NDArray[np.uint8]

SHIFT = 4
SCALE = float(1 << SHIFT)
LINE = cv2.LINE_AA
_LIMIT = 2.0e6  # pixel coordinates are clamped far outside the image to stay inside int32


@dataclass
class Pose:
    """A model at a place and time: what a frame shows of one object."""

    track_id: int
    cls: str
    model: Model
    x: float
    y: float
    yaw: float  # compass radians
    speed: float = 0.0  # m/s
    phase: float = 0.0  # walking animation


@dataclass
class Projected:
    """A pose projected by one camera."""

    pose: Pose
    verts: Float
    normals: Float
    centroids: Float
    part_centres: Float
    cam: Float
    uv: Float
    front: bool
    bbox_full: Float
    bbox: Float
    visible: float
    distance: float
    hull: NDArray[np.int32]

    @property
    def height_px(self) -> float:
        return float(self.bbox_full[3] - self.bbox_full[1])


def to_fixed(uv: Float) -> NDArray[np.int32]:
    return np.round(np.clip(uv, -_LIMIT, _LIMIT) * SCALE).astype(np.int32)


def project_pose(camera: PinholeCamera, pose: Pose, max_range_m: float = 250.0) -> Projected | None:
    """Project a pose; ``None`` when it is out of range, behind the camera or off the image."""
    distance = float(np.hypot(pose.x, pose.y))
    if distance > max_range_m:
        return None
    model = pose.model
    verts, normals, centroids, part_centres = model.world(pose.x, pose.y, pose.yaw, pose.phase)
    cam = camera.to_camera(verts)
    solid_z = cam[model.solid_verts, 2]
    if (solid_z <= NEAR_M).all():
        return None
    front = bool((solid_z > NEAR_M).all())
    z = np.where(cam[:, 2] > 1e-6, cam[:, 2], 1e-6)
    u, v = camera.camera_to_pixels(np.column_stack([cam[:, :2], z]))
    uv = np.column_stack([u, v])
    if front:
        extent = uv[model.solid_verts]
    else:
        pieces = [_clipped_face(camera, cam[f.idx]) for f in model.faces]
        pieces = [p for p in pieces if len(p)]
        if not pieces:
            return None
        extent = np.vstack(pieces)
    x1, y1 = extent.min(axis=0)
    x2, y2 = extent.max(axis=0)
    bbox_full = np.array([x1, y1, x2, y2])
    bbox = np.array([max(x1, 0.0), max(y1, 0.0), min(x2, camera.width - 1.0), min(y2, camera.height - 1.0)])
    if bbox[2] - bbox[0] < 1.0 or bbox[3] - bbox[1] < 1.0:  # at most a sliver at the border
        return None
    full_area = max((x2 - x1) * (y2 - y1), 1e-9)
    visible = float(np.clip((bbox[2] - bbox[0]) * (bbox[3] - bbox[1]) / full_area, 0.0, 1.0))
    hull = cv2.convexHull(np.clip(extent, -_LIMIT, _LIMIT).astype(np.float32)).reshape(-1, 2)
    return Projected(pose, verts, normals, centroids, part_centres, cam, uv, front, bbox_full, bbox, visible,
                     distance, np.round(hull).astype(np.int32))


def _clipped_face(camera: PinholeCamera, face_cam: Float) -> Float:
    poly = clip_near(face_cam)
    if len(poly) < 3:
        return np.zeros((0, 2))
    u, v = camera.camera_to_pixels(poly)
    return np.column_stack([u, v])


def draw_projected(image: Image, proj: Projected, camera: PinholeCamera, lighting: Lighting,
                   glows: list | None = None) -> None:
    """Draw a projected model: culled, shaded faces and their decals, parts far to near."""
    model = proj.pose.model
    eye = camera.position
    visible = np.einsum("ij,ij->i", proj.normals, eye - proj.centroids) > 1e-9
    factor = lighting.intensity(proj.normals)
    part_dist = np.linalg.norm(proj.part_centres - eye, axis=1)
    order = sorted(range(len(model.parts)), key=lambda i: (model.parts[i].layer, -part_dist[i]))
    fixed = to_fixed(proj.uv) if proj.front else None
    detail = proj.height_px >= 9.0
    for pi in order:
        for fi in model.parts[pi].faces:
            if not visible[fi]:
                continue
            face = model.faces[fi]
            f = float(factor[fi])
            _fill(image, proj, camera, fixed, face.idx, lighting.colour(face.colour, f, face.kind))
            if not detail:
                continue
            for ids, colour, kind in face.decals:
                _fill(image, proj, camera, fixed, ids, lighting.colour(colour, f, kind))
                if glows is not None and lighting.night and kind in LIGHT_KINDS:
                    glows.append((proj.uv[ids].mean(axis=0), proj.uv[ids], kind))


def _fill(image: Image, proj: Projected, camera: PinholeCamera, fixed, ids, colour) -> None:
    if fixed is not None:
        cv2.fillPoly(image, [fixed[ids]], colour, LINE, SHIFT)
        return
    poly = _clipped_face(camera, proj.cam[ids])
    if len(poly) >= 3:
        cv2.fillPoly(image, [to_fixed(poly)], colour, LINE, SHIFT)


def draw_glows(image: Image, glows: list, lighting: Lighting) -> None:
    """Soft halos around lit lamps (night only)."""
    h, w = image.shape[:2]
    for centre, pts, kind in glows:
        size = float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1])))
        r = int(np.clip(0.9 * size + 2.0, 2, 40))
        cx, cy = round(centre[0]), round(centre[1])
        x0, y0, x1, y1 = max(cx - r, 0), max(cy - r, 0), min(cx + r + 1, w), min(cy + r + 1, h)
        if x1 <= x0 or y1 <= y0:
            continue
        roi = image[y0:y1, x0:x1]
        overlay = roi.copy()
        colour = lighting.colour((0, 0, 0), 1.0, kind)
        cv2.circle(overlay, (cx - x0, cy - y0), r, colour, -1, cv2.LINE_AA)
        cv2.addWeighted(overlay, 0.25, roi, 0.75, 0.0, dst=roi)


def fill_ground(image: Image, camera: PinholeCamera, polygon_xy: Float, colour, alpha: float | None = None) -> None:
    """Fill a ground polygon (n, 2 metres), clipped at the near plane; optionally blended."""
    pts = np.column_stack([polygon_xy, np.zeros(len(polygon_xy))])
    poly = clip_near(camera.to_camera(pts))
    if len(poly) < 3:
        return
    u, v = camera.camera_to_pixels(poly)
    uv = np.column_stack([u, v])
    if alpha is None:
        cv2.fillPoly(image, [to_fixed(uv)], colour, LINE, SHIFT)
        return
    h, w = image.shape[:2]
    x0, y0 = (int(max(np.floor(c), 0)) for c in uv.min(axis=0))
    x1, y1 = int(min(np.ceil(uv[:, 0].max()) + 1, w)), int(min(np.ceil(uv[:, 1].max()) + 1, h))
    if x1 <= x0 or y1 <= y0:
        return
    roi = image[y0:y1, x0:x1]
    overlay = roi.copy()
    cv2.fillPoly(overlay, [to_fixed(uv - [x0, y0])], colour, LINE, SHIFT)
    cv2.addWeighted(overlay, alpha, roi, 1.0 - alpha, 0.0, dst=roi)
