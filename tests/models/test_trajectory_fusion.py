"""Track fusion: which registered vehicle a camera sees, and video tanker warnings enriched with it."""

from __future__ import annotations

import pytest

from zhizhi.gis.metric import MetricFrame
from zhizhi.layers.hazmat import HazmatVehicle
from zhizhi.models.trajectory.fusion import TrackFusion
from zhizhi.models.warning.record import WarningEvent
from zhizhi.telemetry.record import Fix

FRAME = MetricFrame(121.0, 32.0)


def at(x: float, y: float) -> tuple[float, float]:
    lon, lat = FRAME.to_lonlat(x, y)
    return float(lon), float(lat)


def fix(vid: str, ts: float, x: float, y: float = 0.0) -> Fix:
    lon, lat = at(x, y)
    return Fix(vehicle_id=vid, ts=ts, lon=lon, lat=lat, speed_kmh=36.0)


TANKER = HazmatVehicle(
    vehicle_id="V1",
    plate="苏F·D0001",
    company="南通危运",
    un_number="1203",
    hazard_class="3",
    route={"type": "LineString", "coordinates": [list(at(-1000, 0)), list(at(1000, 0))]},
    corridor_m=200,
    permitted_hours="00:00-24:00",
)
REGISTRY = {"V1": TANKER}


@pytest.fixture
def fusion() -> TrackFusion:
    f = TrackFusion(max_distance_m=40, max_dt_s=5)
    # V1 drives east at 10 m/s along y=0; V2 (unregistered) drives east 30 m north of it
    f.observe([fix("V1", 100.0 + k * 5, k * 50.0) for k in range(10)])
    f.observe([fix("V2", 100.0 + k * 5, k * 50.0, 30.0) for k in range(10)])
    return f


def test_match_interpolates_between_fixes(fusion):
    lon, lat = at(125.0, 0.0)  # V1 at t=112.5 (between its fixes at 110 and 115)
    assert fusion.match(lon, lat, 112.5) == "V1"
    lon, lat = at(125.0, 28.0)
    assert fusion.match(lon, lat, 112.5) == "V2"  # nearest wins
    assert fusion.match(lon, lat, 112.5, among=REGISTRY.__contains__) == "V1"


def test_no_match_too_far_or_too_long_ago(fusion):
    lon, lat = at(125.0, -80.0)
    assert fusion.match(lon, lat, 112.5) is None
    lon, lat = at(450.0, 0.0)
    assert fusion.match(lon, lat, 145.0) == "V1"  # last fix, 0 s away
    assert fusion.match(lon, lat, 151.0) is None  # 6 s after its last fix
    assert fusion.match(*at(0.0, 0.0), 94.0) is None  # before its history
    assert TrackFusion().match(*at(0.0, 0.0), 100.0) is None


def test_history_is_bounded():
    f = TrackFusion(horizon_s=60, max_points=5)
    f.observe([fix("V1", 100.0 + k, k * 10.0) for k in range(20)])
    assert f.position("V1", 100.0) is None and f.position("V1", 119.0) is not None
    f.observe([fix("V1", 119.0, 0.0)])  # not newer: ignored
    assert f.position("V1", 119.0) == pytest.approx(at(190.0, 0.0))


def warning(source="video", cls="hazmat_tanker", x=125.0, y=3.0, ts=112.5) -> WarningEvent:
    lon, lat = at(x, y)
    return WarningEvent(
        rule="abnormal_stop",
        rule_id="hazmat-stop",
        severity="orange",
        source=source,
        camera_id="CAM-1",
        cameras=["CAM-1"],
        track_id=7,
        cls=cls,
        lon=lon,
        lat=lat,
        first_ts=ts - 20,
        last_ts=ts,
        details={"duration_s": 20.0},
    )


def test_enrich_adds_the_registration_to_a_video_tanker_warning(fusion):
    w = warning()
    fused = fusion.enrich(w, REGISTRY.get)
    assert fused is not w and fused.key == w.key == "hazmat-stop|CAM-1|7"
    assert fused.details == {
        "duration_s": 20.0,
        "vehicle_id": "V1",
        "plate": "苏F·D0001",
        "company": "南通危运",
        "un_number": "1203",
        "hazard_class": "3",
        "fused": True,
    }
    assert "fused" not in w.details  # the original is untouched


def test_enrich_leaves_other_warnings_alone(fusion):
    for w in (
        warning(cls="truck"),
        warning(source="telemetry"),
        warning(y=200.0),
        warning(ts=500.0),
    ):
        assert fusion.enrich(w, REGISTRY.get) is w
    assert fusion.enrich(warning(), lambda _vid: None).details == {"duration_s": 20.0}
