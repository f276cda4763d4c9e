"""The recorder of a console or worker process, made from ``settings.recording`` (None when off)."""

from __future__ import annotations

from zhizhi.console.settings import Settings
from zhizhi.video.recording import DiskBudget
from zhizhi.video.recording.recorder import Recorder


def recorder_from_settings(settings: Settings) -> Recorder | None:
    """A :class:`~zhizhi.video.recording.recorder.Recorder` as the settings say, not started."""
    r = settings.recording
    if r.mode == "off":
        return None
    return Recorder(settings.resolved_recordings_dir, mode=r.mode, camera_ids=r.camera_ids, segment_s=r.segment_s,
                    fps=r.fps, preset=r.preset, retention_days=r.retention_days, budget=DiskBudget(r.max_disk_share),
                    event_pre_s=r.event_pre_s, event_post_s=r.event_post_s, event_hold_s=r.event_hold_s)
