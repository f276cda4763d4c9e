"""3D models of the simulated objects: shaded polyhedra in the object's own frame.

A model's frame has ``x`` forward, ``y`` to the left, ``z`` up, in metres, with the origin at
the centre of its ground footprint. A model is a list of *parts* (the cab, the tank, a wheel);
each part is a list of convex solids drawn in order, and each face may carry flat *decals*
(windows, lights, the hazmat placard) drawn right after it. Parts are drawn layer by layer
(wheels and chassis, then bodies, then what sits on top), far to near within a layer.

>>> import numpy as np
>>> car = make_model("car", np.random.default_rng(1))
>>> car.cls, 4.0 < car.length_m < 5.0, car.verts.shape[1]
('car', True, 3)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

Float = NDArray[np.float64]
Colour = tuple[float, float, float]  # BGR, 0..255

DECAL_OFFSET_M = 0.015

# Face kinds decide how a face is lit: ordinary shaded paint, glass, lights (emissive at
# night), retro-reflective paint (bright under headlights) and the bus's lit windows.
BODY, GLASS, TYRE, HEAD, TAIL, LAMP, PLACARD, REFLECTOR, WINDOW, SHADOW = (
    "body", "glass", "tyre", "head", "tail", "lamp", "placard", "reflector", "window", "shadow",
)
LIGHT_KINDS = frozenset({HEAD, TAIL, LAMP})

GLASS_COLOUR: Colour = (62, 52, 44)
SHADOW_COLOUR: Colour = (34, 34, 36)
TYRE_COLOUR: Colour = (28, 28, 30)
CHASSIS_COLOUR: Colour = (38, 38, 42)
HEADLIGHT: Colour = (215, 232, 240)
TAILLIGHT: Colour = (35, 30, 190)
PLACARD_ORANGE: Colour = (0, 120, 255)
AMBER: Colour = (0, 185, 255)
PLATE_BLUE: Colour = (150, 62, 18)

CAR_COLOURS: list[tuple[Colour, float]] = [
    ((232, 232, 228), 0.28), ((30, 30, 34), 0.17), ((190, 190, 186), 0.15), ((112, 112, 116), 0.11),
    ((40, 40, 170), 0.08), ((140, 80, 30), 0.10), ((60, 90, 50), 0.03), ((60, 90, 130), 0.04),
    ((200, 150, 60), 0.04),
]
BUS_SCHEMES: list[tuple[Colour, Colour]] = [
    ((235, 235, 232), (60, 140, 30)), ((235, 235, 232), (170, 90, 20)), ((30, 200, 235), (40, 40, 40)),
    ((40, 40, 180), (230, 230, 230)), ((120, 150, 30), (230, 230, 230)), ((200, 120, 40), (240, 240, 240)),
]
TRUCK_CAB_COLOURS: list[Colour] = [(170, 90, 30), (40, 40, 175), (225, 225, 222), (40, 170, 220), (60, 120, 40)]
CARGO_COLOURS: list[Colour] = [
    (160, 100, 40), (70, 130, 60), (200, 205, 205), (50, 50, 160), (40, 160, 200), (80, 80, 84), (140, 130, 40),
]
TANKER_CAB_COLOURS: list[Colour] = [(228, 228, 226), (40, 40, 175), (170, 90, 30), (70, 120, 50)]
TANK_COLOURS: list[Colour] = [(212, 212, 214), (236, 236, 234), (196, 200, 204), (224, 226, 230)]
SHIRT_COLOURS: list[Colour] = [
    (235, 235, 235), (40, 40, 190), (170, 90, 30), (40, 190, 220), (60, 140, 50), (35, 35, 35),
    (120, 60, 140), (150, 150, 150), (30, 110, 230),
]
TROUSER_COLOURS: list[Colour] = [(60, 40, 30), (30, 30, 30), (90, 90, 90), (110, 150, 170), (120, 80, 50)]
SKIN_COLOURS: list[Colour] = [(120, 160, 205), (105, 145, 190), (135, 175, 215)]


@dataclass
class Face:
    """One planar polygon of a solid, with the decals painted on it."""

    idx: NDArray[np.int64]
    colour: Colour
    kind: str
    normal: Float
    centroid: Float
    decals: list[tuple[NDArray[np.int64], Colour, str]] = field(default_factory=list)


@dataclass
class Part:
    """A group of solids drawn together, in order, at one painter's depth."""

    layer: int
    faces: list[int] = field(default_factory=list)
    vert_ids: list[int] = field(default_factory=list)


@dataclass
class Model:
    """A compiled model: all vertices in one array, faces and parts indexing into it."""

    cls: str
    length_m: float
    width_m: float
    height_m: float
    verts: Float
    faces: list[Face]
    parts: list[Part]
    normals: Float
    centroids: Float
    part_centres: Float
    solid_verts: NDArray[np.int64]
    animate: Callable[[Float, float], Float] | None = None

    def world(self, x: float, y: float, yaw: float, phase: float = 0.0) -> tuple[Float, Float, Float, Float]:
        """Vertices, face normals, face centroids and part centres in the world."""
        verts = self.verts if self.animate is None else self.animate(self.verts, phase)
        s, c = np.sin(yaw), np.cos(yaw)
        rot = np.array([[s, -c, 0.0], [c, s, 0.0], [0.0, 0.0, 1.0]])
        offset = np.array([x, y, 0.0])
        return (
            verts @ rot.T + offset,
            self.normals @ rot.T,
            self.centroids @ rot.T + offset,
            self.part_centres @ rot.T + offset,
        )

    def footprint(self, x: float, y: float, yaw: float) -> Float:
        """The four ground corners (4, 2) of the footprint rectangle."""
        hl, hw = self.length_m / 2.0, self.width_m / 2.0
        local = np.array([[hl, hw], [hl, -hw], [-hl, -hw], [-hl, hw]])
        s, c = np.sin(yaw), np.cos(yaw)
        return np.column_stack([local[:, 0] * s - local[:, 1] * c + x, local[:, 0] * c + local[:, 1] * s + y])


class ModelBuilder:
    """Collects solids, faces and decals, then compiles a :class:`Model`."""

    def __init__(self) -> None:
        self._verts: list[Float] = []
        self._count = 0
        self.faces: list[Face] = []
        self.parts: list[Part] = []
        self._decal_verts: list[int] = []

    def part(self, layer: int = 1) -> Part:
        part = Part(layer)
        self.parts.append(part)
        return part

    def _add(self, pts: Float, solid: bool = True) -> NDArray[np.int64]:
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 3)
        ids = np.arange(self._count, self._count + len(pts))
        self._verts.append(pts)
        self._count += len(pts)
        if not solid:
            self._decal_verts.extend(ids.tolist())
        return ids

    def hexahedron(
        self, part: Part, bottom: Float, top: Float, colour: Colour, kind: str = BODY,
        colours: dict[str, Colour] | None = None,
    ) -> dict[str, int]:
        """A convex solid from 4 bottom and 4 top corners (x0y0, x1y0, x1y1, x0y1 order)."""
        pts = np.vstack([bottom, top]).astype(np.float64)
        ids = self._add(pts)
        part.vert_ids.extend(ids.tolist())
        centre = pts.mean(axis=0)
        layout = {
            "front": (1, 2, 6, 5), "back": (0, 3, 7, 4), "left": (3, 2, 6, 7),
            "right": (0, 1, 5, 4), "top": (4, 5, 6, 7), "bottom": (0, 1, 2, 3),
        }
        colours = colours or {}
        out = {}
        for name, corners in layout.items():
            c = list(corners)
            out[name] = self._face_pts(part, ids[c], pts[c], centre, colours.get(name, colour), kind)
        return out

    def _face_pts(self, part: Part, ids, poly: Float, centre: Float, colour: Colour, kind: str) -> int:
        normal = _newell(poly)
        centroid = poly.mean(axis=0)
        if np.dot(normal, centroid - centre) < 0:
            normal = -normal
        self.faces.append(Face(np.asarray(ids), colour, kind, normal, centroid))
        part.faces.append(len(self.faces) - 1)
        return len(self.faces) - 1

    def box(
        self, part: Part, x: tuple[float, float], y: tuple[float, float], z: tuple[float, float],
        colour: Colour, kind: str = BODY, colours: dict[str, Colour] | None = None,
    ) -> dict[str, int]:
        """An axis-aligned box."""
        (x0, x1), (y0, y1), (z0, z1) = x, y, z
        rect = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        bottom = np.column_stack([rect, np.full(4, z0)])
        top = np.column_stack([rect, np.full(4, z1)])
        return self.hexahedron(part, bottom, top, colour, kind, colours)

    def prism_x(
        self, part: Part, x: tuple[float, float], profile: Float, colour: Colour, kind: str = BODY
    ) -> list[int]:
        """A prism along ``x`` with a convex ``(y, z)`` profile; faces: sides..., back, front."""
        return self._prism(part, x, profile, colour, kind, axis=0)

    def prism_y(
        self, part: Part, y: tuple[float, float], profile: Float, colour: Colour, kind: str = BODY
    ) -> list[int]:
        """A prism along ``y`` with a convex ``(x, z)`` profile; faces: sides..., right, left."""
        return self._prism(part, y, profile, colour, kind, axis=1)

    def _prism(self, part: Part, span: tuple[float, float], profile: Float, colour: Colour, kind: str,
               axis: int) -> list[int]:
        m = len(profile)
        other = [i for i in range(3) if i != axis]
        ends = []
        for value in span:
            pts = np.zeros((m, 3))
            pts[:, axis] = value
            pts[:, other[0]], pts[:, other[1]] = profile[:, 0], profile[:, 1]
            ends.append(pts)
        pts = np.vstack(ends)
        ids = self._add(pts)
        part.vert_ids.extend(ids.tolist())
        centre = pts.mean(axis=0)
        faces = []
        for j in range(m):
            k = (j + 1) % m
            corners = [j, m + j, m + k, k]
            faces.append(self._face_pts(part, ids[corners], pts[corners], centre, colour, kind))
        faces.append(self._face_pts(part, ids[:m], ends[0], centre, colour, kind))
        faces.append(self._face_pts(part, ids[m:], ends[1], centre, colour, kind))
        return faces

    def prism_z(
        self, part: Part, profile: Float, z: tuple[float, float], colour: Colour, top_scale: float = 1.0,
        kind: str = BODY,
    ) -> list[int]:
        """A vertical prism (or frustum) over a convex ``(x, y)`` profile; faces: sides..., bottom, top."""
        m = len(profile)
        bottom = np.column_stack([profile, np.full(m, z[0])])
        top = np.column_stack([profile * top_scale, np.full(m, z[1])])
        pts = np.vstack([bottom, top])
        ids = self._add(pts)
        part.vert_ids.extend(ids.tolist())
        centre = pts.mean(axis=0)
        faces = []
        for j in range(m):
            k = (j + 1) % m
            corners = [j, k, m + k, m + j]
            faces.append(self._face_pts(part, ids[corners], pts[corners], centre, colour, kind))
        faces.append(self._face_pts(part, ids[:m], bottom, centre, colour, kind))
        faces.append(self._face_pts(part, ids[m:], top, centre, colour, kind))
        return faces

    def shadow(self, length: float, width: float, sides: int = 4) -> None:
        """The contact shadow: a dark polygon on the ground over the footprint, drawn first.

        It makes the ground footprint part of the drawn object, so the truth box (the extent of
        the drawing) reaches down to where the object meets the ground.
        """
        part = self.part(-1)
        if sides == 4:
            hl, hw = length / 2.0, width / 2.0
            xy = np.array([[-hl, -hw], [hl, -hw], [hl, hw], [-hl, hw]])
        else:
            ang = 2 * np.pi * (np.arange(sides) + 0.5) / sides
            xy = np.column_stack([np.cos(ang) * length / 2.0, np.sin(ang) * width / 2.0])
        pts = np.column_stack([xy, np.zeros(len(xy))])
        ids = self._add(pts)
        part.vert_ids.extend(ids.tolist())
        self._face_pts(part, ids, pts, np.array([0.0, 0.0, -1.0]), SHADOW_COLOUR, SHADOW)

    def decal(self, face_id: int, pts: Float, colour: Colour, kind: str = BODY) -> None:
        """A flat polygon on a face (given in model coordinates), lifted off it slightly."""
        face = self.faces[face_id]
        pts = np.asarray(pts, dtype=np.float64) + face.normal * DECAL_OFFSET_M
        ids = self._add(pts, solid=False)
        face.decals.append((ids, colour, kind))

    def decal_uv(self, face_id: int, u: tuple[float, float], v: tuple[float, float], colour: Colour,
                 kind: str = BODY) -> None:
        """A rectangle in a quad face's own coordinates (``u`` across, ``v`` up, both 0..1)."""
        corners = self.vertex_array()[self.faces[face_id].idx]
        bl, br, tr, tl = corners
        def at(a: float, b: float) -> Float:
            return (1 - b) * ((1 - a) * bl + a * br) + b * ((1 - a) * tl + a * tr)
        self.decal(face_id, np.array([at(u[0], v[0]), at(u[1], v[0]), at(u[1], v[1]), at(u[0], v[1])]), colour, kind)

    def vertex_array(self) -> Float:
        return np.vstack(self._verts) if self._verts else np.zeros((0, 3))

    def build(self, cls: str, length: float, width: float,
              animate: Callable[[Float, float], Float] | None = None) -> Model:
        """The compiled model; its height is that of its highest vertex."""
        verts = self.vertex_array()
        centres = np.array([verts[p.vert_ids].mean(axis=0) for p in self.parts])
        solid = np.setdiff1d(np.arange(len(verts)), np.asarray(self._decal_verts, dtype=np.int64))
        height = round(float(verts[solid, 2].max()), 4)
        return Model(
            cls=cls, length_m=length, width_m=width, height_m=height, verts=verts, faces=self.faces,
            parts=self.parts, normals=np.array([f.normal for f in self.faces]),
            centroids=np.array([f.centroid for f in self.faces]), part_centres=centres,
            solid_verts=solid, animate=animate,
        )


def _newell(poly: Float) -> Float:
    nxt = np.roll(poly, -1, axis=0)
    n = np.array([
        np.sum((poly[:, 1] - nxt[:, 1]) * (poly[:, 2] + nxt[:, 2])),
        np.sum((poly[:, 2] - nxt[:, 2]) * (poly[:, 0] + nxt[:, 0])),
        np.sum((poly[:, 0] - nxt[:, 0]) * (poly[:, 1] + nxt[:, 1])),
    ])
    norm = np.linalg.norm(n)
    return n / norm if norm > 0 else np.array([0.0, 0.0, 1.0])


def _dim(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A random dimension in whole centimetres (so the truth's sizes are exact)."""
    return round(float(rng.uniform(lo, hi)), 2)


def _pick(rng: np.random.Generator, items: list):
    return items[int(rng.integers(len(items)))]


def _shade(colour: Colour, factor: float) -> Colour:
    return tuple(float(min(255.0, c * factor)) for c in colour)  # type: ignore[return-value]


def _wheels(b: ModelBuilder, axles: list[float], width: float, radius: float = 0.5, tyre_w: float = 0.3) -> None:
    for ax in axles:
        for side in (-1, 1):
            y_out = side * (width / 2.0 - 0.02)
            y_in = y_out - side * tyre_w
            b.box(b.part(0), (ax - radius, ax + radius), tuple(sorted((y_in, y_out))), (0.0, 2 * radius),
                  TYRE_COLOUR, TYRE)


def _cab(b: ModelBuilder, part: Part, x: tuple[float, float], width: float, z: tuple[float, float],
         colour: Colour, hazmat: bool = False) -> dict[str, int]:
    """A truck cab: box with windscreen, side windows, lights, grille (and a hazmat plate)."""
    hw = width / 2.0
    f = b.box(part, x, (-hw, hw), z, colour)
    b.decal_uv(f["front"], (0.07, 0.93), (0.55, 0.93), GLASS_COLOUR, GLASS)
    b.decal_uv(f["front"], (0.3, 0.7), (0.12, 0.32), _shade(colour, 0.45))
    b.decal_uv(f["front"], (0.04, 0.2), (0.06, 0.16), HEADLIGHT, HEAD)
    b.decal_uv(f["front"], (0.8, 0.96), (0.06, 0.16), HEADLIGHT, HEAD)
    if hazmat:
        b.decal_uv(f["front"], (0.33, 0.67), (0.01, 0.11), PLACARD_ORANGE, PLACARD)
        b.decal_uv(f["front"], (0.36, 0.64), (0.055, 0.065), (25, 25, 25))
    else:
        b.decal_uv(f["front"], (0.4, 0.6), (0.02, 0.08), PLATE_BLUE)
    for side in ("left", "right"):
        b.decal_uv(f[side], (0.45, 0.92), (0.58, 0.92), GLASS_COLOUR, GLASS)
        b.decal_uv(f[side], (0.2, 0.23), (0.08, 0.55), _shade(colour, 0.6))
    return f


def car_model(rng: np.random.Generator) -> Model:
    """A passenger car: sedan or SUV, body + glasshouse, wheels, lights."""
    colours, weights = zip(*CAR_COLOURS)
    colour = colours[int(rng.choice(len(colours), p=np.asarray(weights) / sum(weights)))]
    suv = rng.random() < 0.35
    length = _dim(rng, 4.5, 4.9) if suv else _dim(rng, 4.1, 4.9)
    width = _dim(rng, 1.78, 1.9) if suv else _dim(rng, 1.72, 1.86)
    belt = 1.0 if suv else 0.9
    height = _dim(rng, 1.65, 1.78) if suv else _dim(rng, 1.42, 1.52)
    hl, hw = length / 2.0, width / 2.0
    b = ModelBuilder()
    b.shadow(length, width)
    _wheels(b, [hl - 0.9, -hl + 0.95], width, radius=0.32, tyre_w=0.22)
    body = b.part(1)
    f = b.box(body, (-hl, hl), (-hw, hw), (0.3, belt), colour)
    b.decal_uv(f["front"], (0.05, 0.24), (0.55, 0.8), HEADLIGHT, HEAD)
    b.decal_uv(f["front"], (0.76, 0.95), (0.55, 0.8), HEADLIGHT, HEAD)
    b.decal_uv(f["front"], (0.36, 0.64), (0.15, 0.4), PLATE_BLUE)
    b.decal_uv(f["back"], (0.04, 0.22), (0.55, 0.85), TAILLIGHT, TAIL)
    b.decal_uv(f["back"], (0.78, 0.96), (0.55, 0.85), TAILLIGHT, TAIL)
    b.decal_uv(f["back"], (0.36, 0.64), (0.2, 0.45), PLATE_BLUE)
    for side in ("left", "right"):
        b.decal_uv(f[side], (0.0, 1.0), (0.0, 0.12), _shade(colour, 0.55))
    rear_in, front_in = (0.25, 1.55) if suv else (0.5, 1.25)
    top_rear, top_front = (0.35, 1.75) if suv else (0.95, 2.0)
    bottom = np.array([[-hl + rear_in, -hw + 0.04, belt], [hl - front_in, -hw + 0.04, belt],
                       [hl - front_in, hw - 0.04, belt], [-hl + rear_in, hw - 0.04, belt]])
    top = np.array([[-hl + top_rear, -hw + 0.2, height], [hl - top_front, -hw + 0.2, height],
                    [hl - top_front, hw - 0.2, height], [-hl + top_rear, hw - 0.2, height]])
    g = b.hexahedron(b.part(2), bottom, top, colour)
    b.decal_uv(g["front"], (0.04, 0.96), (0.06, 0.94), GLASS_COLOUR, GLASS)
    b.decal_uv(g["back"], (0.06, 0.94), (0.1, 0.9), GLASS_COLOUR, GLASS)
    for side in ("left", "right"):
        b.decal_uv(g[side], (0.05, 0.48), (0.08, 0.88), GLASS_COLOUR, GLASS)
        b.decal_uv(g[side], (0.52, 0.93), (0.08, 0.88), GLASS_COLOUR, GLASS)
    return b.build("car", length, width)


def bus_model(rng: np.random.Generator) -> Model:
    """A city / coach bus: tall box, window band with pillars, doors, roof unit."""
    body_c, stripe_c = _pick(rng, BUS_SCHEMES)
    length = _dim(rng, 10.5, 12.5)
    width = 2.5
    height = _dim(rng, 3.0, 3.2)
    hl, hw = length / 2.0, width / 2.0
    b = ModelBuilder()
    b.shadow(length, width)
    _wheels(b, [hl - 2.6, -hl + 3.0], width, radius=0.5)
    body = b.part(1)
    f = b.box(body, (-hl, hl), (-hw, hw), (0.35, height), body_c)
    hb = height - 0.35
    band = ((1.35 - 0.35) / hb, (2.6 - 0.35) / hb)
    for side in ("left", "right"):
        b.decal_uv(f[side], (0.0, 1.0), (0.06, 0.16), stripe_c)
        b.decal_uv(f[side], (0.04, 0.9), band, GLASS_COLOUR, WINDOW)
        n = max(int(length / 1.4), 4)
        for i in range(1, n):
            u = 0.04 + (0.9 - 0.04) * i / n
            b.decal_uv(f[side], (u - 0.006, u + 0.006), band, body_c)
    door_u = (0.82, 0.9)  # front door, on the kerb side (right)
    b.decal_uv(f["right"], door_u, (0.02, 0.82), GLASS_COLOUR, WINDOW)
    b.decal_uv(f["right"], (0.45, 0.52), (0.02, 0.82), GLASS_COLOUR, WINDOW)
    b.decal_uv(f["front"], (0.04, 0.96), (0.26, 0.84), GLASS_COLOUR, GLASS)
    b.decal_uv(f["front"], (0.12, 0.88), (0.87, 0.96), (25, 25, 25))
    b.decal_uv(f["front"], (0.2, 0.8), (0.895, 0.94), (60, 210, 90))
    b.decal_uv(f["front"], (0.03, 0.18), (0.07, 0.13), HEADLIGHT, HEAD)
    b.decal_uv(f["front"], (0.82, 0.97), (0.07, 0.13), HEADLIGHT, HEAD)
    b.decal_uv(f["front"], (0.0, 1.0), (0.16, 0.22), stripe_c)
    b.decal_uv(f["back"], (0.08, 0.92), (0.55, 0.82), GLASS_COLOUR, GLASS)
    b.decal_uv(f["back"], (0.03, 0.12), (0.08, 0.3), TAILLIGHT, TAIL)
    b.decal_uv(f["back"], (0.88, 0.97), (0.08, 0.3), TAILLIGHT, TAIL)
    b.decal_uv(f["back"], (0.0, 1.0), (0.36, 0.42), stripe_c)
    roof = b.part(2)
    b.box(roof, (-1.6, 1.2), (-0.8, 0.8), (height, height + 0.22), _shade(body_c, 0.9))
    return b.build("bus", length, width)


def truck_model(rng: np.random.Generator) -> Model:
    """A lorry: cab, chassis and a ribbed cargo box (or an open bed with a load)."""
    cab_c = _pick(rng, TRUCK_CAB_COLOURS)
    cargo_c = _pick(rng, CARGO_COLOURS)
    length = _dim(rng, 8.2, 9.6)
    width = 2.5
    boxed = rng.random() < 0.75
    height = _dim(rng, 3.3, 3.7) if boxed else _dim(rng, 2.6, 2.9)
    hl, hw = length / 2.0, width / 2.0
    b = ModelBuilder()
    b.shadow(length, width)
    _wheels(b, [hl - 1.3, -hl + 2.2, -hl + 1.1], width, radius=0.5)
    b.box(b.part(0), (-hl + 0.3, hl - 2.0), (-hw + 0.35, hw - 0.35), (0.55, 1.05), CHASSIS_COLOUR)
    cab = b.part(1)
    _cab(b, cab, (hl - 2.2, hl), width, (0.55, 3.0), cab_c)
    cargo = b.part(1)
    x = (-hl, hl - 2.35)
    if boxed:
        f = b.box(cargo, x, (-hw, hw), (1.05, height), cargo_c)
        n = int((x[1] - x[0]) / 0.9)
        for side in ("left", "right"):
            for i in range(1, n):
                u = i / n
                b.decal_uv(f[side], (u - 0.006, u + 0.006), (0.02, 0.98), _shade(cargo_c, 0.72))
            b.decal_uv(f[side], (0.0, 1.0), (0.0, 0.05), _shade(cargo_c, 0.5))
        b.decal_uv(f["back"], (0.495, 0.505), (0.03, 0.97), _shade(cargo_c, 0.45))
        for i in range(6):
            red = i % 2 == 0
            b.decal_uv(f["back"], (i / 6, (i + 1) / 6), (0.0, 0.05), (30, 30, 200) if red else (230, 230, 230),
                       REFLECTOR)
    else:
        f = b.box(cargo, x, (-hw, hw), (1.05, height), cargo_c,
                  colours={"top": _pick(rng, [(70, 110, 150), (110, 110, 110), (50, 80, 110)])})
        for side in ("left", "right"):
            b.decal_uv(f[side], (0.0, 1.0), (0.85, 1.0), _shade(cargo_c, 0.7))
        b.decal_uv(f["back"], (0.0, 1.0), (0.85, 1.0), _shade(cargo_c, 0.7))
    bumper = b.box(b.part(1), (-hl, -hl + 0.15), (-hw + 0.1, hw - 0.1), (0.45, 0.75), CHASSIS_COLOUR)
    b.decal_uv(bumper["back"], (0.02, 0.16), (0.2, 0.8), TAILLIGHT, TAIL)
    b.decal_uv(bumper["back"], (0.84, 0.98), (0.2, 0.8), TAILLIGHT, TAIL)
    return b.build("truck", length, width)


def tanker_model(rng: np.random.Generator) -> Model:
    """A hazmat tanker: cab with roof warning lamp, silver cylindrical tank, orange placards."""
    cab_c = _pick(rng, TANKER_CAB_COLOURS)
    tank_c = _pick(rng, TANK_COLOURS)
    band_c = _pick(rng, [(170, 90, 20), (40, 40, 180), (170, 90, 20)])
    length = _dim(rng, 11.0, 12.5)
    width = 2.5
    height = _dim(rng, 3.2, 3.4)
    hl, hw = length / 2.0, width / 2.0
    b = ModelBuilder()
    b.shadow(length, width)
    _wheels(b, [hl - 1.3, -hl + 3.4, -hl + 2.3, -hl + 1.2], width, radius=0.5)
    b.box(b.part(0), (-hl + 0.4, hl - 2.2), (-0.9, 0.9), (0.55, 1.15), CHASSIS_COLOUR)
    cab = b.part(1)
    cab_x = (hl - 2.3, hl)
    _cab(b, cab, cab_x, width, (0.55, 3.0), cab_c, hazmat=True)
    # the triangular roof lamp, its slanted faces marked (the "危险" sign) front and back
    lamp = np.array([[hl - 1.5, 3.0], [hl - 0.9, 3.0], [hl - 1.2, 3.42]])
    lamp_faces = b.prism_y(cab, (-0.5, 0.5), lamp, AMBER, LAMP)
    for fi in lamp_faces[1:3]:
        b.decal_uv(fi, (0.3, 0.45), (0.25, 0.75), (20, 20, 20))
        b.decal_uv(fi, (0.55, 0.7), (0.25, 0.75), (20, 20, 20))
    tank = b.part(1)
    radius = min((height - 1.05) / 2.0, hw - 0.02)
    zc = height - radius
    n = 16
    angles = 2 * np.pi * (np.arange(n) + 0.5) / n
    profile = np.column_stack([radius * np.cos(angles), zc + radius * np.sin(angles)])
    tx = (-hl + 0.15, hl - 2.5)
    faces = b.prism_x(tank, tx, profile, tank_c)
    # Face j spans angles[j]..angles[j+1]: its outward normal points at 2*pi*(j+1)/n.
    def side_face(alpha_deg: float) -> int:
        j = round(alpha_deg / 360.0 * n) - 1
        return faces[j % n]
    span = tx[1] - tx[0]
    placard_u = (0.56, 0.56 + 1.3 / span)
    for alpha in (0.0, 180.0):
        below = -1.0 if alpha == 0.0 else 1.0  # towards the lower half of that side
        b.decal_uv(side_face(alpha + below * 45.0), (0.0, 1.0), (0.25, 0.75), band_c)
        for step in (-22.5, 0.0, 22.5):
            b.decal_uv(side_face(alpha + step), placard_u, (0.0, 1.0), PLACARD_ORANGE, PLACARD)
        b.decal_uv(side_face(alpha), (placard_u[0] + 0.1 / span, placard_u[1] - 0.1 / span), (0.42, 0.58),
                   (25, 25, 25))
    top = side_face(90.0)
    b.decal_uv(top, (0.02, 0.98), (0.2, 0.8), (90, 90, 95))
    back = faces[n]
    b.decal(back, np.array([[tx[0], -0.55, zc - 0.75], [tx[0], 0.55, zc - 0.75],
                            [tx[0], 0.55, zc - 0.05], [tx[0], -0.55, zc - 0.05]]), PLACARD_ORANGE, PLACARD)
    b.decal(back, np.array([[tx[0], -0.5, zc - 0.7], [tx[0], 0.5, zc - 0.7],
                            [tx[0], 0.5, zc - 0.66], [tx[0], -0.5, zc - 0.66]]), (20, 20, 20))
    for dx in (-0.3, 0.3):
        b.box(tank, (tx[0] + span * (0.5 + dx) - 0.35, tx[0] + span * (0.5 + dx) + 0.35), (-0.35, 0.35),
              (height - 0.02, height + 0.12), _shade(tank_c, 0.8))
    rear = b.part(1)
    bumper = b.box(rear, (-hl, -hl + 0.12), (-hw + 0.05, hw - 0.05), (0.45, 0.8), CHASSIS_COLOUR)
    b.decal_uv(bumper["back"], (0.02, 0.2), (0.15, 0.85), TAILLIGHT, TAIL)
    b.decal_uv(bumper["back"], (0.8, 0.98), (0.15, 0.85), TAILLIGHT, TAIL)
    b.decal_uv(bumper["back"], (0.3, 0.7), (0.1, 0.9), PLACARD_ORANGE, PLACARD)
    return b.build("hazmat_tanker", length, width)


def person_model(rng: np.random.Generator) -> Model:
    """A pedestrian: legs, torso, arms and head; legs and arms swing with the walking phase."""
    h = _dim(rng, 1.55, 1.85)
    shirt = _pick(rng, SHIRT_COLOURS)
    trousers = _pick(rng, TROUSER_COLOURS)
    skin = _pick(rng, SKIN_COLOURS)
    hip, shoulder = 0.48 * h, 0.81 * h
    b = ModelBuilder()
    b.shadow(0.5, 0.5, sides=8)
    legs = b.part(1)
    leg_ids = []
    for y in (-0.1, 0.1):
        start = len(b.vertex_array())
        b.box(legs, (-0.08, 0.08), (y - 0.07, y + 0.07), (0.0, hip), trousers)
        leg_ids.append(np.arange(start, start + 8))
    body = b.part(1)
    b.box(body, (-0.12, 0.12), (-0.2, 0.2), (hip - 0.02, shoulder), shirt)
    arm_ids = []
    for y in (-0.26, 0.26):
        start = len(b.vertex_array())
        b.box(body, (-0.06, 0.06), (y - 0.05, y + 0.05), (0.5 * h, shoulder - 0.01), _shade(shirt, 0.85))
        arm_ids.append(np.arange(start, start + 8))
    f = b.box(body, (-0.1, 0.1), (-0.09, 0.09), (0.83 * h, h), skin)
    b.decal_uv(f["top"], (0.0, 1.0), (0.0, 1.0), (25, 30, 35))
    b.decal_uv(f["back"], (0.0, 1.0), (0.55, 1.0), (25, 30, 35))
    for side in ("left", "right"):
        b.decal_uv(f[side], (0.0, 0.5), (0.6, 1.0), (25, 30, 35))
    legs_l, legs_r = leg_ids
    arms_l, arms_r = arm_ids
    arm_len = shoulder - 0.5 * h

    def animate(verts: Float, phase: float) -> Float:
        out = verts.copy()
        swing = np.sin(phase)
        for ids, sign in ((legs_l, 1.0), (legs_r, -1.0)):
            out[ids, 0] += sign * swing * 0.32 * (hip - verts[ids, 2]) / hip
        for ids, sign in ((arms_l, -1.0), (arms_r, 1.0)):
            out[ids, 0] += sign * swing * 0.18 * (shoulder - verts[ids, 2]) / arm_len
        return out

    return b.build("person", 0.5, 0.5, animate=animate)


def tree_model(rng: np.random.Generator) -> Model:
    """A roadside tree: trunk and a two-tier octagonal crown."""
    trunk_h = float(rng.uniform(1.8, 2.8))
    r = float(rng.uniform(1.4, 2.6))
    crown_h = float(rng.uniform(2.5, 4.5))
    green = _pick(rng, [(50, 110, 60), (40, 95, 45), (60, 125, 80), (45, 100, 70)])
    b = ModelBuilder()
    part = b.part(1)
    b.box(part, (-0.15, 0.15), (-0.15, 0.15), (0.0, trunk_h + 0.3), (40, 60, 85))
    ang = 2 * np.pi * (np.arange(8) + 0.5) / 8
    ring = np.column_stack([np.cos(ang), np.sin(ang)])
    b.prism_z(part, ring * r * 0.75, (trunk_h, trunk_h + crown_h * 0.35), green, top_scale=1.0 / 0.75)
    b.prism_z(part, ring * r, (trunk_h + crown_h * 0.35, trunk_h + crown_h), _shade(green, 1.08), top_scale=0.45)
    return b.build("tree", 2 * r, 2 * r)


def pole_model(rng: np.random.Generator, arm_m: float = 1.8) -> Model:
    """A street-lamp pole whose arm reaches towards +y (the road), with a lamp head."""
    h = float(rng.uniform(8.0, 10.0))
    b = ModelBuilder()
    part = b.part(1)
    grey = (150, 150, 150)
    b.box(part, (-0.1, 0.1), (-0.1, 0.1), (0.0, h), grey)
    b.box(part, (-0.05, 0.05), (0.0, arm_m), (h - 0.15, h - 0.05), grey)
    b.box(part, (-0.18, 0.18), (arm_m - 0.6, arm_m), (h - 0.3, h - 0.12), (110, 110, 110),
          colours={"bottom": (200, 235, 245)})
    return b.build("pole", 0.4, 2 * arm_m)


MODEL_FACTORIES: dict[str, Callable[[np.random.Generator], Model]] = {
    "car": car_model,
    "bus": bus_model,
    "truck": truck_model,
    "hazmat_tanker": tanker_model,
    "person": person_model,
    "tree": tree_model,
    "pole": pole_model,
}


def make_model(cls: str, rng: np.random.Generator) -> Model:
    """A randomised model of a class (``car``, ``bus``, ``truck``, ``hazmat_tanker``, ``person``...)."""
    return MODEL_FACTORIES[cls](rng)
