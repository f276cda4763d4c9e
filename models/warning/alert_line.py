"""The JSON-lines form of a finished warning (``zhizhi analyze`` prints one per alert).

Contract: ``{"type": "alert", "rule", "severity", "track_id", "lon", "lat", "grid", "first_ts",
"last_ts", ...}`` with the place as codes (``grid``, ``village``, ``town``, ``district``; null
outside the district) and the origin in ``source``.
"""

from __future__ import annotations

from typing import Any

from zhizhi.gis.jurisdiction import Jurisdictions, OutsideDistrictError
from zhizhi.models.warning.record import WarningEvent


def alert_line(warning: WarningEvent, jurisdictions: Jurisdictions | None) -> dict[str, Any]:
    """The alert line of a warning, located in the district's grids."""
    place: dict[str, str | None] = {"grid": None, "village": None, "town": None, "district": None}
    if jurisdictions is not None:
        try:
            place = jurisdictions.locate(warning.lon, warning.lat).model_dump()
        except OutsideDistrictError:
            pass
    return {
        "type": "alert",
        "id": warning.key,
        "rule": warning.rule,
        "rule_id": warning.rule_id,
        "model": warning.model,
        "severity": str(warning.severity),
        "source": warning.source,
        "camera_id": warning.camera_id,
        "cameras": warning.cameras,
        "track_id": warning.track_id,
        "cls": warning.cls,
        "lon": warning.lon,
        "lat": warning.lat,
        **place,
        "first_ts": warning.first_ts,
        "last_ts": warning.last_ts,
        "details": warning.details,
    }
