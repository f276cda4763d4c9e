"""Reports and exports show times in the deployment's one time zone (settings.wall.time_zone),
as the wall does (issue 18): the situation report's header and timeline, not a hard-coded UTC+8."""

from __future__ import annotations

from pathlib import Path

from zhizhi.alerts.incidents.record import Incident, TimelineEntry
from zhizhi.alerts.incidents.sitrep import DEFAULT_TIME_ZONE, format_ts, render_html

LEAFLET_DIR = Path(__file__).resolve().parents[2] / "console" / "static" / "vendor" / "leaflet"
T0 = 1_750_000_000.0  # 2025-06-15 23:06:40 in Shanghai, 11:06:40 in New York
SQUARE = {"type": "Polygon", "coordinates": [[[121.0, 32.0], [121.01, 32.0], [121.01, 32.01], [121.0, 32.0]]]}


def _report(**kwargs) -> str:
    incident = Incident(id="tz0000000001", type="fire", title="仓库火情",
                        area={"point": [121.005, 32.005], "radius_m": 300},
                        geometry=SQUARE, owner_unit="320612001", codes=["320612001"], impact={"area": SQUARE},
                        created_ts=T0, created_by="duty-1", updated_ts=T0)
    timeline = [TimelineEntry(id=1, incident_id=incident.id, ts=T0 + 60, kind="note", actor="duty-1", text="到场")]
    return render_html(incident, {"area": SQUARE}, leaflet_dir=LEAFLET_DIR, timeline=timeline,
                       generated_ts=T0 + 120, **kwargs)


def test_format_ts_in_a_zone():
    assert DEFAULT_TIME_ZONE == "Asia/Shanghai"
    assert format_ts(T0) == "2025-06-15 23:06:40"
    assert format_ts(T0, "America/New_York") == "2025-06-15 11:06:40"
    assert format_ts(None, "America/New_York") == "—"


def test_the_report_shows_its_times_in_the_configured_zone():
    default = _report()
    assert "2025-06-15 23:06:40" in default and "2025-06-15 23:07:40" in default  # opened, timeline
    assert "Asia/Shanghai" in default and "UTC+8" not in default
    elsewhere = _report(time_zone="America/New_York")
    assert "2025-06-15 11:06:40" in elsewhere and "2025-06-15 11:07:40" in elsewhere
    assert "2025-06-15 11:08:40" in elsewhere  # generated
    assert "23:06:40" not in elsewhere and "America/New_York" in elsewhere
