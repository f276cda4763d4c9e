"""Situation reports (态势报告) of an incident: a standalone HTML map, a JSON summary, a CSV table.

The HTML is made with folium but loads nothing from anywhere: Leaflet's script and stylesheet are
inlined from the Leaflet folder the caller names (the console's front-end packages,
``settings.assets_dir / "leaflet"``; its images as ``data:`` URIs), folium's CDN links (jQuery,
Bootstrap, Font Awesome, awesome-markers) are dropped — nothing here needs them — and there is no
tile layer unless a tile URL is passed explicitly. Markers are circle markers (drawn, not images).
The file opens on an air-gapped duty PC, or attached to a report.

:func:`external_refs` lists what a page would fetch from outside (``src``/``href`` attributes
and CSS ``url(...)``); :func:`render_html` refuses to return a page that has any (except the
tile URL the caller asked for, which lives in the map script, not in an attribute).

All text from the incident and its layers is HTML-escaped. Times are shown in the deployment's
one time zone (``time_zone``, an IANA name: settings.wall.time_zone, Asia/Shanghai by default),
as on the wall.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import folium
import shapely
from branca.element import Element, Figure
from folium.utilities import JsCode
from shapely.geometry import shape

from zhizhi.alerts.incidents.labels import COUNT_ZH, KIND_ZH, actor_zh, entry_text_zh
from zhizhi.alerts.incidents.record import Incident, TimelineEntry, impact_counts
from zhizhi.layers.spreadsheet import Column, write_csv

DEFAULT_TIME_ZONE = "Asia/Shanghai"

TYPE_LABELS = {
    "typhoon": "台风 Typhoon",
    "flood": "洪涝 Flood",
    "fire": "火灾 Fire",
    "chemical_leak": "危化品泄漏 Chemical leak",
    "rainstorm": "暴雨 Rainstorm",
    "other": "其他 Other",
}
STATUS_LABELS = {"active": "处置中 Active", "closed": "已结束 Closed"}
UNIT_SECTIONS = ("towns", "villages", "grids")
#: Object sections of the impact, with their label and colour on the map.
OBJECT_SECTIONS: dict[str, tuple[str, str]] = {
    "cameras": ("摄像头 Cameras", "#1f6fd1"),
    "shelters": ("避难场所 Shelters", "#1e9e4a"),
    "facilities": ("重点设施 Facilities", "#8e44ad"),
    "drones": ("无人机 Drones", "#0aa5a5"),
    "vehicles": ("车辆 Vehicles", "#e67e22"),
}
UNIT_LABELS = {"towns": "镇街 Towns", "villages": "村社区 Villages", "grids": "网格 Grids"}
HAZARD_STYLE = {"color": "#d62728", "weight": 2, "fillColor": "#d62728", "fillOpacity": 0.22}
GRID_STYLE = {"color": "#444", "weight": 1, "dashArray": "4 3", "fill": True, "fillOpacity": 0.03}
TOWN_STYLE = {"color": "#222", "weight": 2, "fill": False}
CONTEXT_STYLE = {"color": "#888", "weight": 1, "fill": False, "interactive": False}
MAX_PROPERTIES = 8

# Binds the HTML (escaped by us) that each feature carries; folium's own Popup needs jQuery.
_BIND = JsCode(
    "function(feature, layer) {"
    " var p = feature.properties || {};"
    " if (p.popup) { layer.bindPopup(p.popup, {maxWidth: 360}); }"
    " if (p.tip) { layer.bindTooltip(p.tip, {sticky: true}); }"
    "}"
)


# ------------------------------------------------------------------------------ helpers


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def format_ts(ts: float | None, time_zone: str = DEFAULT_TIME_ZONE) -> str:
    """Epoch seconds as ``YYYY-MM-DD HH:MM:SS`` in ``time_zone`` (an IANA name), ``—`` for none.

    >>> format_ts(1_750_000_000)
    '2025-06-15 23:06:40'
    >>> format_ts(1_750_000_000, "Europe/London")
    '2025-06-15 16:06:40'
    """
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, tz=_zone(time_zone)).strftime("%Y-%m-%d %H:%M:%S")


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _distance(value: Any) -> str:
    return f"{float(value):,.0f} m" if isinstance(value, int | float) else "—"


def _items(impact: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [i for i in (impact.get(key) or []) if isinstance(i, dict)]


class _Refs(HTMLParser):
    """Collects ``src``/``href`` attributes and CSS ``url(...)`` of a page."""

    _URL = re.compile(r"url\(\s*['\"]?([^'\")]+)", re.IGNORECASE)

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.refs: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        for name, value in attrs:
            if value is None:
                continue
            if name in ("src", "href", "srcset", "poster", "data", "action", "background"):
                self.refs.append(value.strip())
            elif name == "style":
                self.refs.extend(self._URL.findall(value))

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.refs.extend(self._URL.findall(data))
            self.refs.extend(re.findall(r"@import\s+['\"]([^'\"]+)", data))


def external_refs(page: str) -> list[str]:
    """Every reference in ``page`` that leaves the file: ``http:``, ``https:``, ``//host``, ``ftp:``.

    >>> external_refs('<img src="data:image/png;base64,AA"><link href="//cdn.example/x.css">')
    ['//cdn.example/x.css']
    """
    parser = _Refs()
    parser.feed(page)
    parser.close()
    return [r for r in parser.refs if re.match(r"^(https?:|ftp:|//)", r.strip(), re.IGNORECASE)]


@lru_cache(maxsize=4)
def _leaflet(leaflet_dir: Path) -> tuple[str, str]:
    """Leaflet's script and stylesheet, the stylesheet's images inlined as data URIs."""
    js = (leaflet_dir / "leaflet.js").read_text(encoding="utf-8")
    css = (leaflet_dir / "leaflet.css").read_text(encoding="utf-8")

    def inline(match: re.Match[str]) -> str:
        data = base64.b64encode((leaflet_dir / match.group(1)).read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    css = re.sub(r"url\((images/[\w.-]+\.png)\)", inline, css)
    # The attribution prefix links to leafletjs.com: keep the word, drop the outside link.
    js = js.replace('<a href="https://leafletjs.com" ', "<a ")
    if "</script" in js.lower() or "</style" in css.lower():
        raise RuntimeError("the vendored Leaflet cannot be inlined: it contains a closing tag")
    return js, css


def _strip_cdn_links(element: Any) -> None:
    """Drop the CDN resources folium elements would link (Leaflet comes inline instead)."""
    if hasattr(element, "default_js"):
        element.default_js = []
    if hasattr(element, "default_css"):
        element.default_css = []
    for child in element._children.values():
        _strip_cdn_links(child)


# ------------------------------------------------------------------------------ the map


def _popup(item: dict[str, Any], section: str) -> str:
    label = OBJECT_SECTIONS.get(section, (section, ""))[0]
    rows = [
        ("类别 Kind", label),
        ("编号 ID", item.get("id")),
        ("图层 Layer", item.get("layer")),
        ("距离 Distance", _distance(item.get("distance_m"))),
        ("位置 Where", "区内 inside" if item.get("inside") else "区外 outside"),
    ]
    props = item.get("properties") or {}
    if isinstance(props, dict):
        rows += [(k, v) for k, v in list(props.items())[:MAX_PROPERTIES] if not isinstance(v, dict | list)]
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<div class="sr-pop"><b>{_e(item.get("name") or item.get("id"))}</b><table>{body}</table></div>'


def _object_features(items: list[dict[str, Any]], section: str, color: str) -> list[dict[str, Any]]:
    features = []
    for item in items:
        lon, lat = item.get("lon"), item.get("lat")
        if not isinstance(lon, int | float) or not isinstance(lat, int | float):
            continue
        inside = bool(item.get("inside"))
        style = {"color": "#fff" if inside else color, "weight": 1.5, "fill": True, "fillColor": color,
                 "fillOpacity": 0.95 if inside else 0.35, "radius": 7 if inside else 5}
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [float(lon), float(lat)]},
            "properties": {"style": style, "popup": _popup(item, section),
                           "tip": _e(item.get("name") or item.get("id"))},
        })
    return features


def _unit_features(layer: dict[str, Any] | None, units: list[dict[str, Any]], style: dict) -> list[dict]:
    """Features of ``layer`` (a GeoJSON FeatureCollection) whose code is among ``units``."""
    if not layer:
        return []
    by_code = {str(u.get("code")): u for u in units}
    features = []
    for feature in layer.get("features") or []:
        props = feature.get("properties") or {}
        unit = by_code.get(str(props.get("code")))
        if unit is None or not feature.get("geometry"):
            continue
        share = unit.get("share")
        tip = (f"{_e(unit.get('name') or props.get('name'))} {_e(unit.get('code'))}<br>"
               f"人口 {_e(unit.get('population'))}"
               + (f" · {float(share):.0%}" if isinstance(share, int | float) else ""))
        features.append({"type": "Feature", "geometry": feature["geometry"],
                         "properties": {"style": style, "tip": tip}})
    return features


def _collection(features: list[dict]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def _bounds(area: shapely.Geometry | None, impact: dict[str, Any]) -> list[list[float]] | None:
    xs: list[float] = []
    ys: list[float] = []
    if area is not None and not area.is_empty:
        minx, miny, maxx, maxy = area.bounds
        xs += [minx, maxx]
        ys += [miny, maxy]
    for section in OBJECT_SECTIONS:
        for item in _items(impact, section):
            if isinstance(item.get("lon"), int | float) and isinstance(item.get("lat"), int | float):
                xs.append(float(item["lon"]))
                ys.append(float(item["lat"]))
    if not xs:
        return None
    return [[min(ys), min(xs)], [max(ys), max(xs)]]


def _header(incident: Incident, impact: dict[str, Any], generated_ts: float | None,
            time_zone: str = DEFAULT_TIME_ZONE) -> str:
    counts = impact_counts(impact)
    area_km2 = impact.get("area_km2")
    stats = [("population", "影响人口 Population", f"{counts['population']:,}")]
    if isinstance(area_km2, int | float):
        stats.append(("area_km2", "面积 Area", f"{area_km2:,.2f} km²"))
    stats += [(k, UNIT_LABELS[k], str(counts[k])) for k in UNIT_SECTIONS]
    stats += [(k, OBJECT_SECTIONS[k][0], str(counts[k])) for k in OBJECT_SECTIONS]
    cells = "".join(
        f'<div class="sr-stat"><span class="sr-label">{_e(label)}</span>'
        f'<span class="sr-count" data-key="{key}">{_e(value)}</span></div>'
        for key, label, value in stats
    )
    legend = "".join(
        f'<span class="sr-legend"><i style="background:{color}"></i>{_e(label)}</span>'
        for label, color in OBJECT_SECTIONS.values()
    )
    kind = TYPE_LABELS.get(str(incident.type), str(incident.type))
    status = STATUS_LABELS.get(str(incident.status), str(incident.status))
    return (
        '<header class="sr-head">'
        f'<div class="sr-kicker">态势报告 Situation report · <span class="sr-type">{_e(kind)}</span>'
        f' · <span class="sr-status">{_e(status)}</span></div>'
        f'<h1 class="sr-title">{_e(incident.title)}</h1>'
        '<div class="sr-times">'
        f"开始 Opened {_e(format_ts(incident.created_ts, time_zone))}"
        f" ({_e(incident.created_by)}, {_e(incident.owner_unit)})"
        f" · 结束 Closed {_e(format_ts(incident.closed_ts, time_zone))}"
        f" · 生成 Generated {_e(format_ts(generated_ts, time_zone))}"
        f' (<span class="sr-zone">{_e(time_zone)}</span>) · 编号 {_e(incident.id)}</div>'
        f'<div class="sr-stats">{cells}</div>'
        f'<div class="sr-legends"><span class="sr-legend"><i class="sr-hazard"></i>影响范围 Hazard area</span>'
        f"{legend}<span class=\"sr-legend\">实心 inside · 空心 outside</span></div>"
        "</header>"
    )


def _number(entry: TimelineEntry) -> str:
    """An alert's entry names its alert's number (告警编号), the one the alert board shows."""
    return f"（告警编号 {entry.alert_id}）" if entry.alert_id else ""


def _timeline_table(timeline: Sequence[TimelineEntry | dict[str, Any]], time_zone: str = DEFAULT_TIME_ZONE) -> str:
    rows = []
    for raw in timeline:
        entry = raw if isinstance(raw, TimelineEntry) else TimelineEntry.model_validate(raw)
        rows.append(
            f'<tr data-kind="{_e(entry.kind)}"><td>{_e(format_ts(entry.ts, time_zone))}</td>'
            f"<td>{_e(KIND_ZH.get(str(entry.kind), str(entry.kind)))}</td>"
            f"<td>{_e(actor_zh(entry.actor))}</td><td>{_e(entry_text_zh(entry))}{_e(_number(entry))}</td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="4">—</td></tr>'
    return (
        '<section class="sr-timeline"><h2>时间线 Timeline</h2><table>'
        "<thead><tr><th>时间 Time</th><th>类型 Kind</th><th>人员 Actor</th><th>内容 Text</th></tr></thead>"
        f"<tbody>{body}</tbody></table></section>"
    )


_PAGE_CSS = """
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; color: #1b1f24;
       background: #f4f5f7; height: auto !important; display: flex; flex-direction: column; }
/* folium appends the map's element last: order puts it between the header and the timeline */
.sr-head { order: 0; } .folium-map { order: 1; flex: none; } .sr-timeline { order: 2; }
.sr-head { padding: 12px 18px 8px; background: #fff; border-bottom: 3px solid #d62728; }
.sr-kicker { font-size: 13px; color: #555; }
.sr-type { color: #d62728; font-weight: 600; }
.sr-title { margin: 4px 0; font-size: 22px; }
.sr-times { font-size: 12px; color: #555; }
.sr-stats { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 8px; }
.sr-stat { background: #f4f5f7; border-radius: 4px; padding: 4px 10px; min-width: 88px; }
.sr-label { display: block; font-size: 11px; color: #666; }
.sr-count { font-size: 18px; font-weight: 600; }
.sr-legends { margin-top: 6px; font-size: 12px; color: #444; }
.sr-legend { margin-right: 12px; white-space: nowrap; }
.sr-legend i { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 4px;
               vertical-align: -1px; }
.sr-legend i.sr-hazard { border-radius: 2px; background: rgba(214,39,40,.35); border: 1px solid #d62728; }
.sr-timeline { padding: 8px 18px 24px; }
.sr-timeline h2 { font-size: 16px; margin: 8px 0; }
.sr-timeline table { border-collapse: collapse; width: 100%; background: #fff; font-size: 13px; }
.sr-timeline th, .sr-timeline td { border: 1px solid #ddd; padding: 4px 8px; text-align: left;
                                   vertical-align: top; }
.sr-timeline td:first-child { white-space: nowrap; }
.sr-pop table { border-collapse: collapse; margin-top: 4px; font-size: 12px; }
.sr-pop th { text-align: left; padding-right: 8px; color: #555; font-weight: normal; }
"""


def render_html(
    incident: Incident,
    impact: dict[str, Any],
    *,
    leaflet_dir: Path,
    layers: dict[str, dict[str, Any]] | None = None,
    timeline: Sequence[TimelineEntry | dict[str, Any]] = (),
    tiles: str | None = None,
    attribution: str | None = None,
    generated_ts: float | None = None,
    basemap: tuple[bytes, tuple[float, float, float, float]] | None = None,
    time_zone: str = DEFAULT_TIME_ZONE,
) -> str:
    """A standalone HTML situation report of ``incident`` with ``impact`` (the plain dict).

    ``leaflet_dir`` holds Leaflet's ``leaflet.js``, ``leaflet.css`` and ``images/`` (inlined).

    ``layers`` are GeoJSON FeatureCollections by name: ``grids`` (and ``towns``, ``villages``)
    whose features carry ``properties.code`` — the affected ones are outlined — and any other
    name drawn as grey context lines. ``timeline`` fills the table under the map. ``tiles``
    (a Leaflet URL template, with ``attribution``) adds a base map; without it the page has
    none and needs no network at all. ``basemap`` (a PNG and its bounds: west, south, east, north,
    in Web Mercator like a tile mosaic) is drawn under the layers from a ``data:`` URL, so the
    page still needs no network. Times are shown in ``time_zone`` (an IANA name).
    """
    layers = layers or {}
    geometry = impact.get("area") or incident.geometry
    area = shape(geometry) if geometry else None
    center = area.centroid if area is not None and not area.is_empty else None
    fmap = folium.Map(
        location=[center.y, center.x] if center is not None else None,
        zoom_start=13,
        tiles=None,
        height="62vh",
        control_scale=True,
        attribution_control=bool(tiles),
    )
    if tiles:
        folium.TileLayer(tiles=tiles, attr=attribution or " ", name="底图 Base map", overlay=False).add_to(fmap)
    if basemap is not None:
        png, (west, south, east, north) = basemap
        folium.raster_layers.ImageOverlay(
            image="data:image/png;base64," + base64.b64encode(png).decode("ascii"),
            bounds=[[south, west], [north, east]], name="底图 Basemap", zindex=1,
        ).add_to(fmap)

    for name, layer in layers.items():
        if name in UNIT_SECTIONS or not layer:
            continue
        styled = [dict(f, properties={"style": CONTEXT_STYLE}) for f in layer.get("features") or []
                  if f.get("geometry")]
        if styled:
            folium.GeoJson(_collection(styled), name=_e(name)).add_to(fmap)
    for section, style in (("towns", TOWN_STYLE), ("villages", GRID_STYLE), ("grids", GRID_STYLE)):
        features = _unit_features(layers.get(section), _items(impact, section), style)
        if features:
            folium.GeoJson(_collection(features), name=UNIT_LABELS[section], on_each_feature=_BIND).add_to(fmap)
    if area is not None:
        hazard = {"type": "Feature", "geometry": geometry,
                  "properties": {"style": HAZARD_STYLE, "tip": _e(incident.title)}}
        folium.GeoJson(_collection([hazard]), name="影响范围 Hazard area", on_each_feature=_BIND).add_to(fmap)
    for section, (label, color) in OBJECT_SECTIONS.items():
        features = _object_features(_items(impact, section), section, color)
        if features:
            folium.GeoJson(
                _collection(features), name=label, marker=folium.CircleMarker(radius=6),
                on_each_feature=_BIND,
            ).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    bounds = _bounds(area, impact)
    if bounds is not None:
        fmap.fit_bounds(bounds, padding=(24, 24))

    figure: Figure = fmap.get_root()
    figure.title = _e(f"{TYPE_LABELS.get(str(incident.type), incident.type)} · {incident.title}")
    js, css = _leaflet(Path(leaflet_dir).resolve())
    figure.header.add_child(Element(f"<style>{css}</style>"), name="leaflet_css", index=0)
    figure.header.add_child(Element(f"<script>{js}</script>"), name="leaflet_js", index=1)
    figure.header.add_child(Element(f"<style>{_PAGE_CSS}</style>"), name="sitrep_css")
    figure.html.add_child(Element(_header(incident, impact, generated_ts, time_zone)), name="sitrep_head", index=0)
    figure.html.add_child(Element(_timeline_table(timeline, time_zone)), name="sitrep_timeline")
    _strip_cdn_links(figure)
    page = figure.render()
    leaks = external_refs(page)
    if leaks:
        raise RuntimeError(f"situation report would load from outside: {leaks[:3]}")
    return page


# ------------------------------------------------------------------------------ summaries


def summary_json(
    incident: Incident, impact: dict[str, Any], timeline: Sequence[TimelineEntry | dict[str, Any]] = ()
) -> dict[str, Any]:
    """The report as JSON: the incident (without its stored impact), the impact with counts,
    and the timeline oldest first."""
    entries = [e if isinstance(e, TimelineEntry) else TimelineEntry.model_validate(e) for e in timeline]
    lists = {k: _items(impact, k) for k in (*UNIT_SECTIONS, *OBJECT_SECTIONS)}
    return {
        "incident": incident.model_dump(mode="json", exclude={"impact"}),
        "impact": {
            "area_km2": impact.get("area_km2"),
            "population": impact_counts(impact)["population"],
            "counts": impact_counts(impact),
            **lists,
        },
        "timeline": [e.model_dump(mode="json") for e in entries],
    }


CSV_COLUMNS = ("section", "code_or_id", "name", "population", "distance_m", "inside")
#: The same columns with Chinese headers (``headers="zh"``), and the sections' Chinese names.
CSV_COLUMNS_ZH = ("类别", "编码或编号", "名称", "人口", "距离（米）", "是否在影响范围内")
SECTION_ZH = {"incident": "事件", **COUNT_ZH}
#: The columns as :func:`layers.spreadsheet.write_csv` writes them.
CSV_TABLE = tuple(Column(key, zh, kind, values) for key, zh, kind, values in zip(
    CSV_COLUMNS, CSV_COLUMNS_ZH, ("text", "code", "text", "number", "number", "bool"),
    (SECTION_ZH, None, None, None, None, None), strict=True))


def summary_csv(incident: Incident, impact: dict[str, Any], *, bom: bool = False,
                headers: Literal["en", "zh"] = "en") -> str:
    """Flat rows ``section, code_or_id, name, population, distance_m, inside``: one ``incident``
    row, then the affected towns, villages and grids, then cameras, shelters, facilities, drones
    and vehicles. ``bom`` prefixes a UTF-8 BOM (Excel on Chinese Windows needs it); ``headers="zh"``
    names the columns, sections and yes/no in Chinese (:data:`CSV_COLUMNS_ZH`). Written by
    :func:`layers.spreadsheet.write_csv`: CRLF, formulas defused, long codes kept as text."""
    rows: list[dict[str, Any]] = [{"section": "incident", "code_or_id": incident.id, "name": incident.title,
                                   "population": impact_counts(impact)["population"]}]
    for section in UNIT_SECTIONS:
        rows += [{"section": section, "code_or_id": unit.get("code"), "name": unit.get("name"),
                  "population": unit.get("population")} for unit in _items(impact, section)]
    for section in OBJECT_SECTIONS:
        for item in _items(impact, section):
            distance = item.get("distance_m")
            rows.append({"section": section, "code_or_id": item.get("id"), "name": item.get("name"),
                         "distance_m": f"{float(distance):.1f}" if isinstance(distance, int | float) else None,
                         "inside": bool(item.get("inside"))})
    return write_csv(CSV_TABLE, rows, headers=headers, bom=bom)


__all__ = [
    "CSV_COLUMNS",
    "CSV_COLUMNS_ZH",
    "DEFAULT_TIME_ZONE",
    "OBJECT_SECTIONS",
    "TYPE_LABELS",
    "external_refs",
    "format_ts",
    "render_html",
    "summary_csv",
    "summary_json",
]
