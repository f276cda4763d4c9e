"""The rules that switch a wall's preset (console/live/presets.py, console/wall_presets.py): a new
red alert pushes its camera and place, an incident opened switches the wall to it and closed back,
each message only for the jurisdictions it concerns and as each may read it."""

from __future__ import annotations

import asyncio

import pytest
import shapely
from pydantic import ValidationError
from shapely.geometry import mapping

from zhizhi.alerts.incidents.record import Incident
from zhizhi.bus import InProcessBus, Topic
from zhizhi.bus.messages import AlertEvent
from zhizhi.console.live.hub import LiveHub
from zhizhi.console.live.presets import PresetRules
from zhizhi.console.wall_presets import PresetSettings, WallPreset
from zhizhi.gis.cameras import Camera, CameraIndex


async def _all(client, timeout=0.2):
    out = []
    while True:
        try:
            out.append(await asyncio.wait_for(client.next(), timeout))
        except TimeoutError:
            return [m for m in out if m.get("type") == "wall.preset"]


def _towns(jurisdictions):
    towns = [u.code for u in jurisdictions.units("town")][:2]
    grids = [next(g for g in jurisdictions.grid_codes if g.startswith(t)) for t in towns]
    return towns, grids


def _rules(jurisdictions, cameras, settings=None):
    hub = LiveHub(lambda client: [], buffer=1000)
    bus = InProcessBus()
    index = CameraIndex(cameras)
    PresetRules(hub, jurisdictions, settings or PresetSettings(), lambda: index).attach(bus)
    return hub, bus


def _alert(alert_id, grid, unit, lon, lat, severity="red", event="new"):
    return AlertEvent(event=event, id=alert_id, key=f"k|{alert_id}", severity=severity, source="video",
                      category="abnormal_stop", lon=lon, lat=lat, grid=grid, assignee_unit=unit,
                      first_ts=1.0, last_ts=2.0, created_ts=3.0, updated_ts=3.0)


def test_a_red_alert_pushes_its_camera_and_place_to_the_walls_that_see_it(jurisdictions):
    towns, grids = _towns(jurisdictions)
    (lon, lat) = jurisdictions.get(grids[0]).anchor
    (lon_b, lat_b) = jurisdictions.get(grids[1]).anchor
    near = Camera(id="CAM-A", name="东门", lon=lon, lat=lat + 0.0005, heading_deg=180, hfov_deg=90,
                  range_m=300, grid=grids[0])
    across = Camera(id="CAM-B", name="对岸", lon=lon, lat=lat - 0.0005, heading_deg=0, hfov_deg=90,
                    range_m=300, grid=grids[1])
    far = Camera(id="CAM-F", name="远处", lon=lon_b, lat=lat_b, heading_deg=0, hfov_deg=90, range_m=100,
                 grid=grids[1])

    async def scenario():
        hub, bus = _rules(jurisdictions, [near, across, far])
        district, town_a, town_b = (hub.connect(c, last_seq=0) for c in (jurisdictions.district_code, *towns))
        bus.publish(Topic.ALERTS, _alert("REDALERT0001", grids[0], towns[0], lon, lat))
        bus.publish(Topic.ALERTS, _alert("ORANGE000001", grids[0], towns[0], lon, lat, severity="orange"))
        bus.publish(Topic.ALERTS, _alert("REDALERT0001", grids[0], towns[0], lon, lat, event="updated"))
        (whole,) = await _all(district)
        assert (whole["preset"], whole["rule"], whole["screens"], whole["tile"]) == ("alert", "red_alert",
                                                                                     ["map", "video"], 1)
        assert whole["alert"]["id"] == "REDALERT0001"
        assert {c["id"] for c in whole["cameras"]} == {"CAM-A", "CAM-B"}
        (mine,) = await _all(town_a)
        assert [c["id"] for c in mine["cameras"]] == ["CAM-A"]  # not the camera across the border
        assert await _all(town_b) == []  # town B's walls never hear of town A's alert

    asyncio.run(scenario())


def test_an_incident_switches_the_walls_of_the_units_it_touches_and_back(jurisdictions):
    towns, grids = _towns(jurisdictions)
    third = [u.code for u in jurisdictions.units("town")][2]
    area = jurisdictions.get(towns[0]).geometry
    (lon, lat) = jurisdictions.get(grids[0]).anchor
    incident = Incident(id="leak00000001", type="fire", title="仓库火情", area={"point": [lon, lat], "radius_m": 500},
                        geometry=mapping(area), owner_unit=jurisdictions.district_code, codes=[towns[0], grids[0]],
                        impact={"area": mapping(area), "population": 10,
                                "grids": [{"code": grids[0], "population": 10, "share": 1.0}]},
                        created_ts=1.0, created_by="duty", updated_ts=1.0)
    settings = PresetSettings(walls={"ops": WallPreset(map="scope", video_layout=9)})

    async def scenario():
        hub, bus = _rules(jurisdictions, [], settings)
        district, town_a, town_c = (hub.connect(c, last_seq=0) for c in (jurisdictions.district_code, towns[0], third))
        bus.publish(Topic.INCIDENTS, incident.to_event("opened"))
        closed = incident.model_copy(update={"status": "closed", "closed_ts": 5.0})
        bus.publish(Topic.INCIDENTS, closed.to_event("closed"))
        opened, back = await _all(district)
        assert (opened["preset"], opened["rule"], opened["screens"]) == ("incident", "incident_opened",
                                                                         ["map", "video", "alerts"])
        assert opened["incident"]["id"] == incident.id and opened["incident"]["incident_type"] == "fire"
        assert (back["preset"], back["rule"], back["incident_id"]) == ("normal", "incident_closed", incident.id)
        assert back["normal"]["map"] == "restore" and back["walls"]["ops"] == {"map": "scope", "video_layout": 9,
                                                                              "video_cameras": []}
        mine = await _all(town_a)
        assert [m["preset"] for m in mine] == ["incident", "normal"]
        assert all(c.startswith(towns[0]) for c in mine[0]["incident"]["codes"])
        assert await _all(town_c) == []  # a district incident outside town C never reaches its walls

    asyncio.run(scenario())


def test_rules_can_be_turned_off_and_bad_presets_are_refused(jurisdictions):
    towns, grids = _towns(jurisdictions)
    (lon, lat) = jurisdictions.get(grids[0]).anchor
    settings = PresetSettings.model_validate({"red_alert": {"enabled": False}})

    async def scenario():
        hub, bus = _rules(jurisdictions, [], settings)
        district = hub.connect(jurisdictions.district_code, last_seq=0)
        bus.publish(Topic.ALERTS, _alert("REDALERT0002", grids[0], towns[0], lon, lat))
        assert await _all(district) == []

    asyncio.run(scenario())
    with pytest.raises(ValidationError, match="west < east"):
        WallPreset(map=(121.0, 32.0, 120.0, 33.0))
    with pytest.raises(ValidationError):
        PresetSettings.model_validate({"red_alert": {"screens": ["alerts"]}})
    with pytest.raises(ValidationError):
        PresetSettings.model_validate({"incident": {"screens": ["wall"]}})
    assert shapely.Point(lon, lat).within(jurisdictions.get(towns[0]).geometry.buffer(1e-6))


def test_each_wall_may_turn_a_rule_off_or_choose_its_screens(jurisdictions):
    """presets.walls.NAME.red_alert / .incident: the message names those walls' own screens
    (``wall_screens``); its audience, hence what each jurisdiction hears, stays the same."""
    from zhizhi.console.wall_presets import PresetMessage

    towns, grids = _towns(jurisdictions)
    (lon, lat) = jurisdictions.get(grids[0]).anchor
    area = jurisdictions.get(towns[0]).geometry
    settings = PresetSettings.model_validate({"walls": {
        "lobby": {"red_alert": False, "incident": False},  # the reception's wall: no rule moves it
        "ops": {"red_alert": ["video"], "incident": ["alerts", "alerts"]},
        "same": {"red_alert": True, "map": "scope"},  # the rule's own screens: not named
    }})
    incident = Incident(id="leak00000002", type="fire", title="仓库火情", area={"point": [lon, lat], "radius_m": 500},
                        geometry=mapping(area), owner_unit=towns[0], codes=[towns[0], grids[0]],
                        created_ts=1.0, created_by="duty", updated_ts=1.0)

    async def scenario():
        hub, bus = _rules(jurisdictions, [], settings)
        town_a, town_b = (hub.connect(c, last_seq=0) for c in towns)
        bus.publish(Topic.ALERTS, _alert("REDALERT0003", grids[0], towns[0], lon, lat))
        bus.publish(Topic.INCIDENTS, incident.to_event("opened"))
        bus.publish(Topic.INCIDENTS, incident.model_copy(update={"status": "closed", "closed_ts": 5.0})
                    .to_event("closed"))
        alert, opened, closed = await _all(town_a)
        assert alert["wall_screens"] == {"lobby": [], "ops": ["video"]}
        assert opened["wall_screens"] == closed["wall_screens"] == {"lobby": [], "ops": ["alerts"]}
        assert await _all(town_b) == []  # another town hears of none of it, whatever its walls' rules
        message = PresetMessage.model_validate({k: v for k, v in alert.items() if k != "seq"})
        follows = {wall: [s for s in ("map", "video", "alerts") if message.follows(wall, s)]
                   for wall in ("main", "lobby", "ops", "same")}
        assert follows == {"main": ["map", "video"], "lobby": [], "ops": ["video"], "same": ["map", "video"]}

    asyncio.run(scenario())
    # A rule off everywhere but on one wall: still sent, for that wall alone.
    only_ops = PresetSettings.model_validate({"red_alert": {"screens": []}, "walls": {"ops": {"red_alert": ["map"]}}})

    async def only():
        hub, bus = _rules(jurisdictions, [], only_ops)
        district = hub.connect(jurisdictions.district_code, last_seq=0)
        bus.publish(Topic.ALERTS, _alert("REDALERT0004", grids[0], towns[0], lon, lat))
        (message,) = await _all(district)
        assert (message["screens"], message["wall_screens"]) == ([], {"ops": ["map"]})

    asyncio.run(only())
    with pytest.raises(ValidationError):
        PresetSettings.model_validate({"walls": {"ops": {"red_alert": ["alerts"]}}})  # the board has no alert push
    with pytest.raises(ValidationError):
        PresetSettings.model_validate({"walls": {"ops": {"incident": ["wall"]}}})


@pytest.mark.browser
def test_a_wall_with_the_rule_off_stays_put_in_chromium(browser, tmp_path):
    """In Chromium against a real console: a red alert pushes its camera to the video screen of the
    wall ``main`` (the rule's screens); the wall ``lobby`` (``red_alert = false``) hears the same
    message and moves neither screen; the wall ``ops`` (``red_alert = ["video"]``) moves its video
    screen only, its map staying where it was."""
    from tests.auth_support import create_test_users
    from tests.browser import login_answer, open_page, serve
    from tests.wall_support import FakeWorker, board_console_settings, covered_spot, publish_status, raise_alert
    from zhizhi.console.app import create_app
    from zhizhi.console.state import open_console

    presets = PresetSettings.model_validate({"walls": {"lobby": {"red_alert": False},
                                                       "ops": {"red_alert": ["video"]}}})
    settings = board_console_settings(tmp_path / "data").model_copy(update={"presets": presets})
    state = open_console(settings)
    try:
        users = create_test_users(state)
        spot = covered_spot(state, users.town_a, at_least=1)
        state.workers.append(FakeWorker({c.id: c.name for c in state.cameras.cameras}))
        with serve(create_app(settings, state=state)) as base:
            for camera in state.cameras.cameras:
                publish_status(state, camera.id, "online")
            login_answer(base, users.district)
            pages = {}
            for wall, screen in (("main", "video"), ("lobby", "video"), ("lobby", "map"), ("ops", "video"),
                                 ("ops", "map")):
                watched = open_page(browser, base, users.district, f"/wall?screen={screen}&wall={wall}")
                watched.page.wait_for_function("() => document.body.dataset.wallReady === 'true'"
                                               " && zhizhiWall.link.state === 'live'", timeout=30_000)
                watched.page.evaluate("() => { window.presetsHeard = []; zhizhiWall.link.addEventListener("
                                      "'preset', (e) => presetsHeard.push(e.detail)); }")
                pages[(wall, screen)] = watched
            red = raise_alert(state, spot, track_id=301, severity="red", rule="zone_entry", rule_id="zone-entry",
                              cls="car")
            for watched in pages.values():  # every screen heard it (the same audience)...
                watched.page.wait_for_function("id => presetsHeard.some((m) => m.alert && m.alert.id === id)",
                                               arg=red.id, timeout=30_000)
            # ...the main wall's and ops' video screens follow; lobby's screens and ops' map stay put.
            for wall in ("main", "ops"):
                pushed = pages[(wall, "video")].page.evaluate("() => zhizhiWall.pushed")
                assert pushed and pushed["alertId"] == red.id, wall
            assert pages[("lobby", "video")].page.evaluate("() => zhizhiWall.pushed || null") is None
            for wall in ("lobby", "ops"):
                assert pages[(wall, "map")].page.evaluate("() => document.body.dataset.wallPushedAlert || null") is None
            for watched in pages.values():
                assert not watched.problems, watched.problems
                watched.page.context.close()
    finally:
        state.close()
