"""Building the :class:`~models.warning.places.Places` a warning model runs against.

Zones come from the district's ``zones`` layer (``zone_type``, ``name``, optional
``speed_limit_kmh``) and from each camera's config (its zones, its lanes and the limit of the
road in view, which its lanes inherit).
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import shapely

from zhizhi.gis.metric import MetricFrame
from zhizhi.models.warning.places import Lane, Places, Zone
from zhizhi.video.camera_config import CameraConfig


def zones_from_layer(layer: gpd.GeoDataFrame | None) -> list[Zone]:
    """Zones of a ``zones`` layer (WGS-84): kind from ``zone_type`` (or ``kind``)."""
    if layer is None or len(layer) == 0:
        return []
    kind_col = "zone_type" if "zone_type" in layer.columns else "kind"
    limits = layer["speed_limit_kmh"] if "speed_limit_kmh" in layer.columns else [None] * len(layer)
    out = []
    for name, kind, geom, limit in zip(layer["name"], layer[kind_col], layer.geometry, limits):
        if geom is None or geom.is_empty:
            continue
        limit = None if limit is None or not np.isfinite(float(limit)) else float(limit)
        out.append(Zone(str(name), str(kind), geom, limit))
    return out


def zones_from_camera(camera: CameraConfig) -> list[Zone]:
    return [Zone(z.name, z.kind, shapely.Polygon(z.polygon), z.speed_limit_kmh) for z in camera.zones]


def lanes_from_camera(camera: CameraConfig) -> list[Lane]:
    return [
        Lane(f"{camera.id}:{lane.id}", shapely.LineString(lane.line), lane.width_m,
             lane.speed_limit_kmh or camera.speed_limit_kmh)
        for lane in camera.lanes
    ]


def places_for(
    cameras: Sequence[CameraConfig] = (),
    zones_layer: gpd.GeoDataFrame | None = None,
    *,
    frame: MetricFrame | None = None,
) -> Places:
    """Places of a deployment (district zones) and of the cameras that feed the model."""
    zones = zones_from_layer(zones_layer)
    lanes = []
    for camera in cameras:
        zones.extend(zones_from_camera(camera))
        lanes.extend(lanes_from_camera(camera))
    if frame is None and cameras and cameras[0].lon is not None and cameras[0].lat is not None:
        frame = MetricFrame.around(cameras[0].lon, cameras[0].lat)
    return Places(zones, lanes, frame=frame)
