"""Faults survived by a real deployment: 2 consoles and 3 workers (``zhizhi serve`` and
``zhizhi worker`` processes, started as ``zhizhi cluster`` starts them) on a PostgreSQL server
and a Redis server of the test's own, with simulated cameras analysed by the shipped detector.

The tests run in order on one deployment: cameras spread over the workers; a worker killed
with ``kill -9`` mid-stream (its cameras move, its camera's alert is still raised); Redis
restarted (everything reconnects, screens resynchronise); PostgreSQL crashed and restarted
(the consoles serve again, nothing stored is lost); a console killed and restarted (its screen
comes back with its last ``seq``; the rule models move to the other console)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import httpx
import pytest
import redis
import shapely

from tests.cluster_support import (
    PASSWORD,
    PostgresServer,
    Screen,
    kill9,
    login,
    wait_until,
)
from tests.redis_support import RedisServer
from zhizhi.bench.surge import free_ports
from zhizhi.console.cluster import (
    Child,
    ClusterPlan,
    children,
    ensure_database,
    prepare,
    wait_healthy,
)
from zhizhi.console.scaleout import RULE_MODELS
from zhizhi.console.settings import DemoSettings

pytestmark = pytest.mark.timeout(900)

LEASE_MOVE_S = 10.0  # the bound: a dead worker's cameras move within 10 s


@dataclass
class Deployment:
    plan: ClusterPlan
    postgres: PostgresServer
    redis_server: RedisServer
    procs: dict[str, Child]
    cameras: list[str]
    point: tuple[float, float]

    def url(self, console: int) -> str:
        return f"http://127.0.0.1:{self.plan.base_port + console - 1}"

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_server.url, decode_responses=True, socket_timeout=2)

    def owners(self) -> dict[str, str | None]:
        """Camera -> the worker holding its lease (None: nobody, or Redis unreachable)."""
        try:
            client = self.redis()
            return {c: client.get(f"zhizhi:lease:{c}") for c in self.cameras}
        except redis.RedisError:
            return dict.fromkeys(self.cameras)

    def rule_models_holder(self) -> str | None:
        return self.redis().get(f"zhizhi:consoles:lease:{RULE_MODELS}")

    def live_workers(self) -> set[str]:
        return {name for name, child in self.procs.items() if name.startswith("worker") and child.running}

    def post_event(self, console: int, text: str) -> httpx.Response:
        token = login(self.url(console))
        body = {"category": "flood", "lon": self.point[0], "lat": self.point[1], "reporter": "fault-test",
                "channel": "hotline", "text": text}
        return httpx.post(self.url(console) + "/api/events", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {token}"})


def _grid_point(url: str) -> tuple[float, float]:
    token = login(url)
    r = httpx.get(url + "/api/layers/grids/features", headers={"Authorization": f"Bearer {token}"}, timeout=60)
    r.raise_for_status()
    grid = shapely.from_geojson(json.dumps(r.json()["features"][0]["geometry"]))
    x, y = shapely.get_coordinates(shapely.point_on_surface(grid))[0]
    return float(x), float(y)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    postgres = PostgresServer().start()
    redis_server = RedisServer().start()
    plan = ClusterPlan(
        consoles=2, workers=3, cameras=3, database_url=postgres.url("zhizhi"), redis_url=redis_server.url,
        data_dir=tmp_path_factory.mktemp("cluster"), base_port=free_ports(2),
        demo=DemoSettings(seed=11, grids=64, towns=3, villages_per_town=2, cameras=24), password=PASSWORD,
    )
    procs: dict[str, Child] = {}
    try:
        ensure_database(plan.database_url)
        cameras_file = prepare(plan)
        cameras = [c["id"] for c in json.loads(cameras_file.read_text())["cameras"]]
        for child in children(plan, cameras_file):
            child.env["ZHIZHI_CONFIG"] = str(plan.data_dir / "absent.toml")
            procs[child.name] = child.start()
        for i in (1, 2):
            wait_healthy(f"http://127.0.0.1:{plan.base_port + i - 1}", procs[f"console-{i}"])
        yield Deployment(plan, postgres, redis_server, procs, cameras, _grid_point(f"http://127.0.0.1:{plan.base_port}"))
    finally:
        for child in procs.values():
            child.stop(timeout=10)
        redis_server.stop()
        postgres.cleanup()


def _logs(dep: Deployment) -> str:
    return "\n".join(f"--- {c.name}\n" + "\n".join(c.log_path.read_text(errors="replace").splitlines()[-25:])
                     for c in dep.procs.values())


def test_cameras_spread_over_the_workers_by_lease(deployment):
    dep = deployment
    spread = wait_until(lambda: len({o for o in dep.owners().values() if o}) == 3 and all(dep.owners().values()),
                        timeout=90, interval=0.2)
    assert spread, f"{dep.owners()}\n{_logs(dep)}"
    assert set(dep.owners().values()) == {"worker-1", "worker-2", "worker-3"}
    assert wait_until(lambda: dep.rule_models_holder() in {"console-1", "console-2"}, timeout=10), _logs(dep)


def test_every_console_shows_the_workers_frames(deployment):
    """The wall's video tiles: each camera's newest annotated frame, analysed in a worker
    process, served by both consoles."""
    dep = deployment

    def frame_of(console: int, camera: str) -> httpx.Response:
        return httpx.get(f"{dep.url(console)}/api/cameras/{camera}/frame.jpg", timeout=10,
                         headers={"Authorization": f"Bearer {tokens[console]}"})

    tokens = {console: login(dep.url(console)) for console in (1, 2)}
    for console in (1, 2):
        for camera in dep.cameras:
            assert wait_until(lambda c=console, cam=camera: frame_of(c, cam).status_code == 200,
                              timeout=30, interval=0.5), camera
            r = frame_of(console, camera)
            assert r.headers["content-type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"


def test_a_worker_killed_mid_stream_hands_over_its_cameras_and_no_alert_is_lost(deployment):
    """The hazmat camera's worker dies seconds into the clip, before the tanker has stood 20 s:
    its camera moves to another worker within 10 s and the stop is still raised, delivered to a
    screen of the console that does not run the rule models as well."""
    dep = deployment
    hazmat = dep.cameras[0]  # the first demo scene: a tanker stopping on the road
    screen = Screen(dep.url(2), login(dep.url(2))).start()
    assert wait_until(lambda: screen.snapshots() >= 1, timeout=30)
    stops = lambda: [a for a in screen.alerts() if a.get("category") == "abnormal_stop"
                     and a.get("camera_id") == hazmat]
    owner = dep.owners()[hazmat]
    assert not stops(), "the stop was raised before the worker could be killed (the test came too late)"
    kill9(dep.procs[owner].process)
    killed = time.monotonic()
    moved = wait_until(lambda: dep.owners()[hazmat] in dep.live_workers(), timeout=30, interval=0.1)
    took = time.monotonic() - killed
    assert moved and took < LEASE_MOVE_S, f"camera {hazmat} moved after {took:.1f} s: {dep.owners()}"
    print(f"\nkill -9 {owner}: camera {hazmat} moved to {dep.owners()[hazmat]} after {took:.1f} s")
    assert wait_until(lambda: all(o in dep.live_workers() for o in dep.owners().values()), timeout=LEASE_MOVE_S)
    assert wait_until(lambda: stops(), timeout=150, interval=0.5), _logs(dep)
    print(f"the tanker's stop reached console 2's screen {time.monotonic() - killed:.1f} s after the kill")
    headers = {"Authorization": f"Bearer {login(dep.url(1))}"}
    r = httpx.get(dep.url(1) + "/api/alerts", params={"category": "abnormal_stop", "limit": 50}, timeout=30,
                  headers=headers)
    (alert,) = [a for a in r.json() if a.get("camera_id") == hazmat]

    def evidence() -> dict:
        return httpx.get(f"{dep.url(1)}/api/alerts/{alert['id']}", headers=headers, timeout=30).json()["evidence"]

    # the worker process that runs the camera now wrote a snapshot and a clip; a console attached them
    assert wait_until(lambda: evidence().get("snapshot") and evidence().get("clip"), timeout=60, interval=1.0), \
        evidence()
    snap = httpx.get(f"{dep.url(2)}/api/alerts/{alert['id']}/evidence/snapshot", headers=headers, timeout=30)
    assert snap.status_code == 200 and snap.content[:2] == b"\xff\xd8"
    screen.stop()
    dep.procs[owner].start()  # back to three workers for what follows


def test_redis_restart_everything_reconnects_and_screens_resync(deployment):
    dep = deployment
    screen = Screen(dep.url(2), login(dep.url(2))).start()
    assert wait_until(lambda: screen.snapshots() >= 1, timeout=30)
    dep.redis_server.stop()  # kill -9: every key, stream and group is gone
    time.sleep(2)
    dep.redis_server.start()
    assert wait_until(lambda: screen.snapshots() >= 2, timeout=30), "no resync after the bus came back"
    assert wait_until(lambda: all(o in dep.live_workers() for o in dep.owners().values()), timeout=30), dep.owners()
    assert wait_until(lambda: dep.rule_models_holder() in {"console-1", "console-2"}, timeout=30)
    r = dep.post_event(1, "故障测试 Redis 重启后 R1")
    assert r.status_code == 201, r.text
    alert_id = r.json()["id"]
    assert wait_until(lambda: [a for a in screen.alerts() if a["id"] == alert_id], timeout=20), \
        "an alert raised on console 1 after the restart did not reach console 2's screen"
    screen.stop()


def test_postgresql_restart_the_consoles_serve_again_and_keep_their_data(deployment):
    dep = deployment
    before = dep.post_event(2, "故障测试 数据库重启前 P1")
    assert before.status_code == 201, before.text
    token = login(dep.url(2))
    dep.postgres.crash()
    body = {"category": "flood", "lon": dep.point[0], "lat": dep.point[1], "reporter": "fault-test",
            "channel": "hotline", "text": "故障测试 数据库停机 P2"}
    down = httpx.post(dep.url(2) + "/api/events", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert down.status_code == 503 and "storage" in down.json()["detail"], down.text  # a clear answer, no hang
    dep.postgres.start()

    def serves() -> bool:
        try:
            return dep.post_event(1, "故障测试 数据库重启后 P3").status_code == 201
        except httpx.HTTPError:
            return False

    assert wait_until(serves, timeout=60, interval=1.0), _logs(dep)
    token = login(dep.url(2))
    r = httpx.get(dep.url(2) + f"/api/alerts/{before.json()['id']}", headers={"Authorization": f"Bearer {token}"},
                  timeout=30)
    assert r.status_code == 200 and r.json()["id"] == before.json()["id"], r.text


def test_a_console_restarted_its_screen_resumes_and_the_rule_models_move(deployment):
    dep = deployment
    holder = dep.rule_models_holder()
    victim = int(holder.split("-")[1])  # kill the console that runs the rule models
    other = 3 - victim
    screen = Screen(dep.url(victim), login(dep.url(victim))).start()
    assert wait_until(lambda: screen.snapshots() >= 1 and screen.last_seq is not None, timeout=30)
    seen_before = screen.last_seq
    kill9(dep.procs[f"console-{victim}"].process)
    killed = time.monotonic()
    r = dep.post_event(other, "故障测试 控制台重启期间 C1")
    assert r.status_code == 201, r.text
    missed = r.json()["id"]
    assert wait_until(lambda: dep.rule_models_holder() == f"console-{other}", timeout=30), dep.rule_models_holder()
    took = time.monotonic() - killed
    assert took < LEASE_MOVE_S + 5
    print(f"\nkill -9 console-{victim}: the rule models moved to console-{other} within {took:.1f} s")
    dep.procs[f"console-{victim}"].start()
    wait_healthy(dep.url(victim), dep.procs[f"console-{victim}"])
    assert wait_until(lambda: [a for a in screen.alerts() if a["id"] == missed], timeout=60), \
        "the alert raised while the console was down did not reach its screen after the restart"
    assert screen.connects >= 2 and seen_before is not None
    r = dep.post_event(other, "故障测试 控制台重启后 C2")
    after = r.json()["id"]
    assert wait_until(lambda: [m for m in screen.messages if m.get("type") == "alert" and m["id"] == after],
                      timeout=20)
    ids = [m["id"] for m in screen.messages if m.get("type") == "alert" and m.get("event") == "new"]
    assert len(ids) == len(set(ids)), "an alert arrived twice as new"
    screen.stop()
