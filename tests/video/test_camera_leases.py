"""Camera leases against real redis-server processes (tests/redis_support.py): fair shares,
crash and graceful stop, a joining worker, Redis restarts; never a camera owned twice."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from tests.redis_support import BlackholeProxy, wait_until
from zhizhi.video.leases import CameraLeases

CAMERAS = [f"cam-{i:03d}" for i in range(9)]


class Watch:
    """Samples every few ms each worker's ``owned`` and the set its listener was last given (what
    a worker runs): no camera may be in two workers' at once."""

    def __init__(self, workers: list[CameraLeases], changes: dict[str, list[set[str]]]) -> None:
        self.workers = workers
        self.changes = changes
        self.violations: list[dict[str, list[str]]] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            owners: dict[str, list[str]] = {}
            for worker in list(self.workers):
                told = self.changes.get(worker.worker_id) or [set()]
                for camera in worker.owned | told[-1]:
                    owners.setdefault(camera, []).append(worker.worker_id)
            twice = {c: w for c, w in owners.items() if len(w) > 1}
            if twice:
                self.violations.append(twice)
            self.samples += 1
            time.sleep(0.002)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def fleet(redis_server):
    """``fleet.add(worker_id, ttl_s=...)`` starts a worker; all are stopped at the end, and the
    watch must have seen no camera owned twice."""

    class Fleet:
        def __init__(self) -> None:
            self.workers: list[CameraLeases] = []
            self.changes: dict[str, list[set[str]]] = {}
            self.watch = Watch(self.workers, self.changes)

        def add(self, worker_id: str, cameras=CAMERAS, ttl_s: float = 1.0, url: str | None = None,
                on_change=None) -> CameraLeases:
            """A worker (through ``url`` when given); ``on_change`` runs after the change is recorded."""
            told = self.changes[worker_id] = []

            def record(owned: set[str]) -> None:
                told.append(owned)
                if on_change is not None:
                    on_change(owned)

            worker = CameraLeases(url or redis_server.url, worker_id, cameras, ttl_s=ttl_s, on_change=record)
            self.workers.append(worker)
            return worker.start()

        def counts(self) -> list[int]:
            return sorted(len(w.owned) for w in self.workers)

        def owners(self) -> dict[str, str]:
            return {c: w.worker_id for w in self.workers for c in w.owned}

    fleet = Fleet()
    yield fleet
    fleet.watch.stop()
    for worker in fleet.workers:
        worker.stop(release=True)
    assert fleet.watch.samples > 10
    assert fleet.watch.violations == [], "a camera was owned by two workers at once"


def _in_redis(redis_server, cameras=CAMERAS) -> dict[str, str | None]:
    values = redis_server.client().mget([f"zhizhi:lease:{c}" for c in cameras])
    return {c: (v.decode() if v is not None else None) for c, v in zip(cameras, values, strict=True)}


def _age_epoch(redis_server, seconds: float = 60) -> None:
    """As if this Redis had been up for a while (no restart grace for the leases)."""
    redis_server.client().set("zhizhi:leases:epoch", int((time.time() - seconds) * 1000))


def test_three_workers_share_nine_cameras(fleet, redis_server):
    workers = [fleet.add(f"w{i}") for i in range(3)]
    assert wait_until(lambda: fleet.counts() == [3, 3, 3], timeout=5)
    assert set(fleet.owners()) == set(CAMERAS)
    assert _in_redis(redis_server) == fleet.owners()
    for worker in workers:
        assert fleet.changes[worker.worker_id][-1] == worker.owned
        assert worker.live_workers == 3
    # stable: nothing moves while nobody comes or goes
    before = fleet.owners()
    time.sleep(1.0)
    assert fleet.owners() == before


def test_a_crashed_workers_cameras_are_taken_within_10_s(fleet, redis_server):
    """Default ttl (5 s): the others own all nine cameras again well within 10 s."""
    _age_epoch(redis_server)
    workers = [fleet.add(f"w{i}", ttl_s=5.0) for i in range(3)]
    assert wait_until(lambda: fleet.counts() == [3, 3, 3], timeout=5)
    crashed = workers[0]
    orphans = crashed.owned
    crashed.stop(release=False)  # no release: its leases stay until they expire
    started = time.monotonic()
    survivors = workers[1:]
    assert wait_until(lambda: sum(len(w.owned) for w in survivors) == 9, timeout=12, interval=0.02)
    took = time.monotonic() - started
    print(f"\ncameras of a crashed worker taken over after {took:.2f} s (ttl 5 s)")
    assert took < 10
    assert took > 2  # they waited for the leases to expire
    assert sorted(len(w.owned) for w in survivors) == [4, 5]
    assert orphans <= set(fleet.owners())
    assert set(_in_redis(redis_server).values()) == {"w1", "w2"}


def test_a_joining_worker_gets_its_share_without_double_ownership(fleet):
    for i in range(3):
        fleet.add(f"w{i}")
    assert wait_until(lambda: fleet.counts() == [3, 3, 3], timeout=5)
    before = fleet.owners()
    fleet.add("w3")
    assert wait_until(lambda: fleet.counts() == [2, 2, 2, 3], timeout=5)
    after = fleet.owners()
    assert set(after) == set(CAMERAS)
    moved = [c for c in CAMERAS if before[c] != after[c]]
    assert len(moved) == 2 and all(after[c] == "w3" for c in moved)
    assert fleet.changes["w3"][-1] == set(moved)


def test_graceful_stop_releases_at_once(fleet, redis_server):
    _age_epoch(redis_server)
    workers = [fleet.add(f"w{i}", ttl_s=3.0) for i in range(3)]
    assert wait_until(lambda: fleet.counts() == [3, 3, 3], timeout=5)
    leaving = workers[0]
    theirs = leaving.owned
    leaving.stop(release=True)
    assert leaving.owned == set()
    assert fleet.changes["w0"][-1] == set()
    assert all(v != "w0" for v in _in_redis(redis_server).values())  # deleted, not left to expire
    assert not redis_server.client().exists("zhizhi:worker:w0")
    started = time.monotonic()
    assert wait_until(lambda: theirs <= set(fleet.owners()), timeout=5)
    took = time.monotonic() - started
    assert took < 1.5  # a renew period (1 s), not the 3 s ttl
    assert sorted(len(w.owned) for w in workers[1:]) == [4, 5]


def test_one_lease_stays_with_its_holder(fleet):
    """The console's single ``rule-models`` lease: one holder; a new console does not take it;
    the holder's crash hands it on."""
    first = fleet.add("console-b", cameras=["rule-models"])
    assert wait_until(lambda: first.owned == {"rule-models"}, timeout=5)
    others = [fleet.add(name, cameras=["rule-models"]) for name in ("console-a", "console-c")]
    time.sleep(1.0)
    assert first.owned == {"rule-models"} and all(not o.owned for o in others)
    first.stop(release=False)
    assert wait_until(lambda: sum(len(o.owned) for o in others) == 1, timeout=3)


def test_redis_restart_reestablishes_the_leases(fleet, redis_server):
    workers = [fleet.add(f"w{i}", ttl_s=2.0) for i in range(3)]
    assert wait_until(lambda: fleet.counts() == [3, 3, 3], timeout=6)
    before = fleet.owners()

    # A short outage (under the ttl): everyone keeps its cameras, the leases are set again.
    redis_server.restart()  # kill -9, start: every key is gone
    assert wait_until(lambda: _in_redis(redis_server) == before, timeout=3)
    assert fleet.owners() == before
    assert all(not w.connected or w.owned for w in workers)

    # A long outage: nobody can vouch for its leases after the ttl; all dropped, then back.
    redis_server.stop()
    down = time.monotonic()
    assert wait_until(lambda: fleet.counts() == [0, 0, 0], timeout=4)
    assert time.monotonic() - down <= 2.0 + 0.1
    assert all(fleet.changes[w.worker_id][-1] == set() for w in workers)
    redis_server.start()
    assert wait_until(lambda: fleet.counts() == [3, 3, 3], timeout=6)
    assert _in_redis(redis_server) == fleet.owners()
    assert Counter(fleet.owners().values()) == Counter({"w0": 3, "w1": 3, "w2": 3})


def test_the_worker_is_told_before_its_lease_expires_while_redis_hangs(fleet, redis_server):
    """Redis stops answering one worker (its calls hang until their socket timeout): its
    listener — the worker's camera set — gives the cameras up before their leases expire in
    Redis, where another worker could take them, not when the hanging call returns."""
    _age_epoch(redis_server)
    proxy = BlackholeProxy(redis_server.port)
    try:
        cut = fleet.add("w0", ttl_s=3.0, url=proxy.url)
        other = fleet.add("w1", ttl_s=3.0)
        assert wait_until(lambda: fleet.counts() == [4, 5], timeout=8)
        theirs = cut.owned
        expired_at: list[float] = []
        told_at: list[float] = []
        told = fleet.changes["w0"]
        seen = len(told)

        def watch_redis() -> None:
            client = redis_server.client()
            while not expired_at:
                values = client.mget([f"zhizhi:lease:{c}" for c in theirs])
                if any(v != b"w0" for v in values):
                    expired_at.append(time.monotonic())
                time.sleep(0.002)

        def watch_listener() -> None:
            while not told_at:
                if len(told) > seen and not (told[-1] & theirs):
                    told_at.append(time.monotonic())
                time.sleep(0.002)

        threads = [threading.Thread(target=f, daemon=True) for f in (watch_redis, watch_listener)]
        proxy.blackhole()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert expired_at and told_at
        print(f"\ntold {expired_at[0] - told_at[0]:.3f} s before the leases expired in Redis (ttl 3 s)")
        assert told_at[0] < expired_at[0]
        assert cut.owned == set()
        assert wait_until(lambda: other.owned == set(CAMERAS), timeout=5)
    finally:
        proxy.close()


def test_a_slow_listener_does_not_delay_the_renewals(fleet, redis_server):
    """A worker whose camera change takes longer than the ttl (reading threads that are slow to
    stop) keeps renewing meanwhile: its leases never lapse in Redis and no camera moves."""
    _age_epoch(redis_server)
    slow = threading.Event()

    def stop_cameras_slowly(owned: set[str]) -> None:
        if slow.is_set():
            time.sleep(2.5)

    workers = [fleet.add("w0", on_change=stop_cameras_slowly), fleet.add("w1")]
    assert wait_until(lambda: fleet.counts() == [4, 5], timeout=5)
    before = fleet.owners()
    slow.set()
    fleet.add("w2")  # w0 and w1 give cameras up for w2's share: w0 takes 2.5 s to do it
    client = redis_server.client()
    lapsed: list[str] = []
    ends = time.monotonic() + 3.0
    while time.monotonic() < ends:
        values = dict(zip(CAMERAS, client.mget([f"zhizhi:lease:{c}" for c in CAMERAS]), strict=True))
        running = workers[0].owned | fleet.changes["w0"][-1]  # what w0 may still be analysing
        lapsed += [c for c, v in values.items() if before[c] == "w0" and v is None and c in running]
        time.sleep(0.005)
    assert lapsed == [], "a lease of a camera the worker still ran lapsed in Redis"
    assert wait_until(lambda: fleet.counts() == [3, 3, 3], timeout=5)
