"""An H.264 test clip written by ffmpeg: a white box crossing a grey-green picture."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def write_h264_clip(
    path: Path, *, seconds: float = 60.0, fps: int = 10, size: tuple[int, int] = (640, 360)
) -> Path:
    """``seconds`` of H.264 (constrained baseline, a keyframe every second) in an MP4 at ``path``.

    Small (about 1 KB a second) and quick to write (well under a second for a minute).
    """
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg missing: run scripts/install_streaming.sh"
    width, height = size
    picture = (
        f"color=c=0x505a50:size={width}x{height}:rate={fps},"
        f"drawbox=x='mod(t*{width // 5}\\,{width - 80})':y={height // 2 - 30}:w=80:h=60:color=white:t=fill"
    )
    subprocess.run(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", picture,
         "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline",
         "-pix_fmt", "yuv420p", "-g", str(fps), "-keyint_min", str(fps), "-sc_threshold", "0",
         "-movflags", "+faststart", str(path)],
        check=True, timeout=60,
    )
    return path
