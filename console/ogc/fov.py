"""The cameras' fields of view as a collection of their own (``camera_fov``): one sector polygon
per camera the caller sees (the rule and the properties of ``/api/cameras/fov``), identified by
the camera's id. It is not a stored layer: it follows the camera registry."""

from __future__ import annotations

import shapely

from zhizhi.console.ogc.source import ScopedFeatures
from zhizhi.layers import LayerInfo

FOV = "camera_fov"
TITLE = "摄像头视域 Camera fields of view"


def fov_info(found: ScopedFeatures, owner_code: str) -> LayerInfo:
    """The collection's description: the count and extent of the sectors the caller sees."""
    bounds = tuple(float(v) for v in shapely.total_bounds(found.geometries)) if len(found) else None
    return LayerInfo(name=FOV, title=TITLE, kind="camera_fov", geometry_type="Polygon", style={},
                     owner_code=owner_code, visibility="shared", feature_count=len(found),
                     meta={"fields": ["id", "name", "status", "grid", "heading_deg", "hfov_deg", "range_m"]},
                     bounds=bounds)
