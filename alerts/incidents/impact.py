"""What an incident's area touches, computed from the district's stored layers and the fleet.

:class:`IncidentImpact` is the ``compute`` of :class:`alerts.incidents.service.IncidentService`:
from an :class:`~alerts.incidents.record.IncidentSpec` it builds the hazard area
(:class:`gis.impact.HazardArea`: circle, drawn polygon or leak plume), overlays it on the stored
towns, villages, grids, cameras, facilities and shelters, and on the drones and vehicles where
they are now (:func:`gis.impact.analyze`), and names the jurisdiction codes it touches (towns,
villages and grids: whoever they belong to sees the incident). Layers are read once and kept;
the metric frame is the district's. An incident's area is cut to the jurisdiction of the unit
that opens it: a town's incident never reaches into a neighbour.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import shapely

from zhizhi.alerts.incidents.errors import InvalidIncident
from zhizhi.alerts.incidents.record import IncidentSpec
from zhizhi.gis.impact import HazardArea, analyze, clip_area
from zhizhi.gis.jurisdiction import Jurisdictions
from zhizhi.gis.metric import MetricFrame
from zhizhi.layers import LayerRegistry, Scope

#: ``moving()``: drones and vehicles where they are now
#: (:meth:`telemetry.fleet.Fleet.moving_objects`).
Moving = Callable[[], dict[str, list[dict[str, Any]]]]

LAYERS = ("towns", "villages", "grids", "cameras", "facilities", "shelters")


class IncidentImpact:
    """Hazard areas and their impact over one district.

    ``registry`` holds the district's layers (read once, on first use), ``moving`` says where
    drones and vehicles are now; cameras, drones and facilities within ``near_m`` of the area
    count, and the ``shelters`` nearest shelters are listed.
    """

    def __init__(
        self, jurisdictions: Jurisdictions, registry: LayerRegistry, moving: Moving, *,
        near_m: float, shelters: int,
    ) -> None:
        self.jurisdictions = jurisdictions
        self.registry = registry
        self.moving = moving
        self.near_m = near_m
        self.shelters = shelters
        self._layers: dict[str, gpd.GeoDataFrame] | None = None
        self._lock = threading.Lock()
        district = jurisdictions.get(jurisdictions.district_code).geometry
        self.frame = MetricFrame.for_geometry(district)

    def rebase(self, frame: MetricFrame) -> None:
        """Follow a re-imported hierarchy: a new metric frame, layers read again on next use."""
        with self._lock:
            self.frame = frame
            self._layers = None

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """The district's layers the analysis reads (loaded on first use)."""
        with self._lock:
            if self._layers is None:
                everything = Scope.everything()
                stored = {info.name for info in self.registry.list_layers(everything)}
                self._layers = {
                    name: self.registry.read_features(name, everything) for name in LAYERS if name in stored
                }
            return self._layers

    @staticmethod
    def area(spec: IncidentSpec) -> HazardArea:
        """The hazard area of a spec (422-worthy :class:`InvalidIncident` when unusable)."""
        area = spec.area
        try:
            if area.kind == "circle":
                return HazardArea.circle(*area.point, area.radius_m)
            if area.kind == "plume":
                return HazardArea.plume(*area.point, area.wind_from_deg, area.wind_speed_ms)
            return HazardArea.polygon(area.polygon)
        except ValueError as exc:
            raise InvalidIncident(str(exc)) from None

    def compute(self, spec: IncidentSpec, owner: str) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        """``(area GeoJSON, impact dict, touched codes)`` for the incident service; the area is
        cut to the owner unit's jurisdiction (a town's incident stays in the town)."""
        area = self.area(spec)
        shape = self.owned_part(area.shape, owner)
        if shape.is_empty:
            raise InvalidIncident(f"the area does not overlap the jurisdiction of {owner}")
        report = analyze(
            shape,
            self.layers(),
            near_m=self.near_m,
            shelters_k=self.shelters,
            moving=self.moving(),
            frame=self.frame,
        )
        impact = report.model_dump(mode="json")
        impact["area_kind"] = area.kind
        impact["area_params"] = area.params
        codes = [u.code for u in (*report.towns, *report.villages, *report.grids)]
        return report.area, impact, codes

    def owned_part(self, shape: shapely.Geometry, owner: str) -> shapely.Geometry:
        """The part of a hazard area inside ``owner``'s jurisdiction (all of it for the district)."""
        if owner == self.jurisdictions.district_code or owner not in self.jurisdictions:
            return shape
        return clip_area(shape, self.jurisdictions.get(owner).geometry)

    def touches(self, spec: IncidentSpec, scope: Scope) -> bool:
        """Whether the spec's area overlaps a jurisdiction (everything overlaps the district)."""
        if scope.is_everything or scope.geometry is None:
            return scope.is_everything
        return not clip_area(self.area(spec).shape, scope.geometry).is_empty
