"""A dark raster basemap drawn from vector layers: land, water, town and village outlines, roads
by class, and names, as Web-Mercator XYZ tiles (256 px, WGS-84) for a range of zooms.

Each zoom is drawn in blocks of tiles (:data:`BLOCK` x :data:`BLOCK`, one OpenCV canvas each,
anti-aliased polygons and lines in fixed-point pixels) and then cut into tiles, so a road or a
name that crosses a tile edge is drawn once and continues seamlessly; blocks run on a thread
pool (OpenCV and PNG encoding release the GIL). Names are Pillow sprites (a Chinese font,
:mod:`zhizhi.gis.fonts`, with a dark halo) placed once per zoom, most important first, none
overlapping another; without a font no names are drawn. Tiles are 8-bit palette PNGs
(:func:`palette_png`: the style's colours exact, a third of the bytes of full colour); tiles of
one plain colour (outside the district) are encoded once.

The style suits the console's dark wall: the page's own background outside the district, a
slightly lighter land, dark blue water, faint boundaries and muted road colours under the
bright vector layers the map pages draw on top.

>>> import geopandas as gpd, shapely
>>> box = shapely.box(121.0, 32.0, 121.05, 32.04)
>>> scene = Scene.build(box, roads=gpd.GeoDataFrame(
...     {"road_class": ["arterial"]}, geometry=[shapely.LineString([(121.0, 32.02), (121.05, 32.02)])]))
>>> tiles = {}
>>> stats = render_pyramid(scene, (10, 11), lambda z, x, y, data: tiles.__setitem__((z, x, y), data))
>>> stats.tiles == len(tiles) > 0, sorted({z for z, _, _ in tiles})
(True, [10, 11])
"""

from __future__ import annotations

import io
import logging
import mmap
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import geopandas as gpd
import numpy as np
import shapely
from PIL import Image, ImageDraw
from scipy.spatial import cKDTree

from zhizhi.gis.fonts import CjkFont

log = logging.getLogger(__name__)

TILE = 256
#: Tiles on a side of one drawing block.
BLOCK = 8
#: Fixed-point bits of the pixel coordinates handed to OpenCV (1/16 px).
SHIFT = 4
_ONE = 1 << SHIFT
BGR = tuple[int, int, int]
#: zlib level of the tiles (docs/benchmarks.md): 3 is 0.6 ms a tile faster and 8 % larger; 9 is 4 %
#: smaller and four times slower.
PNG_LEVEL = 6
#: Colours of a palette PNG.
PALETTE = 256


def _hex(colour: str) -> BGR:
    """``#rrggbb`` as OpenCV's BGR."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return b, g, r


@dataclass(frozen=True)
class RoadStyle:
    """One road class: its colour, its casing, and its width in pixels from ``minzoom`` up
    (the last width holds for higher zooms)."""

    colour: BGR
    casing: BGR
    widths: tuple[int, ...]
    minzoom: int

    def width(self, z: int) -> int:
        if z < self.minzoom:
            return 0
        return self.widths[min(z - self.minzoom, len(self.widths) - 1)]


@dataclass(frozen=True)
class LabelStyle:
    """Names of one level: colour, halo, pixel size per zoom from ``minzoom`` up, bold or not."""

    colour: tuple[int, int, int]  # RGB (Pillow)
    halo: tuple[int, int, int]
    sizes: tuple[int, ...]
    minzoom: int
    bold: bool = False
    maxzoom: int = 30

    def size(self, z: int) -> int:
        if not self.minzoom <= z <= self.maxzoom:
            return 0
        return self.sizes[min(z - self.minzoom, len(self.sizes) - 1)]


#: The dark style's colours, BGR.
_OUTSIDE = _hex("#07101d")  # the map page's own background (--map-bg): the edge does not show
_LAND, _WATER, _WATER_EDGE = _hex("#0d1a2b"), _hex("#124a75"), _hex("#1a5580")
_DISTRICT_EDGE, _TOWN_EDGE, _VILLAGE_EDGE = _hex("#2f5d86"), _hex("#27486a"), _hex("#182f48")
_ROADS = {
    "local": RoadStyle(_hex("#4b5a6e"), _hex("#0a1320"), (1, 1, 1, 2, 3, 4, 6), 10),
    "arterial": RoadStyle(_hex("#9c8455"), _hex("#0a1320"), (1, 1, 2, 2, 3, 5, 7, 9), 9),
    "expressway": RoadStyle(_hex("#c98b3c"), _hex("#2a1a08"), (1, 2, 2, 3, 4, 6, 8, 11), 9),
}


@dataclass(frozen=True)
class Style:
    """Colours (BGR) and widths of the basemap."""

    outside: BGR = _OUTSIDE
    land: BGR = _LAND
    water: BGR = _WATER
    water_edge: BGR = _WATER_EDGE
    district_edge: BGR = _DISTRICT_EDGE
    town_edge: BGR = _TOWN_EDGE
    village_edge: BGR = _VILLAGE_EDGE
    roads: dict[str, RoadStyle] = field(default_factory=lambda: dict(_ROADS))
    towns: LabelStyle = LabelStyle((179, 229, 252), (4, 10, 20), (12, 13, 15, 17, 18, 20), 9, bold=True)
    villages: LabelStyle = LabelStyle((166, 196, 222), (4, 10, 20), (11, 13, 14, 16), 12)
    water_names: LabelStyle = LabelStyle((110, 170, 215), (4, 10, 20), (11, 13, 14, 16), 12)


DARK = Style()


def world_px(lon, lat, z: int) -> tuple[np.ndarray, np.ndarray]:
    """Global Web-Mercator pixel coordinates (tile ``x`` starts at ``256 * x``) at zoom ``z``."""
    world = TILE * float(1 << z)
    lat = np.clip(np.asarray(lat, float), -85.05112878, 85.05112878)
    x = (np.asarray(lon, float) + 180.0) / 360.0 * world
    y = (1.0 - np.arcsinh(np.tan(np.radians(lat))) / np.pi) / 2.0 * world
    return x, y


def leaflet_center(geom: shapely.Geometry) -> tuple[float, float]:
    """Where Leaflet's ``getCenter()`` puts a polygon's label: the centroid, in Web Mercator, of
    its (first part's) outer ring; so names drawn here sit under the map page's own."""
    part = shapely.get_parts(geom)[0] if geom.geom_type.startswith("Multi") else geom
    ring = np.asarray(part.exterior.coords) if part.geom_type == "Polygon" else shapely.get_coordinates(part)
    x, y = world_px(ring[:, 0], ring[:, 1], 0)
    poly = shapely.Polygon(np.column_stack([x, y]))
    c = poly.centroid if poly.area > 0 else shapely.Point(x[0], y[0])
    world = float(TILE)
    lon = c.x / world * 360.0 - 180.0
    lat = float(np.degrees(np.arctan(np.sinh(np.pi * (1.0 - 2.0 * c.y / world)))))
    return lon, lat


@dataclass
class Scene:
    """What the basemap shows, in WGS-84: the district's land, water polygons, town and
    village outlines, roads with their class, and the names (text, lon, lat, level)."""

    land: shapely.Geometry | None
    water: np.ndarray
    towns: np.ndarray
    villages: np.ndarray
    roads: dict[str, np.ndarray]
    names: list[tuple[str, float, float, str]]

    @classmethod
    def build(
        cls,
        land: shapely.Geometry | None = None,
        *,
        water: gpd.GeoDataFrame | None = None,
        towns: gpd.GeoDataFrame | None = None,
        villages: gpd.GeoDataFrame | None = None,
        roads: gpd.GeoDataFrame | None = None,
    ) -> Scene:
        """A scene from layers (``name`` columns label towns, villages and lakes; roads carry
        ``road_class``: expressway, arterial or local, anything else drawn as local)."""
        def geoms(table) -> np.ndarray:
            if table is None or not len(table):
                return np.asarray([], dtype=object)
            return np.asarray(table.geometry.values, dtype=object)

        names: list[tuple[str, float, float, str]] = []
        for level, table in (("towns", towns), ("villages", villages)):
            if table is None or "name" not in table:
                continue
            for name, geom in zip(table["name"], table.geometry.values):
                if name and geom is not None and not geom.is_empty:
                    names.append((str(name), *leaflet_center(geom), level))
        if water is not None and "name" in water and len(water):
            lakes = water[water.get("kind", "lake") == "lake"] if "kind" in water else water
            for name, geom in zip(lakes["name"], lakes.geometry.values):
                if name and not geom.is_empty:
                    at = shapely.point_on_surface(geom)
                    names.append((str(name), at.x, at.y, "water_names"))
        road_sets: dict[str, np.ndarray] = {}
        if roads is not None and len(roads):
            classes = roads["road_class"].astype(str).to_numpy() if "road_class" in roads else None
            all_roads = geoms(roads)
            for cls_name in ("local", "arterial", "expressway"):
                if classes is None:
                    mask = np.full(len(all_roads), cls_name == "local")
                elif cls_name == "local":
                    mask = ~np.isin(classes, ["arterial", "expressway"])
                else:
                    mask = classes == cls_name
                road_sets[cls_name] = all_roads[mask]
        water_geoms = geoms(water)
        merged = shapely.union_all(water_geoms) if len(water_geoms) else None
        return cls(
            land=land,
            water=np.asarray([merged] if merged is not None and not merged.is_empty else [], dtype=object),
            towns=geoms(towns),
            villages=geoms(villages),
            roads=road_sets,
            names=names,
        )

    def bounds(self) -> tuple[float, float, float, float]:
        """West, south, east, north of everything in the scene."""
        parts = [g for g in (self.land,) if g is not None]
        parts += [a for a in (self.water, self.towns, self.villages, *self.roads.values()) if len(a)]
        return tuple(float(v) for v in shapely.total_bounds(np.concatenate(
            [np.atleast_1d(np.asarray(p, dtype=object)) for p in parts])))


@dataclass
class _Paths:
    """Polygon rings or lines of one kind at one zoom: fixed-point int32 pixel arrays and their
    pixel boxes (for picking those a block touches)."""

    arrays: list[np.ndarray]
    boxes: np.ndarray  # (n, 4) minx, miny, maxx, maxy in pixels

    @classmethod
    def of(cls, geoms: np.ndarray, z: int, *, rings: bool) -> _Paths:
        if not len(geoms):
            return cls([], np.zeros((0, 4)))
        tolerance = 0.35 * 360.0 / (TILE * (1 << z))  # about a third of a pixel, in degrees
        geoms = shapely.simplify(np.asarray(geoms, dtype=object), tolerance, preserve_topology=True)
        parts = shapely.get_parts(geoms)
        if rings:
            parts = shapely.get_rings(parts[shapely.get_type_id(parts) == 3])
        else:
            parts = parts[np.isin(shapely.get_type_id(parts), [1, 2])]
        if not len(parts):
            return cls([], np.zeros((0, 4)))
        coords, index = shapely.get_coordinates(parts, return_index=True)
        x, y = world_px(coords[:, 0], coords[:, 1], z)
        fixed = np.column_stack([np.round(x * _ONE), np.round(y * _ONE)]).astype(np.int64)
        cuts = np.flatnonzero(np.diff(index)) + 1
        arrays = np.split(fixed, cuts)
        starts = np.concatenate([[0], cuts])
        boxes = np.column_stack([
            np.minimum.reduceat(x, starts), np.minimum.reduceat(y, starts),
            np.maximum.reduceat(x, starts), np.maximum.reduceat(y, starts),
        ])
        return cls(arrays, boxes)

    def within(self, x0: float, y0: float, x1: float, y1: float, pad: float) -> list[np.ndarray]:
        """The arrays whose box meets the pixel box (widened by ``pad``), shifted to its origin."""
        if not self.arrays:
            return []
        b = self.boxes
        hit = np.flatnonzero((b[:, 2] >= x0 - pad) & (b[:, 0] <= x1 + pad) & (b[:, 3] >= y0 - pad)
                             & (b[:, 1] <= y1 + pad))
        origin = np.array([int(x0) * _ONE, int(y0) * _ONE], np.int64)
        return [(self.arrays[i] - origin).astype(np.int32).reshape(-1, 1, 2) for i in hit]


@dataclass
class _Sprite:
    """A rendered name: its top-left global pixel, BGR colours and alpha (0..1)."""

    x: int
    y: int
    bgr: np.ndarray
    alpha: np.ndarray


def _sprite(text: str, cx: float, cy: float, font, style: LabelStyle) -> _Sprite:
    halo = max(2, round(font.size / 6))
    left, top, right, bottom = font.getbbox(text, stroke_width=halo)
    img = Image.new("RGBA", (right - left + 2, bottom - top + 2), (0, 0, 0, 0))
    ImageDraw.Draw(img).text((1 - left, 1 - top), text, font=font, fill=(*style.colour, 255),
                             stroke_width=halo, stroke_fill=(*style.halo, 235))
    rgba = np.asarray(img)
    h, w = rgba.shape[:2]
    return _Sprite(round(cx - w / 2), round(cy - h / 2), np.ascontiguousarray(rgba[:, :, 2::-1]),
                   rgba[:, :, 3:4].astype(np.float32) / 255.0)


def _place_names(scene: Scene, z: int, font: CjkFont | None, style: Style) -> list[_Sprite]:
    """The names drawn at zoom ``z``: towns first, then lakes, then villages, each kept only
    where it overlaps no name placed before it."""
    if font is None:
        return []
    placed: list[_Sprite] = []
    boxes: list[tuple[int, int, int, int]] = []
    order = {"towns": 0, "water_names": 1, "villages": 2}
    for text, lon, lat, level in sorted(scene.names, key=lambda n: order.get(n[3], 3)):
        label = getattr(style, level)
        size = label.size(z)
        if not size:
            continue
        x, y = world_px(lon, lat, z)
        sprite = _sprite(text, float(x), float(y), font.load(size, bold=label.bold), label)
        h, w = sprite.alpha.shape[:2]
        box = (sprite.x - 4, sprite.y - 2, sprite.x + w + 4, sprite.y + h + 2)
        if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in boxes):
            continue
        boxes.append(box)
        placed.append(sprite)
    return placed


@dataclass
class _Zoom:
    """Everything drawn at one zoom, in that zoom's pixels."""

    z: int
    land: _Paths
    water: _Paths
    villages: _Paths
    towns: _Paths
    roads: dict[str, _Paths]
    names: list[_Sprite]

    @classmethod
    def prepare(cls, scene: Scene, z: int, font: CjkFont | None, style: Style) -> _Zoom:
        land = np.asarray([scene.land] if scene.land is not None else [], dtype=object)
        return cls(
            z=z,
            land=_Paths.of(land, z, rings=True),
            water=_Paths.of(scene.water, z, rings=True),
            villages=_Paths.of(scene.villages, z, rings=True) if z >= 11 else _Paths([], np.zeros((0, 4))),
            towns=_Paths.of(scene.towns, z, rings=True),
            roads={k: _Paths.of(v, z, rings=False) for k, v in scene.roads.items() if style.roads[k].width(z)},
            names=_place_names(scene, z, font, style),
        )


def _draw_block(zoom: _Zoom, style: Style, x0: int, y0: int, cols: int, rows: int) -> np.ndarray:
    """The BGR image of tiles ``x0..x0+cols-1``, ``y0..y0+rows-1`` at the zoom."""
    px0, py0 = x0 * TILE, y0 * TILE
    w, h = cols * TILE, rows * TILE
    px1, py1 = px0 + w, py0 + h
    img = np.empty((h, w, 3), np.uint8)
    img[:] = style.outside
    aa = cv2.LINE_AA
    land = zoom.land.within(px0, py0, px1, py1, 0)
    if land:
        cv2.fillPoly(img, land, style.land, aa, SHIFT)
    water = zoom.water.within(px0, py0, px1, py1, 0)
    if water:
        cv2.fillPoly(img, water, style.water, aa, SHIFT)
        # Below zoom 13 a river is a pixel or two wide: its banks drawn in water colour widen it.
        cv2.polylines(img, water, True, style.water if zoom.z < 13 else style.water_edge,
                      2 if zoom.z < 13 else 1, aa, SHIFT)
    villages = zoom.villages.within(px0, py0, px1, py1, 2)
    if villages:
        cv2.polylines(img, villages, True, style.village_edge, 1, aa, SHIFT)
    towns = zoom.towns.within(px0, py0, px1, py1, 3)
    if towns:
        cv2.polylines(img, towns, True, style.town_edge, 2 if zoom.z >= 12 else 1, aa, SHIFT)
    if land:
        cv2.polylines(img, land, True, style.district_edge, 2, aa, SHIFT)
    order = [k for k in ("local", "arterial", "expressway") if k in zoom.roads]
    picked = {k: zoom.roads[k].within(px0, py0, px1, py1, 12) for k in order}
    for k in order:  # casings first, so crossings join
        width = style.roads[k].width(zoom.z)
        if picked[k] and width >= 3:
            cv2.polylines(img, picked[k], False, style.roads[k].casing, width + 2, aa, SHIFT)
    for k in order:
        if picked[k]:
            cv2.polylines(img, picked[k], False, style.roads[k].colour, style.roads[k].width(zoom.z), aa, SHIFT)
    for s in zoom.names:
        sh, sw = s.alpha.shape[:2]
        ax0, ay0 = max(s.x, px0), max(s.y, py0)
        ax1, ay1 = min(s.x + sw, px1), min(s.y + sh, py1)
        if ax0 >= ax1 or ay0 >= ay1:
            continue
        a = s.alpha[ay0 - s.y : ay1 - s.y, ax0 - s.x : ax1 - s.x]
        fg = s.bgr[ay0 - s.y : ay1 - s.y, ax0 - s.x : ax1 - s.x]
        region = img[ay0 - py0 : ay1 - py0, ax0 - px0 : ax1 - px0]
        region[:] = (fg * a + region * (1.0 - a)).astype(np.uint8)
    return img


def colour_table() -> np.ndarray:
    """Scratch for :func:`palette_png`, one byte for each of the 2**24 colours: 16 MB of address
    space of which only the pages of the colours met are touched, unmapped with the array (a
    heap block this size would keep every page it ever touched). Reuse one across tiles."""
    return np.frombuffer(mmap.mmap(-1, 1 << 24), np.uint8)


def palette_png(tile: np.ndarray, *, level: int = PNG_LEVEL, table: np.ndarray | None = None) -> bytes:
    """An 8-bit palette PNG of a BGR image. Its :data:`PALETTE` most frequent colours (ties: the
    lower RGB value) are the palette, exactly, so every area of a style colour keeps it; any
    rarer colour (the blends of anti-aliased edges) becomes the nearest palette colour in RGB.
    An image of at most 256 colours is lossless, and of at most 16 takes 4 bits or fewer a pixel.
    ``table``: a :func:`colour_table` to use (one is made for the call when missing)."""
    if tile.ndim != 3 or tile.shape[2] != 3 or tile.dtype != np.uint8 or not tile.size:
        raise ValueError(f"palette_png wants a BGR uint8 image, not {tile.dtype} of shape {tile.shape}")
    table = colour_table() if table is None else table
    if table.shape != (1 << 24,) or table.dtype != np.uint8:
        raise ValueError("palette_png's table is a colour_table(): 2**24 bytes")
    # One uint32 key per pixel, 0xRRGGBB; sorted, the distinct keys and how often each occurs.
    keys = (tile[..., 2].astype(np.uint32) << 16) | (tile[..., 1].astype(np.uint32) << 8) | tile[..., 0]
    keys = keys.ravel()
    ordered = np.sort(keys)
    new = np.empty(ordered.size, bool)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    colours = ordered[starts]
    palette, entry = _palette(colours, np.diff(starts, append=ordered.size))
    table[colours] = entry  # each pixel's palette entry by its key
    image = Image.fromarray(table[keys].reshape(tile.shape[:2]))
    image.putpalette(_rgb(palette).astype(np.uint8).tobytes())
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=level)
    return out.getvalue()


def _palette(colours: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The palette (keys) of distinct ``colours`` seen ``counts`` times, and each colour's entry
    in it: all of them when they fit; else the most frequent, and the nearest for the rest."""
    if colours.size <= PALETTE:
        return colours, np.arange(colours.size, dtype=np.uint8)
    by_count = np.lexsort((colours, -counts))
    kept = np.sort(by_count[:PALETTE])
    entry = np.empty(colours.size, np.uint8)
    entry[kept] = np.arange(PALETTE)
    rare = by_count[PALETTE:]
    entry[rare] = cKDTree(_rgb(colours[kept])).query(_rgb(colours[rare]))[1]
    return colours[kept], entry


def _rgb(keys: np.ndarray) -> np.ndarray:
    """``0xRRGGBB`` keys as rows of R, G, B."""
    return np.column_stack([keys >> 16, (keys >> 8) & 255, keys & 255])


def tile_range(bounds: Sequence[float], z: int) -> tuple[int, int, int, int]:
    """First and last column and row (XYZ) of zoom ``z`` over ``bounds`` (west, south, east, north)."""
    w, s, e, n = bounds
    x0, y0 = world_px(w, n, z)
    x1, y1 = world_px(e, s, z)
    last = (1 << z) - 1
    return (int(min(max(x0 // TILE, 0), last)), int(min(max(x1 // TILE, 0), last)),
            int(min(max(y0 // TILE, 0), last)), int(min(max(y1 // TILE, 0), last)))


@dataclass
class RenderStats:
    """What a render made: tiles per zoom, their bytes, the seconds it took, names drawn, font."""

    tiles: int = 0
    bytes: int = 0
    seconds: float = 0.0
    per_zoom: dict[int, int] = field(default_factory=dict)
    names: int = 0
    font: str | None = None

    def as_dict(self) -> dict:
        return {"tiles": self.tiles, "bytes": self.bytes, "seconds": round(self.seconds, 2),
                "per_zoom": dict(self.per_zoom), "names": self.names, "font": self.font}


def render_pyramid(
    scene: Scene,
    zooms: tuple[int, int],
    write: Callable[[int, int, int, bytes], None],
    *,
    bounds: Sequence[float] | None = None,
    font: CjkFont | None = None,
    style: Style = DARK,
    workers: int | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> RenderStats:
    """Draw the scene for zooms ``zooms[0]..zooms[1]`` over ``bounds`` (default: the scene's)
    and hand each PNG tile to ``write(z, x, y, data)`` (XYZ rows, from the north; called on
    this thread only). ``progress(z, tiles_done, tiles_of_zoom)`` runs after each zoom."""
    started = time.perf_counter()
    bounds = tuple(bounds) if bounds is not None else scene.bounds()
    stats = RenderStats(font=str(font.path) if font is not None else None)
    encoded_plain: dict[tuple[int, ...], bytes] = {}

    def encode(tile: np.ndarray, table: np.ndarray) -> bytes:
        if not cv2.meanStdDev(tile)[1].any():  # one colour: the same bytes every time
            key = tuple(int(v) for v in tile[0, 0])
            if key not in encoded_plain:
                encoded_plain[key] = palette_png(tile, table=table)
            return encoded_plain[key]
        return palette_png(tile, table=table)

    def block(zoom: _Zoom, bx: int, by: int, cols: int, rows: int) -> list[tuple[int, int, bytes]]:
        img = _draw_block(zoom, style, bx, by, cols, rows)
        table = colour_table()
        return [(bx + c, by + r, encode(img[r * TILE : (r + 1) * TILE, c * TILE : (c + 1) * TILE], table))
                for r in range(rows) for c in range(cols)]

    with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
        for z in range(zooms[0], zooms[1] + 1):
            zoom = _Zoom.prepare(scene, z, font, style)
            stats.names += len(zoom.names)
            x0, x1, y0, y1 = tile_range(bounds, z)
            jobs = [pool.submit(block, zoom, bx, by, min(BLOCK, x1 - bx + 1), min(BLOCK, y1 - by + 1))
                    for by in range(y0, y1 + 1, BLOCK) for bx in range(x0, x1 + 1, BLOCK)]
            done = 0
            for job in jobs:
                for x, y, data in job.result():
                    write(z, x, y, data)
                    done += 1
                    stats.bytes += len(data)
            stats.per_zoom[z] = done
            stats.tiles += done
            if progress is not None:
                progress(z, done, done)
    stats.seconds = time.perf_counter() - started
    return stats
