"""The recorder following a real frame-analysis worker: an H.264 camera copied, an MPEG-4 one
encoded from its frames, cameras added and removed; and ``zhizhi worker``'s runtime recording
its cameras when ``recording.mode`` is ``all`` (every segment closed playable at the stop)."""

from __future__ import annotations

import threading
import time

from tests.clip_support import write_crossing_clip
from tests.recording_support import decoded_frames, h264_clip
from zhizhi.console.settings import RecordingSettings, Settings
from zhizhi.console.worker_runtime import WorkerRuntime
from zhizhi.video.camera_config import CameraConfig, SourceConfig
from zhizhi.video.detectors import make_detector
from zhizhi.video.recording.recorder import FrameRecorder, Recorder, StreamRecorder
from zhizhi.video.worker import Worker


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_the_recorder_follows_a_workers_cameras(tmp_path):
    h264 = h264_clip(tmp_path / "h264.mp4", seconds=3.0)
    mp4v = write_crossing_clip(tmp_path / "mp4v.mp4", frames=30)
    cameras = [CameraConfig(id="CAM-H264", source=SourceConfig(url=str(h264), loop=True)),
               CameraConfig(id="CAM-MP4V", source=SourceConfig(url=str(mp4v), loop=True))]
    worker = Worker(cameras, make_detector("motion"), lambda topic, message: None)
    recorder = Recorder(tmp_path / "rec", mode="some", camera_ids=["CAM-H264", "CAM-MP4V"], segment_s=1.0, fps=10,
                        poll_s=0.1)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        recorder.follow(lambda: [worker])
        wait_for(lambda: set(recorder.loops) == {"CAM-H264", "CAM-MP4V"})
        assert isinstance(recorder.loops["CAM-H264"], StreamRecorder)  # H.264: copied
        assert isinstance(recorder.loops["CAM-MP4V"], FrameRecorder)  # MPEG-4 part 2: encoded from frames
        wait_for(lambda: all(len(recorder.store.segments(c)) >= 2 for c in ("CAM-H264", "CAM-MP4V")))
        worker.remove_camera("CAM-MP4V")  # handed to another worker: its recording stops here
        wait_for(lambda: set(recorder.loops) == {"CAM-H264"})
    finally:
        recorder.stop()
        stop.set()
        thread.join(10)
        worker.close()
    for camera_id in ("CAM-H264", "CAM-MP4V"):
        segments = recorder.store.segments(camera_id)
        assert segments
        for segment in segments:
            codec, frames, _ = decoded_frames(segment.path)
            assert codec == "h264" and frames >= 1
    assert not list((tmp_path / "rec").rglob(".*.part.mp4"))


def test_a_mode_some_recorder_leaves_other_cameras_alone(tmp_path):
    assert Recorder(tmp_path, mode="some", camera_ids=["A"]).wants("A")
    assert not Recorder(tmp_path, mode="some", camera_ids=["A"]).wants("B")
    assert Recorder(tmp_path, mode="all").wants("B")


def test_the_worker_runtime_records_its_cameras(tmp_path):
    clip = write_crossing_clip(tmp_path / "road.mp4", frames=30)
    settings = Settings(data_dir=tmp_path, recording=RecordingSettings(mode="all", segment_s=1, fps=10))
    cameras = [CameraConfig(id="c1", source=SourceConfig(url=str(clip), loop=True), analysis_fps=10.0)]
    runtime = WorkerRuntime(settings, cameras, make_detector("motion")).start()
    try:
        assert runtime.recordings is not None
        wait_for(lambda: len(runtime.recordings.store.segments("c1")) >= 2)
    finally:
        runtime.stop()
    segments = runtime.recordings.store.segments("c1")
    assert segments[0].path.parent == settings.resolved_recordings_dir / "c1"
    assert all(decoded_frames(s.path)[0] == "h264" for s in segments)
    assert not list(settings.resolved_recordings_dir.rglob(".*.part.mp4"))  # the last segment closed at the stop


def test_recording_is_off_by_default(tmp_path):
    clip = write_crossing_clip(tmp_path / "road.mp4", frames=10)
    cameras = [CameraConfig(id="c1", source=SourceConfig(url=str(clip), loop=True))]
    runtime = WorkerRuntime(Settings(data_dir=tmp_path), cameras, make_detector("motion")).start()
    runtime.stop()
    assert runtime.recordings is None and not (tmp_path / "recordings").exists()
