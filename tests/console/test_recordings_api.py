"""The recordings API on the session console (real SQLite, real MP4 segments copied by PyAV):
the segments covering a range, a segment played by range requests, an export, 404 and 422."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.recording_support import decoded_frames, record_clip

T0 = 1_750_000_000.0


@pytest.fixture(scope="module")
def towns(console_state, test_users, logins):
    cameras = console_state.cameras.cameras
    camera_a = next(c for c in cameras if c.grid and c.grid.startswith(test_users.town_a))
    camera_b = next(c for c in cameras if c.grid and c.grid.startswith(test_users.town_b))
    root = console_state.settings.resolved_recordings_dir
    segments = record_clip(root, camera_a.id, T0, seconds=4.0)
    record_clip(root, camera_a.id, T0 + 100, seconds=2.0)  # after a gap of 96 s
    return {"a": logins[test_users.operator_a], "b": logins[test_users.operator_b], "camera_a": camera_a.id,
            "camera_b": camera_b.id, "segments": segments}


def test_the_segments_covering_a_range_are_listed_in_order(client, towns):
    camera, a = towns["camera_a"], towns["a"]
    listed = client.get(f"/api/cameras/{camera}/recordings", params={"start": T0 + 1.5, "end": T0 + 2.5}, headers=a)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert [round(s["start"] - T0) for s in body] == [1, 2]
    assert all(s["start"] <= T0 + 2.5 and s["end"] > T0 + 1.5 for s in body)
    every = client.get(f"/api/cameras/{camera}/recordings", params={"start": T0 - 60, "end": T0 + 200}, headers=a)
    starts = [s["start"] for s in every.json()]
    assert starts == sorted(starts) and len(starts) >= 5
    assert round(starts[-1] - T0) >= 100  # the second run, after the gap
    gap = client.get(f"/api/cameras/{camera}/recordings", params={"start": T0 + 10, "end": T0 + 90}, headers=a)
    assert gap.json() == []
    assert set(body[0]) == {"start", "end", "url"}


def test_a_listed_segment_plays_with_range_requests_and_a_ticket(client, towns, tmp_path):
    camera, a = towns["camera_a"], towns["a"]
    listed = client.get(f"/api/cameras/{camera}/recordings", params={"start": T0, "end": T0 + 1}, headers=a)
    url = listed.json()[0]["url"]
    bare = TestClient(client.app)
    assert bare.get(url).status_code == 401
    assert bare.get(url, params={"token": a["Authorization"].split()[1]}).status_code == 401  # no login token in URLs
    ticket = client.post("/api/auth/ticket", headers=a).json()["ticket"]
    whole = bare.get(url, params={"ticket": ticket})
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    part = bare.get(url, params={"ticket": ticket}, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == whole.content[:100]
    (tmp_path / "s.mp4").write_bytes(whole.content)
    assert decoded_frames(tmp_path / "s.mp4")[:2] == ("h264", 25)


def test_a_range_exports_as_one_mp4(client, towns, tmp_path):
    camera, a = towns["camera_a"], towns["a"]
    answer = client.get(f"/api/cameras/{camera}/recordings/export", params={"start": T0 + 0.5, "end": T0 + 3.0},
                        headers=a)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "video/mp4"
    assert f"{camera}-" in answer.headers["content-disposition"]
    (tmp_path / "export.mp4").write_bytes(answer.content)
    codec, frames, _ = decoded_frames(tmp_path / "export.mp4")
    assert codec == "h264" and 70 <= frames <= 80  # from the keyframe at 0 s to 3.0 s, 25 fps
    nothing = client.get(f"/api/cameras/{camera}/recordings/export", params={"start": T0 + 10, "end": T0 + 20},
                         headers=a)
    assert nothing.status_code == 404


@pytest.mark.parametrize("params", [
    {"start": T0 + 10, "end": T0},  # end before start
    {"start": T0, "end": T0 + 3 * 86_400},  # longer than recording.max_list_s
    {"start": T0},  # no end
    {"start": "yesterday", "end": T0},
    {"start": -5, "end": T0},
])
def test_bad_ranges_are_422(client, towns, params):
    answer = client.get(f"/api/cameras/{towns['camera_a']}/recordings", params=params, headers=towns["a"])
    assert answer.status_code == 422, answer.text


def test_an_export_longer_than_its_limit_is_422(client, towns):
    answer = client.get(f"/api/cameras/{towns['camera_a']}/recordings/export",
                        params={"start": T0, "end": T0 + 7200}, headers=towns["a"])
    assert answer.status_code == 422 and "3600" in answer.text


def test_another_towns_camera_is_404_like_an_unknown_one(client, towns):
    span = {"start": T0, "end": T0 + 10}
    for camera in (towns["camera_a"], "CAM-NOPE"):
        assert client.get(f"/api/cameras/{camera}/recordings", params=span, headers=towns["b"]).status_code == 404
    name = towns["segments"][0].name
    hidden = client.get(f"/api/cameras/{towns['camera_a']}/recordings/{name}", headers=towns["b"])
    assert hidden.status_code == 404


def test_a_segment_gone_by_retention_is_404(client, towns):
    camera, a = towns["camera_a"], towns["a"]
    doomed = record_clip(client.app.state.console.settings.resolved_recordings_dir, camera, T0 + 500, seconds=1.0)
    url = f"/api/cameras/{camera}/recordings/{doomed[0].name}"
    assert client.get(url, headers=a).status_code == 200
    doomed[0].path.unlink()
    assert client.get(url, headers=a).status_code == 404
    assert client.get(f"/api/cameras/{camera}/recordings/not-a-segment.mp4", headers=a).status_code == 422
