"""A font that draws Chinese, for names rendered into raster tiles.

Looked up among the usual Debian/Ubuntu files (``fonts-noto-cjk``, ``fonts-wqy-zenhei``,
``fonts-wqy-microhei``), then whatever fontconfig lists for ``:lang=zh``. A collection (``.ttc``)
is opened at its Simplified Chinese face. :func:`cjk_font` answers ``None`` when the machine has
none: callers draw no names then (and say so), they never fail for it.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from PIL import ImageFont

#: Known files, preferred first (regular, bold).
KNOWN = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
    ("/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/truetype/noto/NotoSansCJK-Bold.ttc"),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", None),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", None),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", None),
)
#: A glyph every Chinese font has and a Latin-only font lacks.
PROBE = "镇"


@dataclass(frozen=True)
class CjkFont:
    """A Chinese-capable font file, its face index, and a bold variant when there is one."""

    path: Path
    index: int = 0
    bold_path: Path | None = None
    bold_index: int = 0

    def load(self, size: int, *, bold: bool = False) -> ImageFont.FreeTypeFont:
        """The font at ``size`` pixels (the bold face when asked and present)."""
        if bold and self.bold_path is not None:
            return _load(str(self.bold_path), self.bold_index, size)
        return _load(str(self.path), self.index, size)


@functools.lru_cache(maxsize=64)
def _load(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index)


def _sc_face(path: Path) -> int | None:
    """The index of the file's Simplified Chinese face (the first face that draws Chinese
    otherwise); ``None`` when no face does."""
    first = None
    for index in range(16):
        try:
            font = ImageFont.truetype(str(path), 16, index=index)
        except OSError:
            break
        if font.getmask(PROBE).getbbox() is None:
            continue
        family = " ".join(font.getname() or ())
        if " SC" in family or "zenhei" in family.lower() or "microhei" in family.lower():
            return index
        first = index if first is None else first
    return first


def _fontconfig_files() -> list[Path]:
    if shutil.which("fc-list") is None:
        return []
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10,
                             check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted({Path(line.split(":")[0].strip()) for line in out.splitlines() if line.strip()})


@functools.lru_cache(maxsize=1)
def cjk_font() -> CjkFont | None:
    """The machine's Chinese font, or ``None`` when it has none."""
    candidates = [(Path(r), Path(b) if b else None) for r, b in KNOWN]
    candidates += [(p, None) for p in _fontconfig_files() if "bold" not in p.name.lower()]
    for regular, bold in candidates:
        if not regular.is_file():
            continue
        index = _sc_face(regular)
        if index is None:
            continue
        bold_index = _sc_face(bold) if bold is not None and bold.is_file() else None
        return CjkFont(regular, index, bold if bold_index is not None else None, bold_index or 0)
    return None
