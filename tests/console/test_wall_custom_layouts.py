"""A wall's named tile layouts (the ``custom`` slot) through the API (console/api/tours.py,
console/wall_tiles.py): ``?name=`` keeps a layout apart from the wall's main one and from other
names, the main contract works unchanged, cameras of another town are refused (422, nothing
stored), a bad name is a precise 422, and each change reaches the wall as a ``tiles`` message
carrying its name (a screen of the main layout tells it apart)."""

from __future__ import annotations

import time

import pytest

NAME = "危化专线"


@pytest.fixture(scope="module")
def cams(console_state, test_users):
    """Two cameras of town A and one of town B."""
    cameras = console_state.cameras.cameras
    a = [c for c in cameras if c.grid and c.grid.startswith(test_users.town_a)][:2]
    b = next(c for c in cameras if c.grid and c.grid.startswith(test_users.town_b))
    return a[0], a[1], b


def _tiles_message(ws) -> dict:
    """The next ``tiles`` message of a screen's websocket (the snapshot and others skipped)."""
    while True:
        message = ws.receive_json()
        if message.get("type") == "wall" and message.get("action") == "tiles":
            return message


def test_a_named_layout_is_kept_apart_from_the_main_one(client, logins, test_users, cams):
    a1, a2, b = cams
    headers = logins[test_users.operator_a]
    wall = f"custom-{time.time_ns()}"
    main = client.put(f"/api/walls/{wall}/tiles", json={"layout": 4, "tiles": [a1.id]}, headers=headers)
    assert main.status_code == 200 and main.json()["name"] is None
    assert client.get(f"/api/walls/{wall}/tiles", params={"name": NAME}, headers=headers).json()["updated_ts"] is None
    named = client.put(f"/api/walls/{wall}/tiles", params={"name": NAME}, json={"layout": 1, "tiles": [a2.id]},
                       headers=headers)
    assert named.status_code == 200, named.text
    assert named.json()["name"] == NAME and named.json()["tiles"] == [a2.id]
    # One tile of the named layout: the main layout does not move.
    one = client.put(f"/api/walls/{wall}/tiles/2", params={"name": NAME}, json={"camera_id": a1.id}, headers=headers)
    assert one.status_code == 200 and one.json()["layout"] == 4 and one.json()["tiles"][:2] == [a2.id, a1.id]
    assert client.get(f"/api/walls/{wall}/tiles", headers=headers).json()["tiles"] == [a1.id, None, None, None]
    back = client.get(f"/api/walls/{wall}/tiles", params={"name": NAME}, headers=headers).json()
    assert back["tiles"][:2] == [a2.id, a1.id] and back["updated_by"] == test_users.operator_a
    assert back["names"][a1.id] == (a1.name or a1.id)
    # Another name, the district's wall of the same name and town B's are other layouts.
    elsewhere = client.get(f"/api/walls/{wall}/tiles", params={"name": "高速口"}, headers=headers)
    assert elsewhere.json()["updated_ts"] is None
    assert client.get(f"/api/walls/{wall}/tiles", params={"name": NAME}).json()["updated_ts"] is None
    other = client.get(f"/api/walls/{wall}/tiles", params={"name": NAME}, headers=logins[test_users.operator_b])
    assert other.json()["updated_ts"] is None
    # Town B's camera is refused on the named layout too, and nothing changes.
    for path, body in ((f"/api/walls/{wall}/tiles", {"layout": 4, "tiles": [b.id]}),
                       (f"/api/walls/{wall}/tiles/3", {"camera_id": b.id})):
        refused = client.put(path, params={"name": NAME}, json=body, headers=headers)
        assert refused.status_code == 422 and f"unknown camera {b.id!r}" in refused.text
    assert client.get(f"/api/walls/{wall}/tiles", params={"name": NAME}, headers=headers).json()["tiles"][:3] == [
        a2.id, a1.id, None]


@pytest.mark.parametrize(("name", "words"), [
    ("4", "cannot name a layout"),
    ("16", "cannot name a layout"),
    ("两 个", "cannot name a layout"),
    ("x" * 65, "at most 64 characters"),
    ("", "at least 1 character"),
])
def test_bad_layout_names_are_refused(client, logins, test_users, cams, name, words):
    a1, _, _ = cams
    headers = logins[test_users.operator_a]
    wall = f"badname-{time.time_ns()}"
    for method, path, body in (("GET", f"/api/walls/{wall}/tiles", None),
                               ("PUT", f"/api/walls/{wall}/tiles", {"layout": 1, "tiles": [a1.id]}),
                               ("PUT", f"/api/walls/{wall}/tiles/1", {"camera_id": a1.id})):
        answer = client.request(method, path, params={"name": name}, json=body, headers=headers)
        assert answer.status_code == 422 and words in answer.text, (method, path, answer.text)
    assert client.get(f"/api/walls/{wall}/tiles", headers=headers).json()["updated_ts"] is None  # nothing stored


def test_each_change_is_sent_with_its_layout_name(client, logins, test_users, cams):
    a1, a2, _ = cams
    headers = logins[test_users.operator_a]
    wall = f"custom-ws-{time.time_ns()}"
    with client.websocket_connect(f"/ws?wall={wall}", headers=headers) as screen:
        client.put(f"/api/walls/{wall}/tiles/1", params={"name": NAME}, json={"camera_id": a1.id}, headers=headers)
        client.put(f"/api/walls/{wall}/tiles/1", json={"camera_id": a2.id}, headers=headers)
        named, main = _tiles_message(screen), _tiles_message(screen)
    assert (named["name"], named["tiles"][0]) == (NAME, a1.id)
    assert (main["name"], main["tiles"][0]) == (None, a2.id)



def test_a_custom_slot_takes_only_a_layout_name_its_screen_can_show(tmp_path):
    """A wall's custom slot whose layout the video screen would read as a tile count (or could not
    send as ?name=) is refused when the wall is made (422 naming it), and no wall is stored."""
    from tests.auth_support import admin_console

    with admin_console(tmp_path, "custom-admin") as c:
        body = {"name": "slots", "title": "指挥大厅", "code": c.state.jurisdictions.district_code,
                "slots": [{"name": "right", "kind": "custom", "layout": NAME}]}
        for layout in ("4", "危化 专线", "a/b"):
            body["slots"][0]["layout"] = layout
            made = c.client.post("/api/walls", json=body, headers=c.admin)
            assert made.status_code == 422 and "cannot name a layout" in made.text, made.text
        assert c.client.get("/api/walls", headers=c.admin).json() == []
        body["slots"][0]["layout"] = NAME
        made = c.client.post("/api/walls", json=body, headers=c.admin)
        assert made.status_code == 201 and made.json()["slots"][0]["layout"] == NAME, made.text
