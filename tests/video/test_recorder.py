"""The recorder on real video: synthetic frames encoded, an H.264 clip copied, a camera that drops
and returns, retention by days and by disk share, a range exported as one MP4."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.recording_support import SyntheticCamera, decoded_frames, h264_clip
from zhizhi.video.recording import DiskBudget, SegmentStore, enforce
from zhizhi.video.recording.export import NothingRecorded, export
from zhizhi.video.recording.recorder import FrameRecorder, NotH264, StreamRecorder


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_frames_are_recorded_in_playable_h264_segments(tmp_path):
    store = SegmentStore(tmp_path / "rec")
    camera = SyntheticCamera().start()
    recorder = FrameRecorder(camera.camera_id, camera.take, store, segment_s=1.0, fps=10).start()
    try:
        wait_for(lambda: len(store.segments(camera.camera_id)) >= 3)
    finally:
        recorder.stop()
        camera.stop()
    segments = store.segments(camera.camera_id)
    assert len(segments) >= 3
    for before, after in itertools.pairwise(segments):
        assert before.end <= after.start + 0.2  # contiguous, in order
    for segment in segments:
        codec, frames, _ = decoded_frames(segment.path)
        assert codec == "h264" and frames >= 1
        assert 0 < segment.end - segment.start <= 1.5
    assert not list((tmp_path / "rec" / camera.camera_id).glob(".*part*"))  # nothing partial left


def test_a_camera_that_drops_and_returns_keeps_every_segment_playable(tmp_path):
    store = SegmentStore(tmp_path / "rec")
    camera = SyntheticCamera().start()
    recorder = FrameRecorder(camera.camera_id, camera.take, store, segment_s=30.0, fps=10, gap_s=0.6).start()
    try:
        time.sleep(1.5)
        camera.delivering.clear()  # the camera drops: its segment is closed though it is not 30 s long
        wait_for(lambda: len(store.segments(camera.camera_id)) == 1)
        dropped_at = time.time()
        time.sleep(1.0)
        assert len(store.segments(camera.camera_id)) == 1  # nothing recorded while it is away
        camera.delivering.set()  # it returns: a new segment
        time.sleep(1.5)
    finally:
        recorder.stop()
        camera.stop()
    first, second = store.segments(camera.camera_id)
    assert first.end <= dropped_at
    assert second.start >= dropped_at + 0.5  # the gap is a gap, not frozen frames
    assert recorder.drops == 1
    for segment in (first, second):
        codec, frames, _ = decoded_frames(segment.path)
        assert codec == "h264" and frames >= 5


def test_an_h264_clip_is_copied_without_re_encoding(tmp_path):
    clip = h264_clip(tmp_path / "cam.mp4", seconds=4.0, gop=25)
    store = SegmentStore(tmp_path / "rec")
    recorder = StreamRecorder("CAM-H264", str(clip), store, segment_s=1.0, loop=False, realtime=False)
    recorder.probe()
    recorder.run()  # to the end of the file
    segments = store.segments("CAM-H264")
    assert len(segments) >= 3  # cut at the first keyframe past 1 s
    source_packets = _packets(clip)
    copied = [p for s in segments for p in _packets(s.path)]
    assert copied == source_packets  # the very same H.264 bytes: no re-encode
    assert sum(decoded_frames(s.path)[1] for s in segments) == 100  # every frame, each segment playable
    for before, after in itertools.pairwise(segments):
        assert after.start == pytest.approx(before.end, abs=0.05)
        assert before.end - before.start >= 0.95


def test_a_stream_that_is_not_h264_is_refused_for_copying(tmp_path):
    import av

    path = tmp_path / "mpeg4.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        import numpy as np

        for _ in range(5):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="bgr24")))
        out.mux(stream.encode(None))
    with pytest.raises(NotH264):
        StreamRecorder("CAM-MP4V", str(path), SegmentStore(tmp_path / "rec")).probe()


def test_the_recording_never_exceeds_its_disk_share_while_filling_it(tmp_path):
    store = SegmentStore(tmp_path / "rec")
    budget = DiskBudget(share=0.02, volume_bytes=30_000_000)  # 600 kB for the recordings, ~5 segments
    limit = budget.bytes_for(store.root)
    usages: list[int] = []

    def before_segment(reserve: int) -> None:
        enforce(store, retention_days=30, budget=budget, now=time.time(), reserve=reserve)
        usages.append(store.usage())

    camera = SyntheticCamera(fps=10, noise=True).start()  # about 120 kB a segment
    recorder = FrameRecorder(camera.camera_id, camera.take, store, segment_s=0.5, fps=10,
                             before_segment=before_segment)
    recorder.start()
    try:
        first_size = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            segments = store.segments(camera.camera_id)
            if first_size is None and segments:
                first_size = segments[0].size
            usage = store.usage()
            usages.append(usage)
            assert usage <= limit, f"recordings use {usage} bytes, over their {limit}"
            if recorder.finished and first_size and len(recorder.finished) * first_size > 3 * limit:
                break  # written three times the budget
            time.sleep(0.02)
    finally:
        recorder.stop()
        camera.stop()
    assert len(recorder.finished) * first_size > 3 * limit, "the test did not fill the budget"
    assert max(usages) <= limit
    kept = store.segments(camera.camera_id)
    assert kept and kept[-1].path == recorder.finished[-1]  # the oldest went first, the newest are kept
    for segment in kept:
        assert decoded_frames(segment.path)[0] == "h264"


def test_retention_by_days_deletes_the_oldest_first(tmp_path):
    store = SegmentStore(tmp_path / "rec")
    now = 1_800_000_000.0
    for days_ago in (10, 8, 3, 1):
        start = now - days_ago * 86_400
        part = store.part_path("CAM-A", start)
        part.write_bytes(b"\0" * 100)
        store.finish(part, "CAM-A", start, start + 60)
    deleted = enforce(store, retention_days=7, budget=DiskBudget(1.0, volume_bytes=10**9), now=now)
    assert [round((now - s.start) / 86_400) for s in deleted] == [10, 8]
    assert [round((now - s.start) / 86_400) for s in store.segments("CAM-A")] == [3, 1]


def test_partial_segments_are_never_listed(tmp_path):
    store = SegmentStore(tmp_path / "rec")
    store.part_path("CAM-A", 100.0).write_bytes(b"half a segment")
    (store.camera_dir("CAM-A") / "garbage.mp4").write_bytes(b"x")
    assert store.segments("CAM-A") == []
    assert store.sweep_partial("CAM-A") == 1


def test_a_range_exports_as_one_playable_mp4(tmp_path):
    clip = h264_clip(tmp_path / "cam.mp4", seconds=4.0, gop=25)
    store = SegmentStore(tmp_path / "rec")
    StreamRecorder("CAM-H264", str(clip), store, segment_s=1.0, loop=False, realtime=False).run()
    segments = store.segments("CAM-H264")
    t0 = segments[0].start
    out = tmp_path / "export.mp4"
    first = export(segments, t0 + 1.5, t0 + 3.2, out)
    assert first == pytest.approx(t0 + 1.0, abs=0.05)  # from the keyframe before the range
    codec, frames, _ = decoded_frames(out)
    assert codec == "h264"
    assert 50 <= frames <= 56  # 1.0 .. 3.2 s at 25 fps
    with pytest.raises(NothingRecorded):
        export(segments, t0 + 100, t0 + 120, tmp_path / "none.mp4")
    assert not (tmp_path / "none.mp4").exists()


def _packets(path) -> list[bytes]:
    import av

    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.video[0]) if p.size]


def test_a_camera_id_that_cannot_name_a_folder_is_recorded_under_its_hash(tmp_path):
    store = SegmentStore(tmp_path / "rec")
    part = store.part_path("干线 1号/枪机", 100.0)
    part.write_bytes(b"\0" * 10)
    store.finish(part, "干线 1号/枪机", 100.0, 160.0)
    assert part.parent.parent == store.root and part.parent.name.startswith("_")
    assert [(s.start, s.end) for s in store.list("干线 1号/枪机", 120, 130)] == [(100.0, 160.0)]
    enforce(store, retention_days=1, budget=DiskBudget(1.0, volume_bytes=10**9), now=100.0 + 2 * 86_400)
    assert store.segments("干线 1号/枪机") == []  # retention reaches it too


def test_the_encoder_preset_is_the_settings(tmp_path):
    from zhizhi.console.recording import recorder_from_settings
    from zhizhi.console.settings import RecordingSettings, Settings

    settings = Settings(data_dir=tmp_path, recording=RecordingSettings(mode="all", preset="ultrafast"))
    recorder = recorder_from_settings(settings)
    camera = SyntheticCamera().start()
    loop = recorder._loop_for(camera.camera_id, camera, None).start()  # a camera without a source: frames
    try:
        wait_for(lambda: loop.thread.is_alive() and camera.latest() is not None)
        time.sleep(1.0)
    finally:
        loop.stop()
        camera.stop()
    assert loop.preset == "ultrafast"
    segment = recorder.store.segments(camera.camera_id)[0]
    assert segment.path.parent == settings.resolved_recordings_dir / camera.camera_id
    assert decoded_frames(segment.path)[:1] == ("h264",)
    assert recorder_from_settings(Settings(data_dir=tmp_path)) is None  # off by default
