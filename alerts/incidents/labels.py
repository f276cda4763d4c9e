"""What an incident's timeline and reports call things in Chinese: severities, alert statuses,
rules, entry kinds, and each timeline entry's line (never a raw identifier such as
``abnormal_stop``). The wall's screens use the same words (console/static/wall/vocabulary.js).

>>> entry_text_zh(TimelineEntry(incident_id="x", ts=0, kind="alert", actor="system",
...     text="orange abnormal_stop alert k3v9q2m7xa1b in the area (new)", alert_id="k3v9q2m7xa1b",
...     data={"severity": "orange", "category": "abnormal_stop", "status": "new"}))
'橙色预警 危化品异常停车 进入事件范围（新告警）'
"""

from __future__ import annotations

from typing import Any

from zhizhi.alerts.incidents.record import TimelineEntry

SEVERITY_ZH = {"red": "红色", "orange": "橙色", "yellow": "黄色", "blue": "蓝色"}
STATUS_ZH = {"new": "新告警", "acknowledged": "已确认", "dispatched": "已派遣", "on_scene": "已到场",
             "resolved": "已处置", "closed": "已关闭", "reopened": "已重开"}
RULE_ZH = {"abnormal_stop": "危化品异常停车", "zone_entry": "闯入禁行区域", "prohibited_hours": "禁行时段通行",
           "speeding": "超速行驶", "wrong_way": "逆向行驶", "crowd": "人员聚集", "route_deviation": "偏离核定路线",
           "fatigue": "疲劳驾驶", "signal_loss": "定位信号中断", "fire": "火情", "flood": "积水内涝",
           "leak": "泄漏", "smoke": "烟雾"}
KIND_ZH = {"opened": "启动", "alert": "告警", "action": "处置", "note": "备注", "closed": "关闭",
           "impact_updated": "影响更新"}
COUNT_ZH = {"population": "人口", "towns": "镇街", "villages": "村社区", "grids": "网格", "cameras": "摄像头",
            "facilities": "重点设施", "drones": "无人机", "vehicles": "车辆", "shelters": "避难场所"}
SYSTEM_ZH = "系统"


def rule_zh(category: str | None) -> str:
    """A rule's or category's Chinese name ("告警" when unknown: never the identifier)."""
    return RULE_ZH.get(category or "", "告警")


def alert_line(data: dict[str, Any], *, first: bool) -> str:
    """An alert's timeline line from its entry's data (severity, category, status)."""
    severity = SEVERITY_ZH.get(str(data.get("severity")), "")
    status = STATUS_ZH.get(str(data.get("status")), "状态更新")
    head = f"{severity}预警 {rule_zh(data.get('category'))}" if severity else rule_zh(data.get("category"))
    if first:
        return f"{head} 进入事件范围（{status}）"
    unit = data.get("assignee_unit")
    return f"{head} {status}" + (f"（{unit}）" if unit else "")


def impact_line(data: dict[str, Any]) -> str:
    """An impact recomputation's line: what moved, or that nothing did."""
    before, after = data.get("before") or {}, data.get("after") or {}
    moved = [f"{COUNT_ZH.get(k, k)} {before.get(k)}→{v}" for k, v in after.items() if before.get(k) != v]
    return "影响范围重新计算：" + ("，".join(moved) if moved else "无变化")


def entry_text_zh(entry: TimelineEntry) -> str:
    """The entry's line in Chinese: alerts, actions and recomputations from their data (also for
    entries stored before these words existed); notes as written; the rest as stored."""
    if entry.kind == "alert" and entry.data:
        return alert_line(entry.data, first=True)
    if entry.kind == "action" and entry.data:
        return alert_line(entry.data, first=False)
    if entry.kind == "impact_updated":
        return impact_line(entry.data) if entry.data else "影响范围重新计算"
    return entry.text


def actor_zh(actor: str) -> str:
    """The actor's name; the system's own entries as 系统."""
    return SYSTEM_ZH if actor == "system" else actor
