"""``zhizhi demo`` as a user starts it: live video and a hazmat abnormal-stop alert, soon.

The demo runs in its own process on a free loopback port with a fresh data folder (so its
simulated scenes are rendered here, as on a first start), the shipped detector and model.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.browser import login_answer

ZHIZHI = str(Path(sys.executable).with_name("zhizhi"))
PASSWORD = "Demo-pass-2026"


def _get(url: str, token: str | None = None, timeout: float = 10.0):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read()


def _login(base: str, username: str) -> str:
    return login_answer(base, username, PASSWORD)["token"]


def test_demo_shows_live_video_and_a_hazmat_alert_within_a_minute_of_video(tmp_path):
    from tests.browser import free_socket

    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "ZHIZHI_DATA_DIR": str(tmp_path), "ZHIZHI_DEMO_PASSWORD": PASSWORD,
           "YOLO_CONFIG_DIR": str(tmp_path / "yolo"), "CI": "true"}
    log = (tmp_path / "demo.log").open("w")
    started = time.monotonic()
    proc = subprocess.Popen([ZHIZHI, "demo", "--port", str(port), "--no-open", "--cameras", "2"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            assert proc.poll() is None, (tmp_path / "demo.log").read_text()[-3000:]
            try:
                if _get(f"{base}/healthz", timeout=2)[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert time.monotonic() - started < 240, "the demo console did not come up"
            time.sleep(0.5)
        up_s = time.monotonic() - started
        token = _login(base, "district")
        alert = None
        while alert is None:
            assert proc.poll() is None, (tmp_path / "demo.log").read_text()[-3000:]
            alerts = json.loads(_get(f"{base}/api/alerts", token)[2])
            alert = next((a for a in alerts if a["rule"] == "abnormal_stop"), None)
            assert time.monotonic() - started < up_s + 120, "no abnormal-stop alert within two minutes of start"
            time.sleep(1.0)
        alert_s = time.monotonic() - started
        assert alert["cls"] == "hazmat_tanker" and alert["source"] == "video" and alert["grid"]
        camera = alert["camera_id"]
        status, content_type, body = _get(f"{base}/api/cameras/{camera}/frame.jpg", token)
        assert status == 200 and content_type == "image/jpeg" and body[:2] == b"\xff\xd8"
        # the town's operator sees it too; another town's does not
        town = alert["town"]
        assert any(
            a["id"] == alert["id"] for a in json.loads(_get(f"{base}/api/alerts", _login(base, f"town-{town}"))[2])
        )
        other = next(t for t in _towns(tmp_path) if t != town)
        assert all(
            a["id"] != alert["id"] for a in json.loads(_get(f"{base}/api/alerts", _login(base, f"town-{other}"))[2])
        )
        print(f"demo: console up in {up_s:.1f} s, abnormal-stop alert {alert_s:.1f} s after start")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    assert proc.returncode in (0, -signal.SIGINT), (tmp_path / "demo.log").read_text()[-3000:]


def _towns(data_dir: Path) -> list[str]:
    """Town codes of the demo district, from the store the demo wrote."""
    from zhizhi.console.settings import Settings
    from zhizhi.console.state import load_jurisdictions
    from zhizhi.layers import LayerRegistry, make_engine

    engine = make_engine(Settings(data_dir=data_dir).resolved_database_url)
    try:
        jurisdictions, _ = load_jurisdictions(LayerRegistry(engine))
        return [t.code for t in jurisdictions.units("town")]
    finally:
        engine.dispose()
