"""The bus -> live hub bridge: alerts, camera status and live tracks reach only their jurisdiction."""

from __future__ import annotations

import asyncio
import json

from zhizhi.bus import InProcessBus, Topic
from zhizhi.bus.messages import AlertEvent, CameraStatus, IncidentEvent
from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.bus.messages.incidents import TimelineEntryWire
from zhizhi.console.live.bridge import LiveBridge
from zhizhi.console.live.hub import LiveHub


def _setup(jurisdictions, **kw):
    hub = LiveHub(lambda client: [], buffer=1000)
    grids = {"CAM-A": None, "CAM-B": None}
    towns = [u.code for u in jurisdictions.units("town")][:2]
    grid_a = next(g for g in jurisdictions.grid_codes if g.startswith(towns[0]))
    grid_b = next(g for g in jurisdictions.grid_codes if g.startswith(towns[1]))
    grids["CAM-A"], grids["CAM-B"] = grid_a, grid_b
    bus = InProcessBus()
    bridge = LiveBridge(hub, jurisdictions, grids.get, **kw).attach(bus)
    return hub, bus, bridge, towns, grid_a, grid_b


def _alert(alert_id: str, grid: str | None, unit: str) -> AlertEvent:
    return AlertEvent(event="new", id=alert_id, key=f"k|{alert_id}", severity="orange", source="video",
                      category="abnormal_stop", lon=120.9, lat=32.0, grid=grid, assignee_unit=unit,
                      first_ts=1.0, last_ts=2.0, created_ts=3.0, updated_ts=3.0)


def _status(camera_id: str, state: str) -> CameraStatus:
    return CameraStatus(camera_id=camera_id, state=state, since=1.0)


async def _all(client, timeout=0.2):
    out = []
    while True:
        try:
            out.append(await asyncio.wait_for(client.next(), timeout))
        except TimeoutError:
            return out


def test_alerts_go_to_their_grid_and_their_unit(jurisdictions):
    async def scenario():
        hub, bus, _, towns, grid_a, _grid_b = _setup(jurisdictions)
        district, town_a, town_b = (hub.connect(c, last_seq=0) for c in (jurisdictions.district_code, *towns))
        bus.publish(Topic.ALERTS, _alert("A1", grid_a, towns[0]))
        # handed from the district to town B although it lies in town A's grid
        bus.publish(Topic.ALERTS, _alert("A2", grid_a, towns[1]))
        bus.publish(Topic.ALERTS, _alert("A3", None, jurisdictions.district_code))  # outside every grid
        received = await _all(district)
        assert [m["id"] for m in received] == ["A1", "A2", "A3"]
        # the browser gets the message's wire form, as it is, plus the hub's sequence number
        assert {k: v for k, v in received[0].items() if k != "seq"} == _alert("A1", grid_a, towns[0]).to_wire()
        assert [m["id"] for m in await _all(town_a)] == ["A1", "A2"]
        assert [m["id"] for m in await _all(town_b)] == ["A2"]

    asyncio.run(scenario())


def test_camera_status_is_scoped_and_kept_for_snapshots(jurisdictions):
    async def scenario():
        hub, bus, bridge, towns, _, _ = _setup(jurisdictions)
        town_a = hub.connect(towns[0], last_seq=0)
        bus.publish(Topic.CAMERA_STATUS, _status("CAM-A", "online"))
        bus.publish(Topic.CAMERA_STATUS, _status("CAM-B", "offline"))
        bus.publish(Topic.CAMERA_STATUS, _status("CAM-X", "online"))
        (got,) = await _all(town_a)
        assert got["type"] == "camera_status" and got["camera_id"] == "CAM-A" and got["state"] == "online"
        assert bridge.camera_statuses(towns[1]) == [_status("CAM-B", "offline").to_wire()]
        assert len(bridge.camera_statuses(jurisdictions.district_code)) == 3

    asyncio.run(scenario())


def test_tracks_are_throttled_and_split_by_town(jurisdictions):
    async def scenario():
        hub, bus, _, towns, grid_a, grid_b = _setup(jurisdictions, tracks_hz=2.0)
        district, town_a = hub.connect(jurisdictions.district_code, last_seq=0), hub.connect(towns[0], last_seq=0)
        in_a = jurisdictions.get(grid_a).anchor
        in_b = jurisdictions.get(grid_b).anchor
        rows = [
            {"track_id": 1, "cls": "car", "lon": in_a[0], "lat": in_a[1], "speed_kmh": 40.0, "heading_deg": 0.0},
            {"track_id": 2, "cls": "truck", "lon": in_b[0], "lat": in_b[1], "speed_kmh": None, "heading_deg": 90.0},
            {"track_id": 3, "cls": "car", "lon": None, "lat": None, "speed_kmh": None, "heading_deg": None},
        ]
        for i in range(10):  # 10 frames in one second from camera A, seeing objects in both towns
            batch = ObservationBatch.from_rows("CAM-A", 100.0 + i * 0.1,
                                               [{**r, "conf": 0.8, "bbox": (0, 0, 9, 9)} for r in rows])
            bus.publish(Topic.FRAMES, batch)
        got = await _all(district)
        assert len(got) == 4  # 2 frames kept (2 Hz) x 2 towns
        assert {t["track_id"] for m in got for t in m["tracks"]} == {1, 2}
        # the browsers' JSON, exactly: the located rows' track fields, None where unknown
        first = sorted((m["tracks"] for m in got[:2]), key=lambda tracks: tracks[0]["track_id"])
        assert json.dumps(first) == json.dumps([[rows[0]], [rows[1]]])  # same keys, order and values
        assert {k: got[0][k] for k in ("type", "camera_id", "ts")} == {
            "type": "tracks",
            "camera_id": "CAM-A",
            "ts": 100.0,
        }
        mine = await _all(town_a)
        assert len(mine) == 2 and all([t["track_id"] for t in m["tracks"]] == [1] for m in mine)

    asyncio.run(scenario())


def test_incidents_reach_each_screen_as_its_jurisdiction_reads_them(jurisdictions):
    """A district typhoon over two towns: each town's screen gets the area cut to it and its own
    part of the impact; an alert's timeline entry reaches only those who see the alert."""
    import shapely
    from shapely.geometry import mapping

    from zhizhi.alerts.incidents.record import Incident

    async def scenario():
        hub, bus, _, towns, grid_a, grid_b = _setup(jurisdictions)
        district, town_a, town_b = (hub.connect(c, last_seq=0) for c in (jurisdictions.district_code, *towns))
        area = shapely.union(jurisdictions.get(towns[0]).geometry, jurisdictions.get(towns[1]).geometry)
        (lon_a, lat_a), (lon_b, lat_b) = jurisdictions.get(grid_a).anchor, jurisdictions.get(grid_b).anchor
        incident = Incident(
            id="typhoon00001",
            type="typhoon",
            title="台风",
            area={"point": [lon_a, lat_a], "radius_m": 50_000},
            geometry=mapping(area),
            owner_unit=jurisdictions.district_code,
            codes=[towns[0], towns[1], grid_a, grid_b],
            impact={
                "area": mapping(area),
                "area_km2": 100.0,
                "population": 3000,
                "towns": [
                    {"code": towns[0], "population": 1000, "share": 1.0},
                    {"code": towns[1], "population": 2000, "share": 1.0},
                ],
                "grids": [
                    {"code": grid_a, "population": 1000, "share": 1.0},
                    {"code": grid_b, "population": 2000, "share": 1.0},
                ],
                "vehicles": [{"id": "HZ-A", "lon": lon_a, "lat": lat_a}, {"id": "HZ-B", "lon": lon_b, "lat": lat_b}],
            },
            created_ts=1.0,
            created_by="duty",
            updated_ts=1.0,
        )
        bus.publish(Topic.INCIDENTS, incident.to_event("opened"))
        entry = TimelineEntryWire(incident_id=incident.id, ts=2.0, kind="alert", actor="system", alert_id="ALERT-IN-B",
                                  data={"grid": grid_b, "assignee_unit": towns[1], "lon": lon_b, "lat": lat_b})
        bus.publish(Topic.INCIDENTS, IncidentEvent(event="timeline", id=incident.id, status="active",
                                                   owner_unit=incident.owner_unit, codes=incident.codes, entry=entry))

        whole = await _all(district)
        assert [m["event"] for m in whole] == ["opened", "timeline"]
        assert {v["id"] for v in whole[0]["impact"]["vehicles"]} == {"HZ-A", "HZ-B"}
        (mine,) = await _all(town_a)  # the alert in town B is not town A's to see
        assert mine["event"] == "opened" and mine["seq"] == whole[0]["seq"]
        assert [v["id"] for v in mine["impact"]["vehicles"]] == ["HZ-A"]
        assert [t["code"] for t in mine["impact"]["towns"]] == [towns[0]] and mine["impact"]["population"] == 1000
        assert set(mine["codes"]) == {towns[0], grid_a}
        cut = shapely.geometry.shape(mine["geometry"])
        assert shapely.area(shapely.difference(cut, jurisdictions.get(towns[0]).geometry)) < 1e-9
        theirs = await _all(town_b)
        assert [m["event"] for m in theirs] == ["opened", "timeline"]
        assert [v["id"] for v in theirs[0]["impact"]["vehicles"]] == ["HZ-B"]
        assert set(theirs[1]["codes"]) == {towns[1], grid_b}

    asyncio.run(scenario())
