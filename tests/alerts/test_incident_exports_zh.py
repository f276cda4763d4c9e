"""The incident's exports as a Chinese duty office opens them: the CSV in UTF-8 with a BOM and
Chinese headers, the report's timeline in Chinese words (never ``orange abnormal_stop alert …``)."""

from __future__ import annotations

import csv
import io
import re

from tests.alerts.test_sitrep import IMPACT, T0, render_html
from zhizhi.alerts.incidents.labels import entry_text_zh
from zhizhi.alerts.incidents.record import Incident, TimelineEntry
from zhizhi.alerts.incidents.sitrep import CSV_COLUMNS_ZH, summary_csv

INCIDENT = Incident(id="k3v9q2m7xa1b", type="fire", title="仓库火情", area={"point": [120.95, 32.05], "radius_m": 800},
                    geometry=IMPACT["area"], owner_unit="320612001", codes=["320612001"], impact=IMPACT,
                    created_ts=T0, created_by="duty-1", updated_ts=T0)
#: Entries as the service wrote them before the timeline was in Chinese (a database of before).
OLD = [
    TimelineEntry(id=1, incident_id=INCIDENT.id, ts=T0, kind="alert", actor="system",
                  text="orange abnormal_stop alert a1b2c3d4e5f6 in the area (new)", alert_id="a1b2c3d4e5f6",
                  data={"severity": "orange", "category": "abnormal_stop", "status": "new"}),
    TimelineEntry(id=2, incident_id=INCIDENT.id, ts=T0 + 60, kind="action", actor="system",
                  text="alert a1b2c3d4e5f6 acknowledged by 320612001", alert_id="a1b2c3d4e5f6",
                  data={"severity": "orange", "category": "abnormal_stop", "status": "acknowledged",
                        "assignee_unit": "320612001"}),
    TimelineEntry(id=3, incident_id=INCIDENT.id, ts=T0 + 90, kind="impact_updated", actor="system",
                  text="impact recomputed: cameras 0→3", data={"before": {"cameras": 0}, "after": {"cameras": 3}}),
]
RAW = re.compile(r"abnormal_stop|acknowledged|impact recomputed|\bin the area\b|\(new\)|>alert<|>action<")


def test_csv_has_a_bom_and_chinese_headers():
    text = summary_csv(INCIDENT, IMPACT, bom=True, headers="zh")
    assert text.startswith("\ufeff类别,编码或编号,名称,人口,")
    data = text.encode("utf-8")
    assert data[:3] == b"\xef\xbb\xbf"
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_COLUMNS_ZH
    assert [r["类别"] for r in rows[:3]] == ["事件", "镇街", "村社区"]
    assert {r["是否在影响范围内"] for r in rows if r["类别"] == "摄像头"} == {"是", "否"}
    assert summary_csv(INCIDENT, IMPACT).startswith("section,")  # English stays available


def test_timeline_in_chinese_also_for_entries_stored_before():
    assert [entry_text_zh(e) for e in OLD] == ["橙色预警 危化品异常停车 进入事件范围（新告警）",
                                               "橙色预警 危化品异常停车 已确认（320612001）",
                                               "影响范围重新计算：摄像头 0→3"]
    page = render_html(INCIDENT, IMPACT, timeline=OLD)
    table = page[page.index('<section class="sr-timeline">'):]
    assert not RAW.search(table), RAW.search(table)
    assert "<td>系统</td>" in table and "<td>告警</td>" in table and "<td>处置</td>" in table
