"""Camera sources and runners against real components: files, a live MJPEG server, folders.

- an MJPEG stream that drops and comes back: online -> reconnecting -> offline -> online;
- broken cameras (corrupt, missing, unreachable, a source that raises) next to a good one;
- the real highway clip: real-time pace, every frame when not real time, looping;
- a slow consumer only ever gets the newest frame; an image folder; stop() is quick.
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import SHARED
from tests.mjpeg_server import MjpegServer
from zhizhi.video.camera_config import CameraConfig, SourceConfig
from zhizhi.video.frames import Frame
from zhizhi.video.runner import Sampler, SourceGroup, SourceRunner
from zhizhi.video.sources import MultipartJpegParser, SourceError, open_source
from zhizhi.video.status import CameraStatus

HIGHWAY = SHARED / "data" / "video" / "highway_720p_24fps.mp4"
FAST = {
    "backoff_initial_s": 0.05,
    "backoff_max_s": 0.3,
    "open_timeout_s": 1.0,
    "read_timeout_s": 1.0,
}


def _wait_until(predicate, timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_clip(path: Path, frames: int = 40, fps: float = 25.0, size=(160, 120)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        image = np.full((size[1], size[0], 3), 70, np.uint8)
        cv2.rectangle(image, (2 * i, 40), (2 * i + 30, 70), (250, 250, 250), -1)
        writer.write(image)
    writer.release()
    return path


class _Collector:
    """Frames taken by a consumer thread, so tests can check order across outages."""

    def __init__(self, runner: SourceRunner) -> None:
        self.runner = runner
        self.frames: list[Frame] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            frame = self.runner.wait_frame(0.1)
            if frame is not None:
                self.frames.append(frame)

    def stop(self) -> list[Frame]:
        self._stop.set()
        self._thread.join(5)
        return self.frames


def _assert_increasing(frames: list[Frame]) -> None:
    assert frames
    assert all(b.index > a.index for a, b in itertools.pairwise(frames))
    assert all(b.ts > a.ts for a, b in itertools.pairwise(frames))


def test_mjpeg_stream_drops_and_comes_back():
    server = MjpegServer(fps=30).start()
    seen: list[CameraStatus] = []
    camera = CameraConfig(id="drone-1", source=SourceConfig(url=server.url))
    assert camera.source.resolved_kind == "mjpeg"
    runner = SourceRunner(camera, on_status=seen.append, offline_after_s=1.0, **FAST).start()
    collector = _Collector(runner)
    try:
        assert _wait_until(lambda: runner.status().frames >= 15, 5), runner.status()
        up = runner.status()
        assert up.state == "online" and up.error is None and up.fps > 10
        server.stop()
        assert _wait_until(lambda: runner.status().state == "offline", 6), runner.status()
        down = runner.status()
        assert "stream" in down.error and (
            "connection refused" in down.error or "lost" in down.error
        )
        frames_while_down = down.frames
        time.sleep(0.3)
        assert runner.status().frames == frames_while_down
        server.start()
        assert _wait_until(lambda: runner.status().frames >= frames_while_down + 15, 6), (
            runner.status()
        )
        back = runner.status()
    finally:
        frames = collector.stop()
        runner.stop()
        server.stop()
    assert back.state == "online" and back.error is None and back.reconnects >= 1
    states = [s.state for s in seen]
    assert "reconnecting" in states and "offline" in states
    assert states[states.index("offline") :].count("online") >= 1, states
    assert states[0] == "online"
    _assert_increasing(frames)
    assert frames[-1].image.shape == (240, 320, 3) and frames[-1].image.dtype == np.uint8
    assert frames[-1].index >= frames_while_down  # frames from after the outage were taken


def test_ffmpeg_reads_http_mjpeg_and_reports_the_loss():
    """The ``http`` kind (OpenCV's FFmpeg) reads the same camera; an outage is reported."""
    with MjpegServer(fps=30) as server:
        camera = CameraConfig(id="cam-ff", source=SourceConfig(url=server.url, kind="http"))
        runner = SourceRunner(camera, offline_after_s=5.0, **FAST).start()
        try:
            assert _wait_until(lambda: runner.status().frames >= 10, 5), runner.status()
            assert runner.latest().image.shape == (240, 320, 3)
            server.stop()
            assert _wait_until(lambda: runner.status().state == "reconnecting", 4), runner.status()
            assert "127.0.0.1" in runner.status().error
        finally:
            runner.stop()

    # A stream that stalls: the read timeout ends the read, the runner reconnects.
    seen: list[CameraStatus] = []
    with MjpegServer(fps=0.05) as server:  # a frame per connection, then 20 s of silence
        camera = CameraConfig(id="cam-ff", source=SourceConfig(url=server.url, kind="http"))
        runner = SourceRunner(camera, on_status=seen.append, **{**FAST, "read_timeout_s": 0.5})
        with runner:
            assert _wait_until(lambda: any(s.state == "reconnecting" for s in seen), 4), seen
    lost = next(s for s in seen if s.state == "reconnecting")
    assert lost.error == f"stream lost: {server.url} (no frame within 0.5 s)"


def test_broken_cameras_never_stop_a_good_one(tmp_path):
    good = _write_clip(tmp_path / "good.mp4", frames=30, fps=25.0)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(os.urandom(8192))
    missing = tmp_path / "nope.mp4"
    port = _closed_port()

    def factory(config, camera_id, **kwargs):
        if camera_id == "buggy":
            raise RuntimeError("boom")
        return open_source(config, camera_id, **kwargs)

    configs = [
        CameraConfig(id="good", source=SourceConfig(url=str(good), loop=True)),
        CameraConfig(id="corrupt", source=SourceConfig(url=str(corrupt))),
        CameraConfig(id="missing", source=SourceConfig(url=str(missing))),
        CameraConfig(id="refused", source=SourceConfig(url=f"http://127.0.0.1:{port}/x")),
        CameraConfig(
            id="refused-mjpeg", source=SourceConfig(url=f"http://127.0.0.1:{port}/cam.mjpg")
        ),
        CameraConfig(id="refused-rtsp", source=SourceConfig(url=f"rtsp://127.0.0.1:{port}/live")),
        CameraConfig(id="buggy", source=SourceConfig(url=str(good))),
    ]
    group = SourceGroup(configs, offline_after_s=0.5, source_factory=factory, **FAST)
    collector = _Collector(group["good"])
    broken = ("corrupt", "missing", "refused", "refused-mjpeg", "refused-rtsp", "buggy")

    def settled() -> bool:  # past the clip's end, and every broken source retried twice
        now = group.statuses()
        return now["good"].frames > 35 and all(
            now[c].state == "offline" and now[c].reconnects >= 2 for c in broken)

    try:
        time.sleep(2.0)  # about 1.2 loops of the clip while the others keep failing
        assert _wait_until(settled, 10), group.statuses()  # (on a loaded machine, a little longer)
        statuses = group.statuses()
        latest = group.latest_frames()
    finally:
        frames = collector.stop()
        group.stop()
    assert statuses["good"].state == "online" and statuses["good"].error is None
    assert statuses["good"].frames > 35, statuses["good"]  # past the clip's end: it loops
    assert abs(statuses["good"].fps - 25.0) < 25.0 * 0.2, statuses["good"]
    _assert_increasing(frames)
    assert len(frames) > 35 and set(latest) == {"good"}
    assert statuses["corrupt"].error == f"cannot decode video: {corrupt} (not a video or corrupt)"
    assert statuses["missing"].error == f"file not found: {missing}"
    assert (
        statuses["refused"].error
        == f"stream unreachable: http://127.0.0.1:{port}/x (connection refused)"
    )
    assert statuses["refused-mjpeg"].error == (
        f"stream unreachable: http://127.0.0.1:{port}/cam.mjpg (connection refused)"
    )
    assert statuses["refused-rtsp"].error == (
        f"stream unreachable: rtsp://127.0.0.1:{port}/live (connection refused)"
    )
    assert statuses["buggy"].error == "source error: RuntimeError: boom"
    for camera_id in ("corrupt", "missing", "refused", "refused-mjpeg", "refused-rtsp", "buggy"):
        status = statuses[camera_id]
        assert status.state == "offline" and status.frames == 0 and status.reconnects >= 2, status


def test_mjpeg_errors_are_clear():
    with MjpegServer(fps=10) as server:
        wrong = server.url.replace("/video.mjpg", "/other.mjpg")
        with pytest.raises(SourceError, match=r"stream unreachable: .*/other.mjpg \(HTTP 404"):
            open_source(SourceConfig(url=wrong), "cam").open()
    secret = SourceConfig(url=f"http://admin:hunter2@127.0.0.1:{_closed_port()}/v.mjpg")
    with pytest.raises(SourceError) as info:
        open_source(secret, "cam").open()
    assert "hunter2" not in str(info.value) and "admin:***@" in str(info.value)


def test_real_clip_realtime_pace():
    camera = CameraConfig(id="highway", source=SourceConfig(url=str(HIGHWAY), realtime=True))
    with SourceRunner(camera, **FAST) as runner:
        assert _wait_until(lambda: runner.status().frames >= 80, 6), runner.status()
        status = runner.status()
    assert status.state == "online"
    assert abs(status.fps - 23.976) <= 23.976 * 0.15, status


def test_real_clip_every_frame_when_not_realtime():
    source = open_source(SourceConfig(url=str(HIGHWAY), realtime=False), "highway")
    source.open()
    try:
        assert source.fps == pytest.approx(23.976, abs=0.01)
        count = 0
        while (image := source.read()) is not None:
            assert image.shape == (720, 1280, 3) and image.dtype == np.uint8
            count += 1
    finally:
        source.close()
    assert count == 161 and source.ended and source.error == "end of file"

    # Through a runner: every frame timed by its position, then offline with "end of file".
    seen: list[CameraStatus] = []
    camera = CameraConfig(id="highway", source=SourceConfig(url=str(HIGHWAY), realtime=False))
    runner = SourceRunner(camera, on_status=seen.append, clock=lambda: 1_700_000_000.0, **FAST)
    runner.start()
    assert runner.join(20)
    status = runner.status()
    assert status.state == "offline" and status.error == "end of file" and status.frames == 161
    assert status.last_frame_ts == pytest.approx(1_700_000_000.0 + 160 / 23.976, abs=1e-3)
    assert [s.state for s in seen] == ["online", "offline"]
    runner.stop()


def test_real_clip_loops_with_monotonic_timestamps():
    camera = CameraConfig(
        id="highway", source=SourceConfig(url=str(HIGHWAY), loop=True, realtime=False)
    )
    runner = SourceRunner(camera, **FAST).start()
    collector = _Collector(runner)
    try:
        assert _wait_until(lambda: runner.status().frames > 161 + 40, 20), runner.status()
    finally:
        frames = collector.stop()
        runner.stop()
    status = runner.status()
    assert status.error is None and status.reconnects == 0
    _assert_increasing(frames)
    assert frames[-1].index > 161
    assert frames[-1].ts - frames[0].ts == pytest.approx(
        (frames[-1].index - frames[0].index) / 23.976, abs=1e-4
    )


def test_slow_consumer_gets_newest_frame_and_no_backlog(tmp_path):
    clip = _write_clip(tmp_path / "fast.mp4", frames=50, fps=50.0)
    camera = CameraConfig(id="fast", source=SourceConfig(url=str(clip), loop=True), analysis_fps=50)
    runner = SourceRunner(camera, **FAST).start()
    try:
        assert runner.wait_frame(3) is not None
        taken = []
        for _ in range(8):
            time.sleep(0.15)  # slower than the 20 ms frame interval
            frame = runner.latest()
            status = runner.status()
            taken.append(frame)
            assert frame.index >= status.frames - 2  # the newest (or the one just replaced)
            assert time.time() - frame.ts < 0.2  # no backlog: latency stays bounded
            newer = runner.latest(after_index=frame.index)
            assert newer is None or runner.status().frames > frame.index + 1  # status read after it
        dropped = runner.status().dropped
    finally:
        runner.stop()
    gaps = [b.index - a.index for a, b in itertools.pairwise(taken)]
    assert min(gaps) >= 4, gaps  # ~7 frames arrive per 150 ms; the consumer skips them
    assert dropped >= sum(g - 1 for g in gaps) * 0.8

    # The Sampler, fed the frames of a 50 fps camera, analyses 5 of them per second.
    sampler = Sampler(5.0)
    picked = [i for i in range(500) if sampler.take(1_700_000_000.0 + i * 0.02)]
    assert len(picked) == 50 and all(b - a == 10 for a, b in itertools.pairwise(picked))


def test_image_folder(tmp_path):
    folder = tmp_path / "drone"
    folder.mkdir()
    for i in range(5):  # named out of write order; one gray png, one broken jpg
        image = np.full((60, 80, 3), 40 * i + 10, np.uint8)
        if i == 2:
            cv2.imwrite(str(folder / f"img_{i:03d}.png"), image[:, :, 0])
        else:
            cv2.imwrite(str(folder / f"img_{i:03d}.{'png' if i % 2 else 'jpg'}"), image)
    (folder / "img_001b.jpg").write_bytes(b"not a jpeg")
    (folder / "notes.txt").write_text("ignored")
    camera = CameraConfig(id="folder", source=SourceConfig(url=str(folder), fps=50))
    assert camera.source.resolved_kind == "images"
    runner = SourceRunner(camera, **FAST).start()
    collector = _Collector(runner)
    assert runner.join(5)
    frames = collector.stop()
    status = runner.status()
    assert status.state == "offline" and status.error == "end of images" and status.frames == 5
    levels = [int(f.image[0, 0, 0]) for f in frames]
    assert levels == sorted(levels) and all(f.image.shape == (60, 80, 3) for f in frames)
    runner.stop()

    looped = SourceRunner(
        CameraConfig(id="folder", source=SourceConfig(url=str(folder), fps=100, loop=True)), **FAST
    ).start()
    assert _wait_until(lambda: looped.status().frames > 12, 3), looped.status()
    looped.stop()

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="no images"):
        open_source(SourceConfig(url=str(empty), kind="images"), "cam").open()


def test_stop_is_quick_while_backing_off_or_blocked_in_a_read():
    missing = CameraConfig(id="gone", source=SourceConfig(url="/no/such/file.mp4"))
    runner = SourceRunner(missing, backoff_initial_s=20, backoff_max_s=20).start()
    assert _wait_until(lambda: runner.status().error is not None, 2)
    started = time.monotonic()
    runner.stop()
    assert time.monotonic() - started < 0.5 and not runner.alive

    with MjpegServer(fps=0.05) as server:  # one frame, then 20 s of silence
        camera = CameraConfig(id="slow", source=SourceConfig(url=server.url))
        runner = SourceRunner(camera, read_timeout_s=30).start()
        assert runner.wait_frame(5) is not None
        time.sleep(0.2)  # now blocked reading the socket
        started = time.monotonic()
        runner.stop()
        assert time.monotonic() - started < 0.5 and not runner.alive
        assert runner.status().state == "offline"


def test_multipart_parser_without_lengths_or_boundary():
    jpeg = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    stream = b"".join(
        b"--zhizhi-part\r\nContent-Type: image/jpeg\r\n\r\n" + jpeg + b"\r\n" for _ in range(3)
    )
    parser = MultipartJpegParser('"zhizhi-part"')
    parts = [p for i in range(0, len(stream), 7) for p in parser.feed(stream[i : i + 7])]
    assert parts == [jpeg, jpeg]  # the third completes when the next boundary comes
    bare = MultipartJpegParser(None)
    assert bare.feed(b"junk" + jpeg + jpeg[:10]) == [jpeg] and bare.feed(jpeg[10:]) == [jpeg]
