"""The bus -> live hub bridge: alerts, camera status and live tracks reach only their jurisdiction."""

from __future__ import annotations

import asyncio

from alerts.bus import InProcessBus, Topic
from console.live.bridge import LiveBridge
from console.live.hub import LiveHub


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
        bus.publish(Topic.ALERTS, {"type": "alert", "id": "A1", "grid": grid_a, "assignee_unit": towns[0]})
        # handed from the district to town B although it lies in town A's grid
        bus.publish(Topic.ALERTS, {"type": "alert", "id": "A2", "grid": grid_a, "assignee_unit": towns[1]})
        bus.publish(Topic.ALERTS, {"type": "alert", "id": "A3", "grid": None,
                                   "assignee_unit": jurisdictions.district_code})  # outside every grid
        assert [m["id"] for m in await _all(district)] == ["A1", "A2", "A3"]
        assert [m["id"] for m in await _all(town_a)] == ["A1", "A2"]
        assert [m["id"] for m in await _all(town_b)] == ["A2"]

    asyncio.run(scenario())


def test_camera_status_is_scoped_and_kept_for_snapshots(jurisdictions):
    async def scenario():
        hub, bus, bridge, towns, _, _ = _setup(jurisdictions)
        town_a = hub.connect(towns[0], last_seq=0)
        bus.publish(Topic.CAMERA_STATUS, {"type": "camera_status", "camera_id": "CAM-A", "state": "online"})
        bus.publish(Topic.CAMERA_STATUS, {"type": "camera_status", "camera_id": "CAM-B", "state": "offline"})
        bus.publish(Topic.CAMERA_STATUS, {"type": "camera_status", "camera_id": "CAM-X", "state": "online"})
        assert [m["camera_id"] for m in await _all(town_a)] == ["CAM-A"]
        assert [m["camera_id"] for m in bridge.camera_statuses(towns[1])] == ["CAM-B"]
        assert len(bridge.camera_statuses(jurisdictions.district_code)) == 3

    asyncio.run(scenario())


def test_tracks_are_throttled_and_split_by_town(jurisdictions):
    async def scenario():
        hub, bus, _, towns, grid_a, grid_b = _setup(jurisdictions, tracks_hz=2.0)
        district, town_a = hub.connect(jurisdictions.district_code, last_seq=0), hub.connect(towns[0], last_seq=0)
        in_a = jurisdictions.get(grid_a).anchor
        in_b = jurisdictions.get(grid_b).anchor
        for i in range(10):  # 10 frames in one second from camera A, seeing objects in both towns
            bus.publish(Topic.FRAMES, {"type": "frame", "camera_id": "CAM-A", "ts": 100.0 + i * 0.1, "observations": [
                {"track_id": 1, "cls": "car", "lon": in_a[0], "lat": in_a[1], "speed_kmh": 40.0, "heading_deg": 0.0},
                {"track_id": 2, "cls": "truck", "lon": in_b[0], "lat": in_b[1], "speed_kmh": 30.0, "heading_deg": 90.0},
                {"track_id": 3, "cls": "car", "lon": None, "lat": None, "speed_kmh": None, "heading_deg": None},
            ]})
        got = await _all(district)
        assert len(got) == 4  # 2 frames kept (2 Hz) x 2 towns
        assert {t["track_id"] for m in got for t in m["tracks"]} == {1, 2}
        mine = await _all(town_a)
        assert len(mine) == 2 and all([t["track_id"] for t in m["tracks"]] == [1] for m in mine)

    asyncio.run(scenario())
