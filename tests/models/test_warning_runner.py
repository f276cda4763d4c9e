"""The warning runner live: simulator truth as frame batches on a real in-process bus, the
shipped model in the runner's thread, a real alert service on SQLite behind it."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from tests.alerts_support import T0, Recorder, small_district
from tests.warning_support import facts, frame_messages, hazmat_stop_scene, offline_status
from zhizhi.bus import Topic
from zhizhi.models.warning.config import load_model
from zhizhi.models.warning.engine import WarningEngine
from zhizhi.models.warning.runner import WarningRunner
from zhizhi.models.warning.scene import places_for


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return hazmat_stop_scene(tmp_path_factory)


@pytest.fixture(scope="module")
def frames(scene):
    return frame_messages(scene)


def make_runner(scene, on_warning, **options) -> WarningRunner:
    engine = WarningEngine(load_model(), places_for([scene.camera]))
    return WarningRunner(engine, on_warning, **options)


def publish(bus, messages, topic=Topic.FRAMES) -> None:
    for message in messages:
        bus.publish(topic, message)


def test_a_simulated_stop_raises_one_alert_updated_not_duplicated(scene, frames, bus, service):
    seen = Recorder(bus)
    runner = make_runner(scene, service.ingest).attach(bus).start()
    publish(bus, frames)
    assert runner.wait_idle(30)
    assert runner.stop()

    (alert,) = service.list()
    truth = facts(scene)
    assert alert.category == "abnormal_stop" and alert.rule_id == "hazmat-abnormal-stop"
    assert alert.camera_id == scene.camera.id and alert.track_id == truth["tanker_track_id"]
    assert alert.cls == "hazmat_tanker" and alert.severity in ("orange", "red")
    assert abs(alert.first_ts - (T0 + truth["stop_start_ts"])) < 1.0
    assert alert.active is False  # the tanker drove off before the clip ended
    assert abs(alert.last_ts - (T0 + truth["stop_end_ts"])) < 1.5
    assert alert.grid == small_district().locate(*truth["stop_lonlat"]).grid
    assert seen.events[0] == "new" and set(seen.events[1:]) == {"updated"}
    assert {m.id for m in seen.messages} == {alert.id}
    stats = runner.stats()
    assert stats["frames"] == len(frames) == 200
    assert stats["warnings"] == service.counters["created"] + service.counters["updated"] >= 3
    assert stats["dropped"] == stats["malformed"] == stats["errors"] == stats["queued"] == 0


def test_a_full_queue_drops_the_oldest_frames_and_keeps_status(scene, frames, bus, caplog):
    runner = make_runner(scene, lambda w: None, queue_size=5).attach(bus)  # not started: nothing drains
    camera = scene.camera.id
    bus.publish(Topic.CAMERA_STATUS, offline_status(camera))
    with caplog.at_level(logging.WARNING, logger="zhizhi.models.warning.runner"):
        publish(bus, frames[:50])
    assert runner.stats()["dropped"] == 46 and runner.stats()["queued"] == 5
    assert sum("oldest frame dropped" in r.getMessage() for r in caplog.records) == 1  # throttled
    runner.start()
    assert runner.wait_idle(10)
    stats = runner.stats()
    assert stats["frames"] == 4 and stats["flushed"] == 1  # the status message survived
    bus.publish(Topic.FRAMES, frames[45])  # older than the newest kept: the old ones went
    assert runner.wait_idle(10) and runner.stats()["out_of_order"] == 1
    runner.stop()


def test_a_stuck_consumer_never_blocks_the_publisher(scene, frames, bus):
    gate = threading.Event()
    runner = make_runner(scene, lambda w: gate.wait(30), queue_size=20).attach(bus).start()
    publisher = threading.Thread(target=publish, args=(bus, frames))
    started = time.monotonic()
    publisher.start()
    publisher.join(10)
    assert not publisher.is_alive() and time.monotonic() - started < 10
    gate.set()
    assert runner.wait_idle(30)
    stats = runner.stats()
    assert stats["dropped"] >= 200 - 130 - 20  # blocked at the first warning (frame ~130)
    assert stats["frames"] + stats["dropped"] == len(frames)
    runner.stop()


def test_malformed_messages_are_counted_and_the_thread_goes_on(scene, frames, bus, caplog):
    """The bus takes only batches on ``frames`` (a malformed wire form fails in the codec:
    tests/bus/test_observation_batch.py); anything else handed to the runner is counted, skipped."""
    runner = make_runner(scene, lambda w: None).attach(bus).start()
    camera = scene.camera.id
    bad = [
        {"type": "frame", "camera_id": camera, "ts": 1.0, "observations": []},
        {"type": "observation", "camera_id": camera, "ts": 1.0},
        "not a message",
        None,
    ]
    for message in bad:
        with pytest.raises(TypeError):
            bus.publish(Topic.FRAMES, message)
    with caplog.at_level(logging.WARNING, logger="zhizhi.models.warning.runner"):
        for message in bad:
            runner.submit_frame(message)
        publish(bus, frames[:10])
        assert runner.wait_idle(10)
    stats = runner.stats()
    assert stats["malformed"] == len(bad) and stats["frames"] == 10 and stats["errors"] == 0
    assert any("malformed message" in r.getMessage() for r in caplog.records)
    assert runner._thread.is_alive()
    runner.stop()


def test_a_failing_consumer_is_logged_and_the_runner_continues(scene, frames, bus, service, caplog):
    calls = []

    def flaky(warning):
        calls.append(warning)
        if len(calls) == 1:
            raise RuntimeError("alert store unavailable")
        return service.ingest(warning)

    runner = make_runner(scene, flaky).attach(bus).start()
    with caplog.at_level(logging.ERROR, logger="zhizhi.models.warning.runner"):
        publish(bus, frames)
        assert runner.wait_idle(30)
    assert runner.stats()["errors"] == 1 and len(calls) >= 3
    assert any(r.exc_info and "alert store unavailable" in str(r.exc_info[1]) for r in caplog.records)
    (alert,) = service.list()  # the next update of the same warning raised it
    assert alert.category == "abnormal_stop" and alert.active is False
    runner.stop()


def test_a_camera_going_offline_ends_its_warning(scene, frames, bus, service):
    runner = make_runner(scene, service.ingest).attach(bus).start()
    stop_end = T0 + facts(scene)["stop_end_ts"]
    publish(bus, [m for m in frames if m.ts <= stop_end - 3.0])  # fired, still standing
    assert runner.wait_idle(30)
    (alert,) = service.list()
    assert alert.active is True

    reconnecting = offline_status(scene.camera.id).model_copy(update={"state": "reconnecting"})
    bus.publish(Topic.CAMERA_STATUS, reconnecting)
    bus.publish(Topic.CAMERA_STATUS, offline_status("SOME-OTHER-CAMERA"))
    assert runner.wait_idle(10)
    assert service.get(alert.id).active is True

    bus.publish(Topic.CAMERA_STATUS, offline_status(scene.camera.id))
    assert runner.wait_idle(10)
    ended = service.get(alert.id)
    assert ended.active is False and ended.is_open  # the condition ended; people still close it
    assert any("condition ended" in a.note for a in service.history(alert.id))
    assert runner.stats()["flushed"] == 2
    runner.stop()


def test_stop_processes_what_is_queued_then_stops_listening(scene, frames, bus):
    runner = make_runner(scene, lambda w: None).attach(bus).start()
    publish(bus, frames)
    assert runner.stop(30)
    assert runner.stats()["frames"] == len(frames) and runner.stats()["queued"] == 0
    assert not runner._thread.is_alive()
    publish(bus, frames[:5])
    assert runner.stats()["frames"] == len(frames)
