"""Recordings: each camera written to disk in MP4 segments, kept by days and by disk share.

- :mod:`.segments`: the segment files of a recording folder (named by camera and start time,
  listed from the file system; a segment being written is never listed).
- :mod:`.retention`: oldest first, past ``retention_days`` or over the disk budget.
- :mod:`.writers`: one segment file: frames encoded to H.264, or H.264 packets copied.
- :mod:`.recorder`: a camera's recording loop (frames, or its H.264 stream copied) and the
  :class:`~.recorder.Recorder` that follows a worker's cameras.
- :mod:`.export`: a time range of segments as one MP4 (packets copied, no re-encode).
"""

from zhizhi.video.recording.retention import DiskBudget, enforce
from zhizhi.video.recording.segments import Segment, SegmentStore

__all__ = ["DiskBudget", "Segment", "SegmentStore", "enforce"]
