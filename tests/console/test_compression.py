"""What gzip must not touch (console/http_cache.py), on a real server on loopback.

A small console of its own serves video from a fake worker (a new JPEG 10 times a second). With
``Accept-Encoding: gzip`` the MJPEG stream still comes as it is, uncompressed, its first frame
within a second or so and the next ones at the asked rate (a buffering compressor would hold
them back); a camera's JPEG frame is not compressed; a JSON answer is.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.auth_support import PASSWORD, create_test_users, small_console_settings
from tests.browser import serve
from tests.wall_support import FakeWorker

GZIP = {"Accept-Encoding": "gzip, deflate, br"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from zhizhi.console.app import create_app
    from zhizhi.console.settings import DemoSettings
    from zhizhi.console.state import open_console

    settings = small_console_settings(tmp_path_factory.mktemp("gzip"))
    settings.demo = DemoSettings(seed=7, grids=64, towns=3, villages_per_town=2, cameras=12)
    state = open_console(settings)
    users = create_test_users(state)
    camera = state.cameras.cameras[0]
    state.workers.append(FakeWorker({camera.id: camera.name}, fps=10))
    with serve(create_app(settings, state=state)) as base:
        r = httpx.post(f"{base}/api/auth/login", json={"username": users.district, "password": PASSWORD},
                       trust_env=False, timeout=10)
        r.raise_for_status()
        yield base, r.json()["token"], camera.id
    state.close()


def _ticket(base: str, token: str) -> str:
    r = httpx.post(f"{base}/api/auth/ticket", headers={"Authorization": f"Bearer {token}"}, trust_env=False,
                   timeout=10)
    r.raise_for_status()
    return r.json()["ticket"]


def test_the_mjpeg_stream_is_not_compressed_and_frames_come_promptly(site):
    base, token, camera = site
    url = f"{base}/api/cameras/{camera}/mjpeg"
    params = {"ticket": _ticket(base, token), "fps": 5}
    started = time.perf_counter()
    arrivals: list[float] = []
    received = b""
    with httpx.stream("GET", url, params=params, headers=GZIP, trust_env=False,
                      timeout=httpx.Timeout(10, read=10)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("multipart/x-mixed-replace")
        assert "content-encoding" not in response.headers
        for chunk in response.iter_raw():
            received += chunk
            while received.count(b"\xff\xd9") > len(arrivals):  # a JPEG's end marker: one more frame whole
                arrivals.append(time.perf_counter() - started)
            if len(arrivals) >= 4:
                break
    assert received.startswith(b"--") and b"Content-Type: image/jpeg" in received
    assert arrivals[0] < 3.0, arrivals  # the first frame at once, not held for a compressor's buffer
    assert arrivals[3] - arrivals[0] < 3.0, arrivals  # then about every 0.2 s


def test_images_are_not_compressed_and_json_is(site):
    base, token, camera = site
    frame = httpx.get(f"{base}/api/cameras/{camera}/frame.jpg", params={"ticket": _ticket(base, token)},
                      headers=GZIP, trust_env=False, timeout=10)
    assert frame.status_code == 200 and frame.content[:2] == b"\xff\xd8"
    assert "content-encoding" not in frame.headers
    layer = httpx.get(f"{base}/api/layers/grids/features", params={"zoom": 13},
                      headers={**GZIP, "Authorization": f"Bearer {token}"}, trust_env=False, timeout=10)
    assert layer.status_code == 200 and layer.headers["content-encoding"] == "gzip"
    assert layer.json()["type"] == "FeatureCollection"
    small = httpx.get(f"{base}/healthz", headers=GZIP, trust_env=False, timeout=10)  # too small to bother
    assert small.json() == {"status": "ok"} and "content-encoding" not in small.headers


def test_a_range_of_a_static_file_is_not_compressed(site):
    base, _, _ = site
    r = httpx.get(f"{base}/static/vendor/leaflet/leaflet.js", headers={**GZIP, "Range": "bytes=0-1999"},
                  trust_env=False, timeout=10)
    assert r.status_code == 206 and len(r.content) == 2000 and "content-encoding" not in r.headers
