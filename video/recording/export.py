"""A time range of a camera's segments as one MP4: packets copied (no re-encode), from the
keyframe at or before ``start`` to the last packet before ``end``.

Segments whose video differs from the first one's (another size or codec: the camera changed)
are left out; the export is of the first run of matching segments.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av

from zhizhi.video.recording.segments import Segment
from zhizhi.video.recording.writers import MP4_OPTIONS


class NothingRecorded(LookupError):
    """No recorded video in the asked range."""


def export(segments: Sequence[Segment], start: float, end: float, out: Path) -> float:
    """Write ``[start, end]`` of ``segments`` (oldest first) to ``out``; the exported video's first
    time (epoch seconds: the keyframe at or before ``start``). :class:`NothingRecorded` when no
    packet falls in the range."""
    output = None
    ostream = None
    shape = None
    t0: float | None = None
    gop: list[tuple[float, av.Packet]] = []
    written = 0
    tb_out = Fraction(1, 90_000)
    last_dts = -1
    try:
        for segment in segments:
            with av.open(str(segment.path)) as container:
                stream = container.streams.video[0]
                key = (stream.codec_context.name, stream.codec_context.width, stream.codec_context.height)
                if shape is not None and key != shape:
                    continue
                first: int | None = None
                for packet in container.demux(stream):
                    if packet.dts is None or packet.size == 0:
                        continue
                    if first is None:
                        first = packet.dts
                    at = segment.start + float((packet.dts - first) * stream.time_base)
                    if at > end:
                        break
                    if output is None:
                        if packet.is_keyframe:
                            gop = []
                        gop.append((at, _shift(packet, first, stream.time_base, segment.start)))
                        if at < start:
                            continue
                        if not gop or not gop[0][1].is_keyframe:
                            gop = []
                            continue
                        output = av.open(str(out), "w", format="mp4", options=MP4_OPTIONS)
                        ostream = output.add_stream_from_template(stream)
                        shape = key
                        t0 = gop[0][0]
                        pending, gop = gop, []
                    else:
                        pending = [(at, _shift(packet, first, stream.time_base, segment.start))]
                    for when, copy in pending:
                        last_dts = _mux(output, ostream, copy, when - t0, tb_out, last_dts)
                        written += 1
        if output is None or written == 0:
            raise NothingRecorded(f"nothing recorded between {start} and {end}")
        return t0
    finally:
        if output is not None:
            output.close()
        if written == 0:
            out.unlink(missing_ok=True)


def _shift(packet: av.Packet, first: int, time_base: Fraction, _start: float) -> av.Packet:
    """The packet with its timestamps relative to its segment's first packet (in its time base)."""
    packet.pts = (packet.pts if packet.pts is not None else packet.dts) - first
    packet.dts -= first
    packet.time_base = time_base
    return packet


def _mux(output, ostream, packet: av.Packet, offset_s: float, tb_out: Fraction, last_dts: int) -> int:
    """Mux ``packet`` ``offset_s`` after the export's start (its own pts-dts delay kept)."""
    delay = float((packet.pts - packet.dts) * packet.time_base)
    dts = max(round(offset_s / tb_out), last_dts + 1)
    duration = packet.duration
    packet.dts = dts
    packet.pts = dts + round(delay / tb_out)
    if duration:
        packet.duration = round(float(duration * packet.time_base) / tb_out)
    packet.time_base = tb_out
    packet.stream = ostream
    output.mux(packet)
    return dts
