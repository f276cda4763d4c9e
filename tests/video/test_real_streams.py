"""Cameras read from real stream servers on loopback (tests/stream_servers/).

- RTSP from GStreamer's RTSP server: the worker reads it, reports online, reconnecting with the
  reason when the server dies, and online again with frames flowing once it is back on the same
  port; no thread is left behind;
- a server that hangs (SIGSTOP): the read times out, the status says so, reading resumes;
- wrong path, wrong password, not a video, a corrupt stream: precise reasons, and no password in any status, log
  line or FFmpeg message;
- live HLS and HTTP-FLV as a GB/T 28181 media server (ZLMediaKit) re-publishes a channel, analysed
  at the camera's rate (an HLS segment's frames come at once: they are paced by their timestamps).

Timings are printed (``-s``) as ``measured:`` lines; docs/cameras.md quotes them.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.redis_support import wait_until
from tests.stream_servers import FlvServer, HlsServer, RtspServer, write_h264_clip
from zhizhi.bus import InProcessBus, Topic
from zhizhi.bus.messages import CameraStatus
from zhizhi.video.camera_config import CameraConfig, SourceConfig
from zhizhi.video.detectors import make_detector
from zhizhi.video.runner import SourceRunner
from zhizhi.video.worker import Worker

SIZE = (640, 360)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A minute of 640x360 H.264 at 10 fps, a keyframe a second (about 70 KB)."""
    return write_h264_clip(tmp_path_factory.mktemp("streams") / "live.mp4", seconds=60, size=SIZE)


def _native_threads() -> int:
    return len(os.listdir("/proc/self/task"))


class Watched:
    """A real worker (motion detector) run in a thread, with what it published."""

    def __init__(self, url: str, **runner_options) -> None:
        self.bus = InProcessBus()
        self.lock = threading.Lock()
        self.frames: list[float] = []
        self.statuses: list[tuple[float, CameraStatus]] = []
        self.bus.subscribe(Topic.FRAMES, lambda _batch: self._add(self.frames, time.monotonic()))
        self.bus.subscribe(Topic.CAMERA_STATUS, lambda s: self._add(self.statuses, (time.monotonic(), s)))
        camera = CameraConfig(id="CAM-1", source=SourceConfig(url=url), analysis_fps=5.0)
        detector = make_detector("motion", warmup_frames=3)
        self.started = time.monotonic()
        self.worker = Worker([camera], detector, self.bus.publish, runner_options=runner_options)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.worker.run, args=(self._stop,), name="test-worker")
        self._thread.start()

    def _add(self, items: list, item) -> None:
        with self.lock:
            items.append(item)

    def frames_since(self, since: float) -> int:
        with self.lock:
            return sum(1 for t in self.frames if t >= since)

    def states(self) -> list[CameraStatus]:
        with self.lock:
            return [s for _, s in self.statuses]

    def first(self, predicate: Callable[[CameraStatus], bool], since: float = 0.0) -> tuple[float, CameraStatus]:
        with self.lock:
            return next((t, s) for t, s in self.statuses if t >= since and predicate(s))

    def status(self) -> CameraStatus:
        return self.worker.statuses()["CAM-1"]

    def picture(self) -> np.ndarray:
        jpeg = self.worker.latest_jpeg("CAM-1")
        assert jpeg is not None
        return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.worker.close()
        assert not self._thread.is_alive()


def test_rtsp_camera_across_a_server_restart(clip, capsys):
    """The console's own runner settings (backoff 0.5 s doubling, 5 s timeouts)."""
    threads, native = threading.active_count(), _native_threads()
    server = RtspServer(clip).start()
    watched = Watched(server.url)
    try:
        assert wait_until(lambda: watched.frames_since(0) >= 10, 15), watched.states()
        first_online, _ = watched.first(lambda s: s.state == "online")
        assert watched.picture().shape == (SIZE[1], SIZE[0], 3)
        # The measured rate settles at the camera's 10 fps once the frames FFmpeg buffered while
        # probing the stream have come out.
        assert wait_until(lambda: 8 <= watched.status().fps <= 12, 8), watched.status()
        up = watched.status()
        assert up.state == "online" and up.error is None, up

        server.stop()
        killed = time.monotonic()
        assert wait_until(lambda: watched.status().state == "reconnecting", 8), watched.status()
        lost_at, lost = watched.first(lambda s: s.state == "reconnecting")
        assert lost.error == f"stream lost: {server.url} (the server ended the stream or dropped the connection)"
        assert wait_until(lambda: "connection refused" in (watched.status().error or ""), 5), watched.status()
        assert watched.status().error == f"stream unreachable: {server.url} (connection refused)"
        time.sleep(1.0)

        server.start()  # the same port: a camera back from a reboot
        restarted = time.monotonic()
        assert wait_until(lambda: watched.frames_since(restarted) >= 10, 20), watched.status()
        back_at, back = watched.first(lambda s: s.state == "online", since=restarted)
        assert back.error is None and back.reconnects >= 2
        assert watched.picture().shape == (SIZE[1], SIZE[0], 3)
        stats = watched.worker.stats()["per_camera"]["CAM-1"]
        assert stats["analysed"] >= 20
    finally:
        watched.close()
        server.stop()
    states = [s.state for s in watched.states()]
    assert states[:1] == ["online"] and "reconnecting" in states and states.count("online") >= 2, states
    assert states[-1] == "offline"  # the worker closed: its camera is reported offline
    assert wait_until(lambda: threading.active_count() <= threads, 5), threading.enumerate()
    assert wait_until(lambda: _native_threads() <= native + 2, 5), (native, _native_threads())
    with capsys.disabled():
        print(
            f"\nmeasured: RTSP first frame {first_online - watched.started:.2f} s after the start; loss seen "
            f"{lost_at - killed:.2f} s after the kill; online {back_at - restarted:.2f} s after the "
            f"restart (server down {restarted - killed:.2f} s)"
        )


def test_rtsp_server_that_hangs(clip, capsys):
    """SIGSTOP: the connection stays open but nothing comes; timeouts free the thread."""
    with RtspServer(clip) as server:
        seen: list[tuple[float, CameraStatus]] = []
        camera = CameraConfig(id="CAM-2", source=SourceConfig(url=server.url))
        runner = SourceRunner(camera, on_status=lambda s: seen.append((time.monotonic(), s)),
                              open_timeout_s=1.5, read_timeout_s=1.5, offline_after_s=4.0).start()
        try:
            assert wait_until(lambda: runner.status().frames >= 5, 15), runner.status()
            os.kill(server._process.pid, signal.SIGSTOP)
            hung = time.monotonic()
            assert wait_until(lambda: runner.status().state == "reconnecting", 5), runner.status()
            assert runner.status().error == f"stream lost: {server.url} (no frame within 1.5 s)"
            assert wait_until(lambda: "hung" in (runner.status().error or ""), 8), runner.status()
            assert runner.status().error == (
                f"cannot open stream: {server.url} "
                "(the server accepts connections but does not answer within 1.5 s (hung?))"
            )
            assert wait_until(lambda: runner.status().state == "offline", 5), runner.status()
            frames = runner.status().frames
            os.kill(server._process.pid, signal.SIGCONT)
            resumed = time.monotonic()
            assert wait_until(lambda: runner.status().frames >= frames + 5, 15), runner.status()
            assert runner.status().state == "online"
        finally:
            stop_started = time.monotonic()
            runner.stop(timeout=5)
            assert not runner.alive and time.monotonic() - stop_started < 3
    lost_at = next(t for t, s in seen if s.state == "reconnecting")
    back_at = next(t for t, s in seen if s.state == "online" and t > resumed)
    with capsys.disabled():
        print(f"\nmeasured: RTSP hang seen {lost_at - hung:.2f} s after SIGSTOP (read timeout 1.5 s); "
              f"online {back_at - resumed:.2f} s after SIGCONT")


def _open_error(url: str) -> str:
    runner = SourceRunner(CameraConfig(id="CAM-3", source=SourceConfig(url=url)), open_timeout_s=3, read_timeout_s=3)
    with runner:
        assert wait_until(lambda: runner.status().error is not None, 10), runner.status()
        return runner.status().error


def test_wrong_path_password_or_format_get_precise_reasons(clip, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    secret = "S3cret-pw"
    with RtspServer(clip, user="admin", password=secret) as server:
        good = server.url.replace("rtsp://", f"rtsp://admin:{secret}@")
        runner = SourceRunner(CameraConfig(id="CAM-4", source=SourceConfig(url=good)))
        with runner:
            assert wait_until(lambda: runner.status().frames >= 3, 15), runner.status()
        port = server.port
        bad = server.url.replace("rtsp://", "rtsp://admin:wrong-pw@")
        assert _open_error(bad) == (
            f"cannot open stream: rtsp://admin:***@127.0.0.1:{port}/live (wrong user or password? "
            "(RTSP 401 Unauthorized))"
        )
        assert _open_error(server.url) == (
            f"cannot open stream: {server.url} (the camera wants a user and password (RTSP 401 Unauthorized))"
        )
        nowhere = good.replace("/live", "/Streaming/Channels/102")
        assert _open_error(nowhere) == (
            f"cannot open stream: rtsp://admin:***@127.0.0.1:{port}/Streaming/Channels/102 "
            "(no stream at this path (RTSP 404 Not Found))"
        )
    with HlsServer(clip) as hls:
        root = hls.url.removesuffix("live.m3u8")
        assert _open_error(root) == f"cannot open stream: {root} (not a video stream (content type text/html))"
        missing = root + "rtp/34020000001320000001.m3u8"
        assert _open_error(missing) == f"cannot open stream: {missing} (HTTP 404 File not found)"
        (hls.folder / "cut.flv").write_bytes(b"FLV\x01\x01\x00\x00\x00\x09" + bytes(range(256)) * 40)
        assert _open_error(root + "cut.flv") == (
            f"cannot open stream: {root}cut.flv "
            "(the server serves the stream, but FFmpeg cannot decode it (unsupported codec or corrupt?))"
        )
    out, err = capfd.readouterr()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for text in (out, err, logged):
        assert secret not in text and "wrong-pw" not in text
    assert "admin:***@" in logged  # the runner did log the failures, redacted


@pytest.mark.parametrize("server_class", [HlsServer, FlvServer], ids=["hls", "http-flv"])
def test_media_server_republished_streams(clip, server_class, capsys):
    with server_class(clip) as server:
        watched = Watched(server.url)
        try:
            assert wait_until(lambda: watched.frames_since(0) >= 10, 15), watched.states()
            online_at, _ = watched.first(lambda s: s.state == "online")
            assert watched.picture().shape == (SIZE[1], SIZE[0], 3)
            status = watched.status()
            assert status.state == "online" and status.error is None and status.fps > 5, status
            # Analysed at the camera's 5 fps, also where FFmpeg hands out an HLS segment's frames
            # at once (paced by their timestamps; unpaced, one frame a segment was analysed).
            window = time.monotonic()
            time.sleep(3.0)
            analysed = watched.frames_since(window)
        finally:
            watched.close()
    assert analysed >= 10, analysed
    with capsys.disabled():
        print(f"\nmeasured: {server_class.__name__} first frame {online_at - watched.started:.2f} s after the start, "
              f"{analysed / 3:.1f} frames/s analysed (5 asked)")
