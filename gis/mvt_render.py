"""Vector tiles (Mapbox Vector Tile, the ``pbf`` tiles of MBTiles and PMTiles files) drawn as
PNG tiles in the basemap's dark style (:data:`zhizhi.gis.basemap_render.DARK`), so a county's
vector basemap shows on the same pages as a raster one.

The common schemas are understood by their layer and attribute names: OpenMapTiles
(``water``, ``waterway``, ``landcover``, ``landuse``, ``park``, ``building``, ``boundary``,
``transportation`` by ``class``, ``place``, ``water_name``), Protomaps (``earth``, ``water``,
``landuse``, ``buildings``, ``boundaries``, ``roads`` by ``kind``, ``places``) and Mapbox
Streets (``water``, ``landuse``, ``road``, ``admin``, ``place_label``). Drawn: water, green
and built-up land, buildings from zoom 14, boundaries, roads in three classes (expressway,
arterial, local, as the demo's basemap), and place names (Chinese first: ``name:zh``,
``name_zh``, then ``name``). A name is drawn only when it fits inside its tile, so none is cut
at a tile edge. Other layers (POIs, labels along roads) are left out.

>>> import mapbox_vector_tile
>>> tile = mapbox_vector_tile.encode([{"name": "transportation", "features": [
...     {"geometry": "LINESTRING (0 2048, 4096 2048)", "properties": {"class": "motorway"}}]}],
...     default_options={"y_coord_down": True})
>>> import cv2, numpy as np
>>> img = cv2.imdecode(np.frombuffer(render_mvt(tile, 12), np.uint8), cv2.IMREAD_COLOR)
>>> img.shape, img[128, 128].tolist() == list(DARK.roads["expressway"].colour)
((256, 256, 3), True)
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable

import cv2
import mapbox_vector_tile
import numpy as np
from google.protobuf.message import DecodeError

from zhizhi.gis.basemap_render import DARK, SHIFT, TILE, LabelStyle, Style, _hex, _sprite
from zhizhi.gis.fonts import CjkFont

_ONE = 1 << SHIFT
GREEN = _hex("#0c2220")
BUILT = _hex("#111f31")
BUILDING = _hex("#182a40")

WATER_LAYERS = {"water", "ocean", "lake", "lakes", "waterarea", "water_polygons", "water_area"}
WATERWAY_LAYERS = {"waterway", "waterways", "river", "rivers"}
LAND_LAYERS = {"landcover", "landuse", "park", "parks", "landuse_overlay", "natural", "earth", "land", "pois_area"}
BUILDING_LAYERS = {"building", "buildings"}
BOUNDARY_LAYERS = {"boundary", "boundaries", "admin", "admin_boundary"}
ROAD_LAYERS = {"transportation", "roads", "road", "highway", "highways"}
PLACE_LAYERS = {"place", "places", "place_label", "place_labels", "settlement"}
WATER_NAME_LAYERS = {"water_name", "water_label", "water_labels", "waterway_label"}

GREEN_CLASSES = {"park", "wood", "forest", "grass", "grassland", "meadow", "farmland", "farm", "orchard",
                 "scrub", "wetland", "nature_reserve", "garden", "cemetery", "golf_course", "pitch", "national_park",
                 "protected_area", "playground", "recreation_ground", "vineyard", "allotments"}
BUILT_CLASSES = {"residential", "suburb", "neighbourhood", "commercial", "industrial", "retail", "school",
                 "university", "college", "hospital", "railway", "military", "urban_area", "built_up"}
EXPRESSWAY = {"motorway", "motorway_link", "trunk", "trunk_link", "highway", "expressway"}
ARTERIAL = {"primary", "primary_link", "secondary", "secondary_link", "major_road", "major", "street_major"}
SKIP_ROADS = {"path", "footway", "pedestrian", "steps", "cycleway", "bridleway", "rail", "transit", "ferry",
              "aerialway", "aeroway", "pier", "other"}
TOWN_PLACES = {"city", "town", "county", "district", "locality", "state", "province", "region", "capital",
               "prefecture", "township", "macrohood"}


def _kind(props: dict) -> str:
    for key in ("class", "kind", "type", "pmap:kind", "highway", "landuse", "natural", "leisure"):
        value = props.get(key)
        if isinstance(value, str) and value:
            return value.lower()
    return ""


def _name(props: dict) -> str | None:
    for key in ("name:zh", "name_zh", "name:zh-Hans", "name:zh_Hans", "name_zh-Hans", "name", "name_int", "name:en"):
        value = props.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _rings(geometry: dict) -> list[list]:
    kind, coords = geometry.get("type"), geometry.get("coordinates") or []
    if kind == "Polygon":
        return list(coords)
    if kind == "MultiPolygon":
        return [ring for polygon in coords for ring in polygon]
    return []


def _lines(geometry: dict) -> list[list]:
    kind, coords = geometry.get("type"), geometry.get("coordinates") or []
    if kind == "LineString":
        return [coords]
    if kind == "MultiLineString":
        return list(coords)
    if kind in ("Polygon", "MultiPolygon"):
        return _rings(geometry)
    return []


def _points(geometry: dict) -> list:
    kind, coords = geometry.get("type"), geometry.get("coordinates") or []
    if kind == "Point":
        return [coords]
    if kind == "MultiPoint":
        return list(coords)
    return []


def _fixed(paths: Iterable[list], scale: float) -> list[np.ndarray]:
    out = []
    for path in paths:
        a = np.asarray(path, float)
        if a.ndim == 2 and len(a) >= 2:
            out.append(np.round(a * scale * _ONE).astype(np.int32).reshape(-1, 1, 2))
    return out


def decode(data: bytes) -> dict:
    """The layers of an MVT tile (gzip-compressed or not); :class:`ValueError` when it is no
    vector tile."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise ValueError(f"not readable gzip ({exc})") from None
    try:
        layers = mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})
    except (DecodeError, ValueError, IndexError, KeyError, TypeError) as exc:  # bytes that are no tile
        raise ValueError(f"not a Mapbox Vector Tile ({type(exc).__name__})") from None
    return layers if isinstance(layers, dict) else {}


def render_mvt(data: bytes, z: int, font: CjkFont | None = None, style: Style = DARK) -> bytes:
    """The PNG of one vector tile at zoom ``z`` (:class:`ValueError` when ``data`` is no tile)."""
    layers = decode(data)
    fills: dict[str, list[np.ndarray]] = {"green": [], "built": [], "water": [], "building": []}
    strokes: dict[str, list[np.ndarray]] = {"waterway": [], "boundary": [], "local": [], "arterial": [],
                                            "expressway": []}
    names: list[tuple[int, str, float, float, LabelStyle]] = []
    for layer_name, layer in layers.items():
        lname = layer_name.lower()
        scale = TILE / float(layer.get("extent") or 4096)
        for feature in layer.get("features", []):
            geometry, props = feature.get("geometry") or {}, feature.get("properties") or {}
            kind = _kind(props)
            if lname in WATER_LAYERS or (lname in LAND_LAYERS and kind in ("water", "lake", "river", "ocean",
                                                                           "reservoir", "basin")):
                fills["water"] += _fixed(_rings(geometry), scale)
                if geometry.get("type") in ("LineString", "MultiLineString"):
                    strokes["waterway"] += _fixed(_lines(geometry), scale)
            elif lname in WATERWAY_LAYERS:
                strokes["waterway"] += _fixed(_lines(geometry), scale)
            elif lname in LAND_LAYERS:
                if kind in GREEN_CLASSES:
                    fills["green"] += _fixed(_rings(geometry), scale)
                elif kind in BUILT_CLASSES:
                    fills["built"] += _fixed(_rings(geometry), scale)
            elif lname in BUILDING_LAYERS:
                if z >= 14:
                    fills["building"] += _fixed(_rings(geometry), scale)
            elif lname in BOUNDARY_LAYERS:
                if not props.get("maritime") and not props.get("disputed"):
                    strokes["boundary"] += _fixed(_lines(geometry), scale)
            elif lname in ROAD_LAYERS:
                if kind in SKIP_ROADS:
                    continue
                cls = "expressway" if kind in EXPRESSWAY else "arterial" if kind in ARTERIAL else "local"
                strokes[cls] += _fixed(_lines(geometry), scale)
            elif lname in PLACE_LAYERS or lname in WATER_NAME_LAYERS:
                name = _name(props)
                if name is None:
                    continue
                if lname in WATER_NAME_LAYERS:
                    label, rank = style.water_names, 1
                elif kind in TOWN_PLACES:
                    label, rank = style.towns, 0
                else:
                    label, rank = style.villages, 2
                names += [(rank, name, p[0] * scale, p[1] * scale, label) for p in _points(geometry)
                          if len(p) >= 2]
    img = np.empty((TILE, TILE, 3), np.uint8)
    img[:] = style.land
    aa = cv2.LINE_AA
    for key, colour in (("green", GREEN), ("built", BUILT), ("water", style.water), ("building", BUILDING)):
        if fills[key]:
            cv2.fillPoly(img, fills[key], colour, aa, SHIFT)
    if strokes["waterway"]:
        cv2.polylines(img, strokes["waterway"], False, style.water, 2 if z >= 13 else 1, aa, SHIFT)
    if strokes["boundary"]:
        cv2.polylines(img, strokes["boundary"], False, style.town_edge, 2 if z >= 12 else 1, aa, SHIFT)
    # A county file's minor roads would crowd the low zooms: local roads from zoom 12.
    order = ("local", "arterial", "expressway")
    widths = {k: 0 if k == "local" and z < 12 else style.roads[k].width(z) for k in order}
    for k in order:
        if strokes[k] and widths[k] >= 3:
            cv2.polylines(img, strokes[k], False, style.roads[k].casing, widths[k] + 2, aa, SHIFT)
    for k in order:
        if strokes[k] and widths[k]:
            cv2.polylines(img, strokes[k], False, style.roads[k].colour, widths[k], aa, SHIFT)
    if font is not None and names:
        _draw_names(img, names, z, font)
    return cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 6])[1].tobytes()


def _draw_names(img: np.ndarray, names: list, z: int, font: CjkFont) -> None:
    """Names inside the tile, most important first, none over another."""
    boxes: list[tuple[int, int, int, int]] = []
    for _, text, x, y, label in sorted(names, key=lambda n: n[0]):
        size = label.size(z)
        if not size:
            continue
        s = _sprite(text, x, y, font.load(size, bold=label.bold), label)
        h, w = s.alpha.shape[:2]
        if s.x < 0 or s.y < 0 or s.x + w > TILE or s.y + h > TILE:
            continue  # it would be cut at the tile's edge
        box = (s.x - 3, s.y - 2, s.x + w + 3, s.y + h + 2)
        if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in boxes):
            continue
        boxes.append(box)
        region = img[s.y : s.y + h, s.x : s.x + w]
        region[:] = (s.bgr * s.alpha + region * (1.0 - s.alpha)).astype(np.uint8)
