"""One recorded clip through the video path and the warning model: what ``zhizhi analyze`` runs.

``zhizhi analyze`` prints each frame's observations as they come and the alerts at the end;
``zhizhi bench real-footage`` (bench/real_footage.py) counts them. Both call
:func:`analyze_clip`, so a benchmark figure is a figure of the command an operator runs.

Alerts are kept as the alert service keeps them: a track that meets a rule, stops, and meets it
again is one alert (first seen at its first episode, last seen at its last).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from zhizhi.console.settings import Settings
from zhizhi.video.offline import Summary


class AlertCollector:
    """A warning engine over one camera's frames; the finished alerts, merged per key."""

    def __init__(self, settings: Settings, model, camera) -> None:
        from zhizhi.models.warning.engine import WarningEngine
        from zhizhi.models.warning.scene import places_for

        self.jurisdictions, zones = deployment(settings)
        self.engine = WarningEngine(model, places_for([camera], zones))
        self._alerts: dict[str, object] = {}

    def frame(self, batch) -> None:
        self._keep(self.engine.process_frame(batch))

    def finish(self) -> list:
        """Flush the engine; every alert of the clip, in order of first sight."""
        self._keep(self.engine.flush())
        return sorted(self._alerts.values(), key=lambda w: (w.first_ts, w.key))

    def _keep(self, warnings) -> None:
        for warning in warnings:
            if warning.active:
                continue
            known = self._alerts.get(warning.key)
            if known is None:
                self._alerts[warning.key] = warning
                continue
            self._alerts[warning.key] = warning.model_copy(update={
                "first_ts": min(known.first_ts, warning.first_ts),
                "last_ts": max(known.last_ts, warning.last_ts),
                "severity": min(known.severity, warning.severity, key=lambda s: s.rank),
                "cameras": sorted({*known.cameras, *warning.cameras}),
                "details": {**known.details, **warning.details},
            })


def deployment(settings: Settings):
    """The district's jurisdictions and zones from the console's store (the demo district if empty)."""
    from zhizhi.console.state import load_jurisdictions, open_store, read_zones

    engine, registry = open_store(settings)
    try:
        return load_jurisdictions(registry)[0], read_zones(registry)
    finally:
        engine.dispose()


@dataclass
class ClipAnalysis:
    """What one clip gave: the run's summary, the alerts (merged, in order) and the jurisdictions
    their lines are written against (None without a warning model)."""

    summary: Summary
    alerts: list = field(default_factory=list)
    jurisdictions: object | None = None


def analyze_clip(
    video: Path,
    camera,
    detector,
    *,
    warning_model=None,
    settings: Settings | None = None,
    analysis_fps: float | None = None,
    on_batch: Callable[[object], None] | None = None,
    on_tracks: Callable[..., None] | None = None,
) -> ClipAnalysis:
    """Run a clip through the detector, tracker and geolocation (``video.offline.analyze_file``)
    and, with ``warning_model``, the warning engine of the console's deployment; ``on_batch`` sees
    every analysed frame's batch first, ``on_tracks`` every tracked box (``video.offline.analyze_file``).
    A clip that cannot be read raises ``SourceError``."""
    from zhizhi.video.offline import analyze_file

    collector = AlertCollector(settings or Settings(), warning_model, camera) if warning_model else None
    summary = Summary()
    for batch in analyze_file(video, camera, detector, analysis_fps=analysis_fps, summary=summary,
                              on_tracks=on_tracks):
        if on_batch is not None:
            on_batch(batch)
        if collector is not None:
            collector.frame(batch)
    if collector is None:
        return ClipAnalysis(summary)
    return ClipAnalysis(summary, collector.finish(), collector.jurisdictions)
