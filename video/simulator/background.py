"""The static background of a clip: sky, fields, the road with its markings (props: see render).

Rendered once per clip on a canvas a few pixels larger than the frame (so a shaking camera can
crop it), with a world-anchored texture and distance haze; frames copy it and draw the moving
objects on top.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray

from zhizhi.video.simulator.camera import PinholeCamera
from zhizhi.video.simulator.draw import Image, Projected, draw_projected, fill_ground
from zhizhi.video.simulator.scene import Site, Zone
from zhizhi.video.simulator.variation import Lighting

Float = NDArray[np.float64]

ASPHALT = (84, 84, 86)
SHOULDER = (96, 96, 98)
SIDEWALK = (160, 166, 170)
KERB = (200, 200, 198)
WHITE = (228, 228, 226)
YELLOW = (40, 185, 225)
DASH_M, GAP_M = 6.0, 9.0


def _road_samples(site: Site) -> Float:
    k = abs(site.road.curvature)
    s_max = 4000.0 if k < 1e-9 else min(4000.0, (math.pi / 2.5) / k)
    return np.concatenate([np.arange(-80.0, 100.0, 2.0), np.arange(100.0, 400.0, 5.0),
                           np.arange(400.0, s_max, 20.0), [s_max]])


def _sky(h: int, w: int, horizon: float, lighting: Lighting) -> Image:
    if lighting.night:
        top, low = np.array([34.0, 18.0, 8.0]), np.array([72.0, 52.0, 42.0])
    else:
        top, low = np.array([208.0, 162.0, 112.0]), np.array([236.0, 224.0, 208.0])
        grey_top, grey_low = np.array([158.0, 156.0, 152.0]), np.array([204.0, 202.0, 198.0])
        top = top + (grey_top - top) * min(1.0, 1.4 * lighting.rain)
        low = low + (grey_low - low) * min(1.0, 1.4 * lighting.rain)
    rows = np.arange(h, dtype=np.float64)
    t = np.clip((horizon - rows) / max(h * 0.6, 1.0), 0.0, 1.0)[:, None]
    column = low * (1 - t) + top * t
    return np.repeat(column[:, None, :], w, axis=1).astype(np.uint8)


def horizon_colour(lighting: Lighting) -> Float:
    if lighting.night:
        return np.array([60.0, 45.0, 38.0])
    clear, grey = np.array([226.0, 216.0, 204.0]), np.array([196.0, 194.0, 190.0])
    return clear + (grey - clear) * min(1.0, 1.4 * lighting.rain)


def _texture(rng: np.random.Generator, size: int, smooth: int) -> NDArray[np.float32]:
    small = rng.normal(0.0, 1.0, (size // smooth, size // smooth)).astype(np.float32)
    big = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
    return (big / max(float(big.std()), 1e-6)).astype(np.float32)


def render_background(site: Site, lighting: Lighting, zones: list[Zone], margin: int,
                      rng: np.random.Generator) -> Image:
    """The background image on the camera's canvas padded by ``margin`` pixels per side."""
    cam = site.camera.padded(margin)
    road = site.road
    w, h = cam.width, cam.height
    horizon = cam.horizon_v()
    image = _sky(h, w, horizon, lighting)
    first = int(np.clip(math.floor(horizon) + 1, 0, h))
    if first >= h:
        return image
    ground = np.zeros((h - first, w, 3), np.uint8)
    ground[:] = site.field_colour
    sub = _Sub(cam, first)
    samples = _road_samples(site)
    road_mask = np.zeros(ground.shape[:2], np.uint8)
    for side in (-1, 1):
        sub.fill(ground, road.strip(samples, side * road.shoulder_outer_m, side * road.sidewalk_outer_m)[:, :2],
                 SIDEWALK)
        sub.fill(ground, road.strip(samples, side * road.shoulder_outer_m, side * (road.shoulder_outer_m + 0.22))
                 [:, :2], KERB)
        sub.fill(road_mask, road.strip(samples, 0.0, side * road.sidewalk_outer_m)[:, :2], 255)
    sub.fill(ground, road.strip(samples, -road.shoulder_outer_m, road.shoulder_outer_m)[:, :2], SHOULDER)
    sub.fill(ground, road.strip(samples, -road.carriageway_half_m, road.carriageway_half_m)[:, :2], ASPHALT)
    for zone in zones:
        if zone.paint is not None:
            sub.fill(ground, zone.polygon, zone.paint)
            sub.fill(road_mask, zone.polygon, 255)
    _markings(sub, ground, site, samples)
    # world-anchored texture, light and haze over the whole ground
    uu, vv = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(first, h, dtype=np.float64))
    gx, gy = cam.ground_point(uu, vv)
    gx = np.nan_to_num(gx, nan=1e5)
    gy = np.nan_to_num(gy, nan=1e5)
    dist = np.hypot(gx, gy)
    mottle = _texture(rng, 256, 16)
    grain = _texture(rng, 256, 2)
    size = 256
    def sample(tex, cell):
        mx = np.mod(gx / cell, size).astype(np.float32)
        my = np.mod(gy / cell, size).astype(np.float32)
        return cv2.remap(tex, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    near = np.clip(25.0 / np.maximum(dist, 1.0), 0.0, 1.0)
    off_road = (road_mask == 0).astype(np.float64)
    tex = 1.0 + 0.09 * sample(mottle, 1.5) + 0.06 * near * sample(grain, 0.12)
    psi = math.radians(road.heading_deg)
    across = gx * -math.cos(psi) + gy * math.sin(psi)
    tex += off_road * (0.13 * mottle_rows(across, site.field_rows) * np.clip(40.0 / np.maximum(dist, 1.0), 0, 1))
    light = lighting.ambient + lighting.diffuse * max(float(lighting.sun[2]), 0.0) + lighting.sky
    light = 0.3 if lighting.night else light
    g = ground.astype(np.float32) * (tex * light)[..., None].astype(np.float32)
    haze_len = 1600.0 - 1100.0 * lighting.rain
    haze = (1.0 - np.exp(-dist / haze_len))[..., None].astype(np.float32)
    g = g * (1 - haze) + horizon_colour(lighting).astype(np.float32) * haze
    image[first:] = np.clip(g, 0, 255).astype(np.uint8)
    image[:] = np.clip(image.astype(np.float32) * lighting.gains.astype(np.float32), 0, 255).astype(np.uint8)
    if lighting.night:
        _lamp_pools(image, cam, site)
    return image


def mottle_rows(across: Float, strength: float) -> Float:
    """Crop rows parallel to the road (fields), fading into plain ground for grass."""
    return np.sin(across * 2 * math.pi / 1.1) * max(strength - 0.6, 0.0) * 2.5


class _Sub:
    """Draw ground polygons into the ground part of the canvas (rows from ``first``)."""

    def __init__(self, cam, first: int) -> None:
        self.cam = cam.shifted(0.0, -first)

    def fill(self, image: Image, polygon: Float, colour) -> None:
        fill_ground(image, self.cam, polygon, colour)


def _markings(sub: _Sub, ground: Image, site: Site, samples: Float) -> None:
    road = site.road
    far = samples[samples < 1500.0]
    for side in (-1, 1):
        edge = side * (road.carriageway_half_m - 0.12)
        sub.fill(ground, road.strip(far, edge - 0.09, edge + 0.09)[:, :2], WHITE)
        centre = side * (road.centre_gap_m / 2.0 - 0.08)
        sub.fill(ground, road.strip(far, centre - 0.06, centre + 0.06)[:, :2], YELLOW)
        for k in range(1, road.lanes_per_direction):
            d = side * (road.centre_gap_m / 2.0 + k * road.lane_width_m)
            for s0 in np.arange(-78.0, 600.0, DASH_M + GAP_M):
                dash = np.linspace(s0, s0 + DASH_M, 3)
                sub.fill(ground, road.strip(dash, d - 0.075, d + 0.075)[:, :2], WHITE)


def _lamp_pools(image: Image, cam, site: Site) -> None:
    ang = np.linspace(0, 2 * np.pi, 28, endpoint=False)
    for prop in site.props:
        if prop.model.cls != "pole":
            continue
        lx = prop.x - 1.5 * math.cos(prop.yaw)
        ly = prop.y + 1.5 * math.sin(prop.yaw)
        circle = np.column_stack([lx + 8.0 * np.sin(ang), ly + 8.0 * np.cos(ang)])
        fill_ground(image, cam, circle, (120, 185, 225), alpha=0.28)
        inner = np.column_stack([lx + 4.0 * np.sin(ang), ly + 4.0 * np.cos(ang)])
        fill_ground(image, cam, inner, (150, 210, 240), alpha=0.25)


def draw_prop(image: Image, proj: Projected, cam: PinholeCamera, lighting: Lighting) -> None:
    """A roadside prop; a lamp pole's head shines at night."""
    draw_projected(image, proj, cam, lighting)
    if lighting.night and proj.pose.cls == "pole":
        head = proj.pose.model.verts[-8:].mean(axis=0)
        s, c = math.sin(proj.pose.yaw), math.cos(proj.pose.yaw)
        wx = head[0] * s - head[1] * c + proj.pose.x
        wy = head[0] * c + head[1] * s + proj.pose.y
        u, v, z = cam.project([[wx, wy, head[2] - 0.25]])
        if z[0] > 1.0:
            r = int(np.clip(300.0 / z[0], 2, 12))
            cv2.circle(image, (int(u[0]), int(v[0])), r, (150, 215, 245), -1, cv2.LINE_AA)
