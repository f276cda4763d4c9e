"""Alerts as CAP 1.2 messages (OASIS Common Alerting Protocol) for emergency-information systems.

One message per *revision* of an alert (each stored change, known by its ``updated_ts``): its
``identifier`` is ``zhizhi-{alert id}-{updated_ts in ms}``, the same whether the message went out
as a webhook or is read from ``GET /api/alerts/{id}/cap.xml``. ``msgType`` follows the lifecycle:
the first revision is an ``Alert``, later ones are ``Update``s, a resolved or closed alert is a
``Cancel`` (with urgency ``Past``); ``references`` lists the alert's earlier revisions (its first
message and every audited change, oldest first, at most :data:`MAX_REFERENCES`) as
``sender,identifier,sent``. Times carry the console's time-zone offset (``+08:00``), positions
are WGS-84 ``lat,lon`` as the spec writes them. The mapping of severities, rules and confidence
is documented in docs/forwarding.md. Built with :mod:`xml.etree.ElementTree`, never by
concatenating strings.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import shapely

from zhizhi.alerts.forward.settings import CapSettings
from zhizhi.alerts.incidents.labels import SEVERITY_ZH, STATUS_ZH, rule_zh
from zhizhi.bus.messages import AlertEvent

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_MEDIA_TYPE = "application/cap+xml"
#: At most this many earlier messages are referenced: the first, then the newest.
MAX_REFERENCES = 20
#: Vertices of a grid's outline at most (simplified beyond).
MAX_POLYGON_POINTS = 200

#: China's four warning grades as CAP severity and urgency (red 特别严重 ... blue 一般).
SEVERITY = {"red": "Extreme", "orange": "Severe", "yellow": "Moderate", "blue": "Minor"}
URGENCY = {"red": "Immediate", "orange": "Immediate", "yellow": "Expected", "blue": "Future"}
#: Rule kinds and reported categories as CAP categories (others: ``Other``).
CATEGORY = {
    "abnormal_stop": "Transport", "zone_entry": "Transport", "prohibited_hours": "Transport",
    "speeding": "Transport", "wrong_way": "Transport", "route_deviation": "Transport",
    "fatigue": "Transport", "signal_loss": "Transport", "crowd": "Safety", "fire": "Fire",
    "smoke": "Fire", "flood": "Met", "leak": "CBRNE",
}
VERDICT_ZH = {"false_alarm": "误报", "duplicate": "重复告警", "confirmed": "已核实"}
#: Characters XML 1.0 cannot carry (a report's text may hold them): left out of the message.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: Sources where a person saw the event (certainty ``Observed``).
PEOPLE = frozenset({"hotline", "grid_worker", "app", "people"})


@dataclass(frozen=True)
class CapContext:
    """What a message needs beyond the alert: settings, clock zone, names and outlines of units."""

    settings: CapSettings
    status: str
    zone: ZoneInfo
    name: Callable[[str], str | None]
    outline: Callable[[str], shapely.Geometry | None]


def identifier(alert_id: str, revision_ts: float) -> str:
    """The CAP identifier of an alert's revision."""
    return f"zhizhi-{alert_id}-{_ms(revision_ts)}"


def earlier_revisions(alert: AlertEvent, change_ts: Iterable[float]) -> list[float]:
    """The alert's revisions before this one: its creation and its audited changes."""
    now = _ms(alert.updated_ts)
    seen = {_ms(alert.created_ts): alert.created_ts} if _ms(alert.created_ts) < now else {}
    for ts in change_ts:
        if _ms(ts) < now:
            seen.setdefault(_ms(ts), ts)
    return [seen[k] for k in sorted(seen)]


def msg_type(alert: AlertEvent) -> str:
    """``Cancel`` once resolved or closed, ``Alert`` for the first revision, else ``Update``."""
    if alert.status in ("resolved", "closed"):
        return "Cancel"
    return "Alert" if _ms(alert.updated_ts) <= _ms(alert.created_ts) else "Update"


def certainty(alert: AlertEvent) -> str:
    """How sure: a confirmed or people-reported event is Observed, a false alarm Unlikely,
    a machine alert by its detector confidence (Likely without one)."""
    if alert.verdict == "confirmed" or alert.source in PEOPLE or alert.channel:
        return "Observed"
    if alert.verdict == "false_alarm":
        return "Unlikely"
    score = next((alert.details[k] for k in ("confidence", "score", "conf") if k in alert.details), None)
    if not isinstance(score, int | float):
        return "Likely"
    return "Likely" if score >= 0.8 else "Possible" if score >= 0.5 else "Unlikely"


def build_cap(alert: AlertEvent, earlier: Sequence[float], ctx: CapContext) -> bytes:
    """The CAP 1.2 ``<alert>`` of this revision of ``alert`` (UTF-8 XML with declaration)."""
    s = ctx.settings
    kind = msg_type(alert)
    root = ET.Element(_q("alert"))
    _add(root, "identifier", identifier(alert.id, alert.updated_ts))
    _add(root, "sender", s.sender)
    _add(root, "sent", _time(alert.updated_ts, ctx.zone))
    _add(root, "status", ctx.status)
    _add(root, "msgType", kind)
    _add(root, "source", alert.model or alert.source)
    _add(root, "scope", s.scope)
    if s.scope == "Restricted":
        _add(root, "restriction", s.restriction)
    if kind == "Cancel":
        verdict = VERDICT_ZH.get(alert.verdict or "", "")
        _add(root, "note", f"告警{STATUS_ZH.get(alert.status, alert.status)}" + (f"：{verdict}" if verdict else ""))
    refs = _references(earlier, alert.id, s.sender, ctx.zone)
    if refs:
        _add(root, "references", refs)
    _add(root, "incidents", alert.id)
    _info(root, alert, kind, ctx)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True, default_namespace=CAP_NS)


def _info(root: ET.Element, alert: AlertEvent, kind: str, ctx: CapContext) -> None:
    info = _add(root, "info")
    rule = alert.rule or alert.category
    event = rule_zh(rule)
    severity_zh = SEVERITY_ZH.get(alert.severity, "")
    _add(info, "language", "zh-CN")
    _add(info, "category", CATEGORY.get(rule, "Other"))
    _add(info, "event", event)
    _add(info, "responseType", "AllClear" if kind == "Cancel" else "Monitor")
    _add(info, "urgency", "Past" if kind == "Cancel" else URGENCY[alert.severity])
    _add(info, "severity", SEVERITY[alert.severity])
    _add(info, "certainty", certainty(alert))
    _add(info, "onset", _time(alert.first_ts, ctx.zone))
    if ctx.settings.sender_name:
        _add(info, "senderName", ctx.settings.sender_name)
    place = _place(alert, ctx)
    _add(info, "headline", f"{severity_zh}预警 {event} · {place}"[:160])
    _add(info, "description", _description(alert, event, severity_zh, ctx))
    for name, value in (("alertId", alert.id), ("status", alert.status), ("severity", alert.severity),
                        ("assigneeUnit", alert.assignee_unit)):
        parameter = _add(info, "parameter")
        _add(parameter, "valueName", f"zhizhi:{name}")
        _add(parameter, "value", value)
    area = _add(info, "area")
    _add(area, "areaDesc", _area_desc(alert, ctx))
    outline = ctx.outline(alert.grid) if alert.grid else None
    polygon = _polygon(outline) if outline is not None else None
    if polygon:
        _add(area, "polygon", polygon)
    _add(area, "circle", f"{alert.lat:.6f},{alert.lon:.6f} {ctx.settings.circle_km:g}")
    if alert.grid:
        geocode = _add(area, "geocode")
        _add(geocode, "valueName", "zhizhi:grid")
        _add(geocode, "value", alert.grid)


def _description(alert: AlertEvent, event: str, severity_zh: str, ctx: CapContext) -> str:
    lines = [
        f"{severity_zh}预警：{event}。",
        f"状态：{STATUS_ZH.get(alert.status, alert.status)}。",
        f"责任单位：{ctx.name(alert.assignee_unit) or alert.assignee_unit}。",
        f"首次发现：{_clock(alert.first_ts, ctx.zone)}；最近：{_clock(alert.last_ts, ctx.zone)}。",
    ]
    if alert.cameras:
        lines.append("摄像头：" + "、".join(alert.cameras[:10]) + "。")
    if alert.details.get("vehicle_id"):
        lines.append(f"车辆：{alert.details['vehicle_id']}。")
    if alert.text:
        lines.append(f"报告内容：{alert.text}")
    return "\n".join(lines)


def _place(alert: AlertEvent, ctx: CapContext) -> str:
    for code in (alert.village, alert.town):
        if code and ctx.name(code):
            return str(ctx.name(code))
    return "辖区外"


def _area_desc(alert: AlertEvent, ctx: CapContext) -> str:
    names = [ctx.name(c) or c for c in (alert.town, alert.village, alert.grid) if c]
    if names:
        return " ".join(names)
    district = ctx.name(alert.district) if alert.district else None
    return f"{district or ''}辖区外".strip()


def _polygon(geometry: shapely.Geometry) -> str | None:
    """The outline's largest part as ``lat,lon`` pairs, closed, simplified when long."""
    parts = list(getattr(geometry, "geoms", [geometry]))
    polygons = [p for p in parts if isinstance(p, shapely.Polygon) and not p.is_empty]
    if not polygons:
        return None
    polygon = max(polygons, key=lambda p: p.area)
    tolerance = 1e-5
    while len(polygon.exterior.coords) > MAX_POLYGON_POINTS:
        polygon = polygon.simplify(tolerance, preserve_topology=True)
        tolerance *= 2
    coords = list(polygon.exterior.coords)
    if len(coords) < 4:
        return None
    return " ".join(f"{lat:.6f},{lon:.6f}" for lon, lat, *_ in coords)


def _references(earlier: Sequence[float], alert_id: str, sender: str, zone: ZoneInfo) -> str:
    kept = list(earlier) if len(earlier) <= MAX_REFERENCES else [earlier[0], *earlier[-(MAX_REFERENCES - 1):]]
    return " ".join(f"{sender},{identifier(alert_id, ts)},{_time(ts, zone)}" for ts in kept)


def _q(tag: str) -> str:
    return f"{{{CAP_NS}}}{tag}"


def _add(parent: ET.Element, tag: str, text: Any = None) -> ET.Element:
    element = ET.SubElement(parent, _q(tag))
    if text is not None:
        element.text = NOT_XML.sub("", str(text))
    return element


def _ms(ts: float) -> int:
    return round(ts * 1000)


def _time(ts: float, zone: ZoneInfo) -> str:
    """CAP's dateTime: seconds and the zone's offset (``2026-12-07T19:24:26+08:00``, never ``Z``)."""
    return datetime.fromtimestamp(int(ts), zone).isoformat(timespec="seconds").replace("Z", "+00:00")


def _clock(ts: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M:%S")
