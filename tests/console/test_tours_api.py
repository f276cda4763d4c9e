"""Camera tours, the patrol log and the wall's remembered tiles through the API (console/api/tours.py):
create, read, change and remove a tour; bad input refused precisely with nothing stored; a stop
logged with the camera's frame as its snapshot; the log by time range; the tile layout kept per
jurisdiction and wall, cameras of another town refused, and each change sent to the wall."""

from __future__ import annotations

import time

import pytest

from tests.wall_support import FakeWorker


@pytest.fixture(scope="module")
def cams(console_state, test_users):
    """Two cameras of town A and one of town B."""
    cameras = console_state.cameras.cameras
    a = [c for c in cameras if c.grid and c.grid.startswith(test_users.town_a)][:2]
    b = next(c for c in cameras if c.grid and c.grid.startswith(test_users.town_b))
    return a[0], a[1], b


def _tour(a1, a2, name="北线巡航", dwell=10):
    return {"name": name, "stops": [{"camera_id": a1.id, "dwell_s": dwell}, {"camera_id": a2.id, "dwell_s": 20}]}


def test_tour_crud(client, logins, test_users, cams):
    a1, a2, _ = cams
    headers = logins[test_users.operator_a]
    made = client.post("/api/tours", json=_tour(a1, a2), headers=headers)
    assert made.status_code == 201, made.text
    tour = made.json()
    assert tour["code"] == test_users.town_a and tour["created_by"] == test_users.operator_a
    assert [s["camera_id"] for s in tour["stops"]] == [a1.id, a2.id]
    assert tour["stops"][0]["name"] == (a1.name or a1.id)
    listed = client.get("/api/tours", headers=headers).json()
    assert tour["id"] in {t["id"] for t in listed}
    assert client.get(f"/api/tours/{tour['id']}", headers=headers).json()["name"] == "北线巡航"
    changed = client.put(f"/api/tours/{tour['id']}", json=_tour(a2, a1, name="南线", dwell=5), headers=headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "南线" and changed.json()["stops"][0] == {
        "camera_id": a2.id, "dwell_s": 5, "name": a2.name or a2.id}
    # The district sees its towns' tours; the other town does not.
    assert tour["id"] in {t["id"] for t in client.get("/api/tours").json()}
    assert tour["id"] not in {t["id"] for t in client.get("/api/tours", headers=logins[test_users.operator_b]).json()}
    assert client.delete(f"/api/tours/{tour['id']}", headers=headers).status_code == 204
    assert client.get(f"/api/tours/{tour['id']}", headers=headers).status_code == 404
    assert client.delete(f"/api/tours/{tour['id']}", headers=headers).status_code == 404


@pytest.mark.parametrize(("body", "words"), [
    ({"name": "x", "stops": [{"camera_id": "NO-SUCH-CAMERA", "dwell_s": 10}]}, "unknown camera 'NO-SUCH-CAMERA'"),
    ({"name": "x", "stops": [{"camera_id": "A1", "dwell_s": 0}]}, "greater than or equal to 1"),
    ({"name": "x", "stops": [{"camera_id": "A1", "dwell_s": 3601}]}, "less than or equal to 3600"),
    ({"name": "x", "stops": []}, "at least 1"),
    ({"name": "", "stops": [{"camera_id": "A1", "dwell_s": 10}]}, "at least 1 character"),
    ({"name": "x", "stops": [{"camera_id": "A1", "dwell_s": 10}], "colour": "red"}, "Extra inputs"),
])
def test_bad_tours_are_refused_naming_the_problem(client, logins, test_users, cams, body, words):
    a1 = cams[0]
    headers = logins[test_users.operator_a]
    body = {**body, "stops": [{**s, "camera_id": a1.id if s["camera_id"] == "A1" else s["camera_id"]}
                              for s in body["stops"]]}
    before = len(client.get("/api/tours", headers=headers).json())
    answer = client.post("/api/tours", json=body, headers=headers)
    assert answer.status_code == 422 and words in answer.text, answer.text
    assert len(client.get("/api/tours", headers=headers).json()) == before


def test_a_tour_with_another_towns_camera_is_refused(client, logins, test_users, cams):
    a1, _, b = cams
    headers = logins[test_users.operator_a]
    answer = client.post("/api/tours", json={"name": "越界", "stops": [{"camera_id": b.id, "dwell_s": 10}]},
                         headers=headers)
    assert answer.status_code == 422 and f"unknown camera {b.id!r}" in answer.text
    mine = client.post("/api/tours", json=_tour(a1, a1), headers=headers).json()
    changed = client.put(f"/api/tours/{mine['id']}", json={"name": "x", "stops": [{"camera_id": b.id, "dwell_s": 5}]},
                         headers=headers)
    assert changed.status_code == 422
    assert client.get(f"/api/tours/{mine['id']}", headers=headers).json()["stops"][0]["camera_id"] == a1.id


def test_an_analyst_may_read_tours_but_not_make_them(client, console_state, test_users, cams):
    from tests.auth_support import bearer, login

    console_state.auth.add_user("tour-analyst", "analyst", test_users.town_a, "analyst-password-1")
    headers = bearer(login(client, "tour-analyst", "analyst-password-1"))
    assert client.get("/api/tours", headers=headers).status_code == 200
    refused = client.post("/api/tours", json=_tour(cams[0], cams[1]), headers=headers)
    assert refused.status_code == 403 and "alerts.act" in refused.text


def test_a_stop_is_logged_with_the_cameras_frame(client, console_state, logins, test_users, cams):
    a1, a2, _ = cams
    headers = logins[test_users.operator_a]
    tour = client.post("/api/tours", json=_tour(a1, a2), headers=headers).json()
    worker = FakeWorker({a1.id: a1.name})  # a1 has video, a2 none
    console_state.workers.append(worker)
    try:
        start = time.time() - 1
        first = client.post(f"/api/tours/{tour['id']}/log", json={"camera_id": a1.id, "wall": "main"}, headers=headers)
        second = client.post(f"/api/tours/{tour['id']}/log", json={"camera_id": a2.id}, headers=headers)
    finally:
        console_state.workers.remove(worker)
    assert first.status_code == 201 and second.status_code == 201, (first.text, second.text)
    assert first.json()["snapshot"] and second.json()["snapshot"] is None
    log = client.get(f"/api/tours/{tour['id']}/log", params={"start": start}, headers=headers).json()
    assert [(e["camera_id"], e["by"]) for e in log] == [(a1.id, test_users.operator_a), (a2.id, test_users.operator_a)]
    assert log[0]["name"] == (a1.name or a1.id)
    jpeg = client.get(log[0]["snapshot"], headers=headers)
    assert jpeg.status_code == 200 and jpeg.headers["content-type"] == "image/jpeg" and jpeg.content[:2] == b"\xff\xd8"
    # A range before the stops lists none; bad ranges and cameras off the tour are refused.
    earlier = {"start": start - 3600, "end": start}
    assert client.get(f"/api/tours/{tour['id']}/log", params=earlier, headers=headers).json() == []
    for params in ({"start": 10, "end": 5}, {"start": 0, "end": 40 * 86_400}, {"start": -1}):
        assert client.get(f"/api/tours/{tour['id']}/log", params=params, headers=headers).status_code == 422
    off = client.post(f"/api/tours/{tour['id']}/log", json={"camera_id": cams[2].id}, headers=headers)
    assert off.status_code == 422 and "no stop" in off.text
    # Town B sees neither the log nor its snapshots.
    b = logins[test_users.operator_b]
    assert client.get(f"/api/tours/{tour['id']}/log", params={"start": start}, headers=b).status_code == 404
    assert client.get(log[0]["snapshot"], headers=b).status_code == 404
    assert client.post(f"/api/tours/{tour['id']}/log", json={"camera_id": a1.id}, headers=b).status_code == 404


def test_the_tile_layout_is_kept_per_jurisdiction_and_wall(client, console_state, logins, test_users, cams):
    a1, a2, b = cams
    headers = logins[test_users.operator_a]
    wall = f"tiles-{time.time_ns()}"
    assert client.get(f"/api/walls/{wall}/tiles", headers=headers).json()["updated_ts"] is None
    saved = client.put(f"/api/walls/{wall}/tiles", json={"layout": 9, "tiles": [a1.id, None, a2.id]}, headers=headers)
    assert saved.status_code == 200, saved.text
    assert saved.json()["tiles"] == [a1.id, None, a2.id] + [None] * 6
    back = client.get(f"/api/walls/{wall}/tiles", headers=headers).json()
    assert back["layout"] == 9 and back["tiles"][:3] == [a1.id, None, a2.id]
    assert back["updated_by"] == test_users.operator_a
    assert back["names"][a1.id] == (a1.name or a1.id)
    # The district's wall of the same name, and town B's, are other walls.
    assert client.get(f"/api/walls/{wall}/tiles").json()["updated_ts"] is None
    assert client.get(f"/api/walls/{wall}/tiles", headers=logins[test_users.operator_b]).json()["updated_ts"] is None
    # Town B's camera is refused, and nothing changes.
    for method, path, body in (("PUT", f"/api/walls/{wall}/tiles", {"layout": 4, "tiles": [b.id]}),
                               ("PUT", f"/api/walls/{wall}/tiles/2", {"camera_id": b.id})):
        refused = client.request(method, path, json=body, headers=headers)
        assert refused.status_code == 422 and f"unknown camera {b.id!r}" in refused.text
    assert client.get(f"/api/walls/{wall}/tiles", headers=headers).json()["tiles"][:3] == [a1.id, None, a2.id]
    for body in ({"layout": 5, "tiles": []}, {"layout": 1, "tiles": [a1.id, a2.id]}):
        assert client.put(f"/api/walls/{wall}/tiles", json=body, headers=headers).status_code == 422


def _next_tiles(ws) -> dict:
    """The next ``tiles`` message of a screen's websocket (the snapshot and others skipped)."""
    while True:
        message = ws.receive_json()
        if message.get("type") == "wall" and message.get("action") == "tiles":
            return message


def test_one_tile_set_and_sent_to_the_wall(client, logins, test_users, cams):
    a1, a2, b = cams
    headers, b_headers = logins[test_users.operator_a], logins[test_users.operator_b]
    wall = f"one-{time.time_ns()}"
    with client.websocket_connect(f"/ws?wall={wall}", headers=headers) as screen, \
            client.websocket_connect(f"/ws?wall={wall}", headers=b_headers) as other:
        put = client.put(f"/api/walls/{wall}/tiles/2", json={"camera_id": a1.id}, headers=headers)
        assert put.status_code == 200 and put.json()["tiles"] == [None, a1.id, None, None]
        grown = client.put(f"/api/walls/{wall}/tiles/7", json={"camera_id": a2.id}, headers=headers).json()
        assert grown["layout"] == 9 and grown["tiles"][6] == a2.id
        swapped = client.put(f"/api/walls/{wall}/tiles/7", json={"camera_id": a1.id}, headers=headers).json()
        assert swapped["tiles"][1] == a2.id and swapped["tiles"][6] == a1.id  # a1 and a2 change places
        assert client.put(f"/api/walls/{wall}/tiles/17", json={"camera_id": a1.id}, headers=headers).status_code == 422
        got = [_next_tiles(screen) for _ in range(3)]
        assert [(m["layout"], m["tiles"][1], m["tiles"][6] if m["layout"] > 4 else None) for m in got] == [
            (4, a1.id, None), (9, a1.id, a2.id), (9, a2.id, a1.id)]
        assert all(m["wall"] == wall and m["by"] == test_users.operator_a for m in got)
        # Town B's wall of the same name gets its own change first: none of town A's came before it.
        client.put(f"/api/walls/{wall}/tiles/1", json={"camera_id": b.id}, headers=b_headers)
        theirs = _next_tiles(other)
        assert theirs["tiles"][0] == b.id and theirs["by"] == test_users.operator_b
