"""Camera lists as a VMS or a GB/T 28181 platform exports them, read row by row for the registry.

A CSV (UTF-8 with or without BOM, or GBK/GB18030; comma, semicolon or tab) or a GeoJSON
FeatureCollection of points. Columns are found by their common names, Chinese and English
(:data:`COLUMNS`: 设备编码/设备ID/DeviceID/id, 名称/设备名称/name, 经度/longitude/lon,
纬度/latitude/lat, 安装高度/height, 方向/朝向/heading, 视场角/fov, rtsp/url/取流地址 ...); a
GeoJSON point's coordinates are its position. Coordinates are in ``crs`` (``wgs84``, ``gcj02``
read off Amap or Tencent, ``bd09``) and become WGS-84; ``120°51'30"`` is read too.

Each row becomes a :class:`CameraRow`: the checked :class:`~layers.camera_registry.CameraInput`,
or its errors (each naming the row and the field), plus warnings for what was assumed (a heading
not given). A 20-digit GB/T 28181 id whose type code (digits 11-13) is not a camera (131, 132)
is an NVR, a platform or an alarm input: that row is skipped, saying so. Nothing here stores
anything: the console decides (owner, jurisdiction, dry run) and writes.

>>> rows = read_camera_file(
...     "设备编码,设备名称,经度,纬度,朝向,视场角,取流地址\\n"
...     "34020000001320000001,东门卡口,120.86,32.01,90,60,rtsp://admin:pw@10.0.0.9/ch1\\n"
...     "34020000001180000001,NVR-1,120.86,32.01,,,\\n".encode("gbk"), "cams.csv")
>>> [(r.number, r.camera.id if r.camera else None, r.skipped is not None) for r in rows]
[(1, '34020000001320000001', False), (2, None, True)]
>>> rows[0].camera.stream_main
'rtsp://admin:pw@10.0.0.9/ch1'
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from zhizhi.gis.crs import convert
from zhizhi.layers.camera_registry import CameraInput

#: Column names per field, compared case-insensitively with spaces, ``_`` and ``-`` ignored.
COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("设备编码", "设备ID", "设备编号", "国标编码", "国标ID", "通道编码", "通道ID", "监控点编号", "点位编号",
           "摄像机编号", "编码", "编号", "DeviceID", "channelid", "cameraid", "cameracode", "indexcode", "code",
           "id"),
    "name": ("设备名称", "名称", "通道名称", "监控点名称", "点位名称", "摄像机名称", "安装位置", "name",
             "cameraname", "channelname", "devicename"),
    "lon": ("经度", "longitude", "lon", "lng", "long", "x"),
    "lat": ("纬度", "latitude", "lat", "y"),
    "height_m": ("安装高度", "高度", "杆高", "架设高度", "height", "heightm", "installheight"),
    "heading_deg": ("方向", "朝向", "方向角", "方位角", "水平角", "heading", "headingdeg", "direction", "azimuth",
                    "bearing"),
    "tilt_deg": ("俯仰角", "俯角", "倾角", "tilt", "tiltdeg", "pitch"),
    "hfov_deg": ("视场角", "水平视场角", "视角", "fov", "hfov", "hfovdeg", "fieldofview"),
    "range_m": ("可视距离", "监控距离", "视距", "range", "rangem", "distance"),
    "stream_main": ("取流地址", "主码流", "主码流地址", "视频流地址", "流地址", "rtsp", "rtspurl", "url", "streamurl",
                    "stream", "streammain", "mainstream"),
    "stream_sub": ("子码流", "子码流地址", "辅码流", "substream", "streamsub", "rtspsub", "suburl"),
    "kind": ("摄像机类型", "设备类型", "类型", "kind", "cameratype", "type"),
    "owner_code": ("所属网格", "网格编码", "所属区域编码", "区域编码", "行政区划代码", "ownercode", "owner", "grid",
                   "gridcode"),
    "analysis_fps": ("分析帧率", "帧率", "analysisfps", "fps"),
    "enabled": ("是否启用", "启用", "enabled", "enable"),
}
#: Words for each kind of camera (lower case).
KIND_WORDS = {
    "fixed": ("fixed", "bullet", "box", "枪机", "固定", "固定摄像机", "筒机", "半球", "卡口", "枪式"),
    "ptz": ("ptz", "dome", "speeddome", "球机", "云台", "快球", "高空瞭望", "球型"),
    "drone": ("drone", "uav", "无人机"),
}
#: GB/T 28181-2016 type codes (digits 11-13 of a 20-digit id) of cameras: 131 camera, 132 network camera.
GB28181_CAMERA_TYPES = ("131", "132")
GB28181_TYPE_NAMES = {"111": "DVR", "112": "video server", "113": "encoder", "114": "decoder", "118": "NVR",
                      "121": "video matrix", "134": "alarm input", "135": "alarm output", "200": "platform",
                      "215": "business group", "216": "virtual organisation"}
#: What a row without a field gets (with a warning).
DEFAULT_HFOV_DEG = {"fixed": 60.0, "ptz": 360.0, "drone": 72.0}
DEFAULT_RANGE_M = 150.0
CRS_NAMES = ("wgs84", "gcj02", "bd09")
_DMS = re.compile(
    r"^\s*(?P<deg>\d+(?:\.\d+)?)\s*[°度]\s*(?:(?P<min>\d+(?:\.\d+)?)\s*[′'分])?\s*"
    r"(?:(?P<sec>\d+(?:\.\d+)?)\s*[″\"秒])?\s*(?P<hem>[NSEW东西南北])?\s*$",
    re.IGNORECASE,
)


class CameraFileError(ValueError):
    """A file that cannot be read as a camera list at all (the message says why)."""


@dataclass
class CameraRow:
    """One row (or feature) of an import, numbered from 1 after the header."""

    number: int
    camera: CameraInput | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)  # (field, reason)
    warnings: list[str] = field(default_factory=list)
    skipped: str | None = None  # why the row is not a camera
    raw_id: str | None = None
    given: frozenset[str] = frozenset()  # the fields the file gives (the rest are defaults)

    def error(self, name: str, reason: str) -> None:
        self.errors.append((name, reason))


def _key(name: str) -> str:
    return re.sub(r"[\s_\-()（）]", "", name).lower()


def detect_columns(header: list[str]) -> dict[str, str]:
    """Which column holds each field: ``{field: column}`` (the first name of :data:`COLUMNS` found).

    >>> detect_columns(["DeviceID", "Name", "Longitude", "Latitude", "RTSP"])
    {'id': 'DeviceID', 'name': 'Name', 'lon': 'Longitude', 'lat': 'Latitude', 'stream_main': 'RTSP'}
    """
    keys = {_key(h): h for h in reversed(header)}
    found: dict[str, str] = {}
    used: set[str] = set()
    for name, candidates in COLUMNS.items():
        for candidate in candidates:
            column = keys.get(_key(candidate))
            if column is not None and column not in used:
                found[name] = column
                used.add(column)
                break
    return found


def parse_degrees(text: str) -> float:
    """A coordinate or angle: decimal (``120.86``, ``120.86°``, ``120.86E``) or degrees, minutes,
    seconds (``120°51'36"``); ``ValueError`` naming the text otherwise.

    >>> parse_degrees("120°51'36\\"E"), parse_degrees("32.01N"), parse_degrees("31度30分")
    (120.86, 32.01, 31.5)
    """
    value = text.strip()
    match = _DMS.match(value)
    if match is not None:
        deg = float(match["deg"]) + float(match["min"] or 0) / 60 + float(match["sec"] or 0) / 3600
        return -deg if (match["hem"] or "").upper() in ("S", "W", "西", "南") else deg
    stripped = value.rstrip("°度").rstrip()
    sign = 1.0
    if stripped[-1:].upper() in ("N", "S", "E", "W"):
        sign = -1.0 if stripped[-1].upper() in ("S", "W") else 1.0
        stripped = stripped[:-1].strip()
    try:
        number = float(stripped)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{text!r} is not a finite number")
    return sign * number


def parse_kind(text: str) -> str:
    """A kind of camera from a VMS's words (``球机`` -> ``ptz``); ``ValueError`` when unknown."""
    word = _key(text)
    for kind, words in KIND_WORDS.items():
        if word in words or any(w in word for w in words if len(w) > 1 and not w.isascii()):
            return kind
    raise ValueError(f"{text!r} is not a kind of camera (fixed/枪机, ptz/球机, drone/无人机)")


def parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in ("1", "true", "yes", "y", "是", "启用", "on", "enabled"):
        return True
    if word in ("0", "false", "no", "n", "否", "停用", "禁用", "off", "disabled"):
        return False
    raise ValueError(f"{text!r} is not yes/no (1/0, true/false, 是/否)")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value).strip()


def gb28181_type(device_id: str) -> str | None:
    """The type code of a 20-digit GB/T 28181 id (``None`` for another form of id).

    >>> gb28181_type("34020000001320000001"), gb28181_type("CAM-0001")
    ('132', None)
    """
    return device_id[10:13] if len(device_id) == 20 and device_id.isdigit() else None


def _row(number: int, values: dict[str, Any], crs: str, position: tuple[Any, Any] | None) -> CameraRow:
    """One row's values (by field name) checked into a :class:`CameraRow`."""
    row = CameraRow(number)
    data: dict[str, Any] = {}
    raw_id = _text(values.get("id"))
    row.raw_id = raw_id or None
    if not raw_id:
        row.error("id", "missing")
    elif re.fullmatch(r"\d(\.\d+)?[eE]\+?\d+", raw_id):
        row.error("id", f"{raw_id!r} is a number a spreadsheet rounded: export the id column as text")
    else:
        kind_code = gb28181_type(raw_id)
        if kind_code is not None and kind_code not in GB28181_CAMERA_TYPES:
            what = GB28181_TYPE_NAMES.get(kind_code, "not a camera")
            row.skipped = f"GB/T 28181 id of type {kind_code} ({what}), not a camera (131, 132)"
            return row
        data["id"] = raw_id
    name = _text(values.get("name"))
    if name:
        data["name"] = name
    for key in ("stream_main", "stream_sub", "owner_code"):
        text = _text(values.get(key))
        if text:
            data[key] = text
    kind = _text(values.get("kind"))
    data["kind"] = "fixed"
    if kind:
        try:
            data["kind"] = parse_kind(kind)
        except ValueError as exc:
            row.error("kind", str(exc))
    for key in ("height_m", "heading_deg", "tilt_deg", "hfov_deg", "range_m", "analysis_fps"):
        text = _text(values.get(key))
        if text:
            try:
                data[key] = parse_degrees(text)
            except ValueError as exc:
                row.error(key, str(exc))
    if "heading_deg" in data:
        data["heading_deg"] = data["heading_deg"] % 360.0 if data["heading_deg"] != 360.0 else 360.0
    enabled = _text(values.get("enabled"))
    if enabled:
        try:
            data["enabled"] = parse_bool(enabled)
        except ValueError as exc:
            row.error("enabled", str(exc))
    _position(row, data, values, crs, position)
    row.given = frozenset(data) - ({"kind"} if not kind else set())
    if "heading_deg" not in data and not any(f == "heading_deg" for f, _ in row.errors):
        data["heading_deg"] = 0.0
        if data["kind"] != "ptz":
            row.warnings.append("heading not given: north (0°) assumed; set it on the cameras page")
    if "hfov_deg" not in data and not any(f == "hfov_deg" for f, _ in row.errors):
        data["hfov_deg"] = DEFAULT_HFOV_DEG[data["kind"]]
        row.warnings.append(f"field of view not given: {data['hfov_deg']:g}° assumed")
    if "range_m" not in data and not any(f == "range_m" for f, _ in row.errors):
        data["range_m"] = DEFAULT_RANGE_M
    if row.errors:
        return row
    try:
        row.camera = CameraInput.model_validate(data)
    except ValidationError as exc:
        for e in exc.errors():
            row.error(".".join(str(p) for p in e["loc"]) or "(row)", e["msg"])  # never e["input"]: URLs
    return row


def _position(row: CameraRow, data: dict[str, Any], values: dict[str, Any], crs: str,
              position: tuple[Any, Any] | None) -> None:
    lonlat: list[float] = []
    for key, raw in zip(("lon", "lat"), position if position is not None else (values.get("lon"), values.get("lat"))):
        text = _text(raw)
        if not text:
            row.error(key, "missing")
            continue
        try:
            lonlat.append(parse_degrees(text))
        except ValueError as exc:
            row.error(key, str(exc))
    if len(lonlat) != 2:
        return
    lon, lat = lonlat
    if not -90 <= lat <= 90 and -90 <= lon <= 90 and -180 <= lat <= 180:
        row.error("lat", f"latitude {lat:g} is outside -90..90: are longitude and latitude swapped?")
        return
    if not -180 <= lon <= 180:
        row.error("lon", f"longitude {lon:g} is outside -180..180")
    if not -90 <= lat <= 90:
        row.error("lat", f"latitude {lat:g} is outside -90..90")
    if row.errors:
        return
    if crs != "wgs84":
        lon_w, lat_w = convert(lon, lat, crs)
        lon, lat = float(lon_w), float(lat_w)
    data["lon"], data["lat"] = lon, lat


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise CameraFileError("the file is neither UTF-8 nor GBK/GB18030 text")


def read_csv(data: bytes, crs: str = "wgs84") -> list[CameraRow]:
    """The rows of a CSV camera list (see the module)."""
    text = _decode(data)
    if "\x00" in text:
        raise CameraFileError("the file holds NUL bytes: not a CSV (an Excel .xlsx? save it as CSV)")
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise CameraFileError("the file is empty") from None
    columns = detect_columns(header)
    missing = [f for f in ("id", "lon", "lat") if f not in columns]
    if missing:
        raise CameraFileError(
            f"no column for {', '.join(missing)} among {header[:30]}; expected e.g. "
            + "; ".join(f"{f}: {'/'.join(COLUMNS[f][:4])}" for f in missing)
        )
    where = {name: header.index(column) for name, column in columns.items()}
    rows = []
    for number, cells in enumerate(reader, start=1):
        if not any(c.strip() for c in cells):
            continue
        values = {name: cells[i] if i < len(cells) else "" for name, i in where.items()}
        row = _row(number, values, crs, None)
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header):]):
            row.error("(row)", f"{len(cells)} cells for {len(header)} columns")
            row.camera = None
        rows.append(row)
    return rows


def read_geojson(data: bytes, crs: str = "wgs84") -> list[CameraRow]:
    """The features of a GeoJSON camera list: points, the fields as properties (see the module)."""
    try:
        doc = json.loads(_decode(data))
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise CameraFileError(f"not JSON: {reason}") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise CameraFileError("expected a GeoJSON FeatureCollection of points")
    rows = []
    for number, feature in enumerate(doc["features"], start=1):
        if not isinstance(feature, dict) or not isinstance(feature.get("properties") or {}, dict):
            row = CameraRow(number)
            row.error("(feature)", "not a Feature with properties")
            rows.append(row)
            continue
        props = feature.get("properties") or {}
        columns = detect_columns([str(k) for k in props])
        values = {name: props[column] for name, column in columns.items()}
        if "id" not in values and isinstance(feature.get("id"), (str, int)):
            values["id"] = feature["id"]
        geometry = feature.get("geometry")
        position = None
        if isinstance(geometry, dict) and geometry.get("type") == "Point":
            coords = geometry.get("coordinates")
            if isinstance(coords, list) and len(coords) >= 2:
                position = (coords[0], coords[1])
        if position is None and geometry is not None:
            row = CameraRow(number, raw_id=_text(values.get("id")) or None)
            kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
            row.error("geometry", f"a camera is a Point, not {kind}")
            rows.append(row)
            continue
        rows.append(_row(number, values, crs, position))
    return rows


def read_camera_file(data: bytes, filename: str = "", crs: str = "wgs84") -> list[CameraRow]:
    """The rows of a camera list: GeoJSON (by name, or text starting with ``{``) or CSV.

    Duplicate ids are errors on every row after the first; ``crs`` must be one of :data:`CRS_NAMES`.
    """
    if crs not in CRS_NAMES:
        raise CameraFileError(f"crs must be one of {', '.join(CRS_NAMES)}, not {crs!r}")
    if not data.strip():
        raise CameraFileError("the file is empty")
    name = filename.lower()
    head = data.lstrip()[:1]
    if name.endswith((".geojson", ".json")) or head == b"{":
        rows = read_geojson(data, crs)
    else:
        rows = read_csv(data, crs)
    first: dict[str, int] = {}
    for row in rows:
        if row.camera is None:
            continue
        if row.camera.id in first:
            row.error("id", f"{row.camera.id!r} repeats row {first[row.camera.id]}")
            row.camera = None
        else:
            first[row.camera.id] = row.number
    return rows


__all__ = [
    "COLUMNS",
    "CRS_NAMES",
    "CameraFileError",
    "CameraRow",
    "detect_columns",
    "gb28181_type",
    "parse_degrees",
    "parse_kind",
    "read_camera_file",
    "read_csv",
    "read_geojson",
]
