"""The columns of the console's CSV exports (docs/exports.md): English key, Chinese header, and the
Chinese names of coded values — the words the wall's screens use (console/static/wall/
vocabulary.js, alerts/incidents/labels.py) — and the rows of alerts, incidents, a patrol log and a
backtest's scores. The routes (console/api/) choose the rows; :mod:`console.csv_export` writes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zhizhi.alerts.incidents.labels import RULE_ZH, SEVERITY_ZH, STATUS_ZH
from zhizhi.alerts.incidents.record import Incident, impact_counts
from zhizhi.alerts.record import Alert
from zhizhi.layers.spreadsheet import Column
from zhizhi.models.backtest.sweep import SCORE_COLUMNS_ZH

SOURCE_ZH = {"video": "视频", "telemetry": "北斗", "hotline": "热线", "grid_worker": "网格员", "app": "随手拍",
             "iot": "物联感知"}
VERDICT_ZH = {"false_alarm": "误报", "duplicate": "重复", "confirmed": "属实"}
INCIDENT_TYPE_ZH = {"typhoon": "台风", "flood": "洪涝", "rainstorm": "暴雨", "fire": "火灾",
                    "chemical_leak": "危化品泄漏", "other": "突发事件"}
INCIDENT_STATUS_ZH = {"active": "处置中", "closed": "已结束"}

ALERT_COLUMNS = (
    Column("id", "告警编号"),
    Column("severity", "预警级别", values_zh=SEVERITY_ZH),
    Column("status", "状态", values_zh=STATUS_ZH),
    Column("category", "类别", values_zh=RULE_ZH),
    Column("source", "来源", values_zh=SOURCE_ZH),
    Column("camera_id", "摄像头编号"),
    Column("lon", "经度", "number"),
    Column("lat", "纬度", "number"),
    Column("town", "镇街", "code"),
    Column("village", "村社区", "code"),
    Column("grid", "网格", "code"),
    Column("assignee_unit", "责任单位", "code"),
    Column("first_ts", "首次发现时间", "time"),
    Column("last_ts", "最近发现时间", "time"),
    Column("deadline_ts", "处置时限", "time"),
    Column("done_ts", "办结时间", "time"),
    Column("verdict", "结论", values_zh=VERDICT_ZH),
    Column("duplicate_of", "重复于"),
    Column("text", "描述"),
    Column("reporter", "报告人"),
)


def alert_row(alert: Alert) -> dict[str, Any]:
    """An alert's cells (as the caller reads it: the list already holds only visible alerts)."""
    return alert.model_dump(mode="json", include={c.key for c in ALERT_COLUMNS})


INCIDENT_COLUMNS = (
    Column("id", "事件编号"),
    Column("type", "类型", values_zh=INCIDENT_TYPE_ZH),
    Column("title", "名称"),
    Column("status", "状态", values_zh=INCIDENT_STATUS_ZH),
    Column("owner_unit", "启动单位", "code"),
    Column("created_by", "启动人"),
    Column("created_ts", "启动时间", "time"),
    Column("updated_ts", "更新时间", "time"),
    Column("closed_ts", "结束时间", "time"),
    Column("area_km2", "影响面积（平方公里）", "number"),
    Column("population", "影响人口", "number"),
    Column("towns", "镇街数", "number"),
    Column("villages", "村社区数", "number"),
    Column("grids", "网格数", "number"),
    Column("cameras", "摄像头数", "number"),
    Column("shelters", "避难场所数", "number"),
)


def incident_row(incident: Incident) -> dict[str, Any]:
    """An incident's cells: its own fields and the counts of its impact — of the part of it the
    reader sees (the service's :meth:`~alerts.incidents.Incident.seen_from`)."""
    impact = incident.impact or {}
    return (incident.model_dump(mode="json", include={"id", "type", "title", "status", "owner_unit", "created_by",
                                                      "created_ts", "updated_ts", "closed_ts"})
            | impact_counts(impact) | {"area_km2": impact.get("area_km2")})


TOUR_LOG_COLUMNS = (
    Column("ts", "时间", "time"),
    Column("tour", "巡航路线"),
    Column("camera", "摄像头"),
    Column("camera_id", "摄像头编号"),
    Column("wall", "大屏"),
    Column("by", "值班员"),
    Column("snapshot", "快照", values_zh={"yes": "有", "no": "无"}),
)

BACKTEST_COLUMNS = (
    Column("rule_id", "规则编号", values_zh={"totals": "合计"}),
    Column("rule", "规则类型", values_zh=RULE_ZH),
    *SCORE_COLUMNS_ZH,
)


def backtest_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A finished backtest's result (``BacktestResult`` as JSON): one row per rule instance, then
    ``totals``."""
    rows = [{"rule_id": rule_id, **scores} for rule_id, scores in (result.get("rules") or {}).items()]
    rows.append({"rule_id": "totals", "rule": "", **(result.get("totals") or {})})
    return rows


__all__ = [
    "ALERT_COLUMNS",
    "BACKTEST_COLUMNS",
    "INCIDENT_COLUMNS",
    "TOUR_LOG_COLUMNS",
    "alert_row",
    "backtest_rows",
    "incident_row",
]
