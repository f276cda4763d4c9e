"""Where the console's vehicles and drones are now: the latest position of each, located in
the district's grids, indexed for "nearest", and what changed since the wall was last told.

Fed from the bus (:data:`~zhizhi.bus.Topic.TELEMETRY` batches of accepted fixes,
:data:`~zhizhi.bus.Topic.DRONES` poses); read by the REST API, the live feed and incidents.
Every read takes a jurisdiction code: an object is visible where its grid is (one outside
every grid only to the district).

>>> from zhizhi.gis.metric import MetricFrame
>>> fleet = Fleet(MetricFrame.around(120.86, 32.0), locate=lambda lon, lat: ["320612001001001"] * len(lon))
>>> fleet.on_fixes(FixBatch((Fix("苏F-1", 1e9, 120.86, 32.0),)))
>>> [v["vehicle_id"] for v in fleet.vehicles("320612001")], fleet.vehicles("320612002")
(['苏F-1'], [])
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import shapely

from zhizhi.bus.messages.drones import DroneState
from zhizhi.bus.messages.telemetry import Fix, FixBatch
from zhizhi.gis.codes import is_within
from zhizhi.gis.drones import DroneView, footprint
from zhizhi.gis.metric import MetricFrame
from zhizhi.gis.moving import MovingObjectIndex, Nearby

#: ``locate(lons, lats) -> grid codes`` (None outside every grid).
LocateMany = Callable[[Sequence[float], Sequence[float]], Sequence[str | None]]


class Fleet:
    """Latest vehicle fixes and drone poses, thread-safe."""

    def __init__(
        self,
        frame: MetricFrame,
        locate: LocateMany,
        *,
        district_code: str = "",
        drone_hfov_deg: float = 72.0,
        drone_vfov_deg: float = 44.5,
        drone_max_range_m: float = 1500.0,
    ) -> None:
        self.locate = locate
        self.district_code = district_code
        self.drone_hfov_deg = drone_hfov_deg
        self.drone_vfov_deg = drone_vfov_deg
        self.drone_max_range_m = drone_max_range_m
        self._lock = threading.Lock()
        self._vehicles: dict[str, dict[str, Any]] = {}
        self._drones: dict[str, dict[str, Any]] = {}
        self._dirty_vehicles: set[str] = set()
        self._dirty_drones: set[str] = set()
        self._drone_index = MovingObjectIndex(frame)

    def rebase(self, frame: MetricFrame, district_code: str) -> None:
        """Follow a re-imported district: its code and metric frame (the drones are re-indexed)."""
        index = MovingObjectIndex(frame)
        with self._lock:
            self.district_code = district_code
            for drone_id, record in self._drones.items():
                record["grid"] = self.locate([record["lon"]], [record["lat"]])[0]
                index.upsert(drone_id, record["lon"], record["lat"], battery_pct=record.get("battery_pct"))
            self._drone_index = index
            self._dirty_drones.update(self._drones)

    # --- bus handlers --------------------------------------------------------------------------
    def on_fixes(self, batch: FixBatch) -> None:
        """A batch of the gate's accepted fixes (the ``telemetry`` topic's message): keep each
        vehicle's newest fix, located in its grid."""
        newest: dict[str, Fix] = {}
        for fix in batch.fixes:
            known = newest.get(fix.vehicle_id)
            if known is None or fix.ts >= known.ts:
                newest[fix.vehicle_id] = fix
        if not newest:
            return
        items = list(newest.values())
        grids = self.locate([f.lon for f in items], [f.lat for f in items])
        with self._lock:
            for fix, grid in zip(items, grids):
                vid = fix.vehicle_id
                known = self._vehicles.get(vid)
                if known is not None and known["ts"] > fix.ts:
                    continue
                self._vehicles[vid] = {
                    "vehicle_id": vid, "ts": float(fix.ts), "lon": float(fix.lon), "lat": float(fix.lat),
                    "speed_kmh": fix.speed_kmh, "heading": fix.heading, "grid": grid,
                }
                self._dirty_vehicles.add(vid)

    def on_drone(self, state: DroneState) -> None:
        """A drone pose (the ``drones`` topic's message): keep it with its camera footprint."""
        polygon = self.footprint(state)
        grid = self.locate([state.lon], [state.lat])[0]
        record = {**state.model_dump(), "grid": grid, "footprint": shapely.geometry.mapping(polygon)}
        with self._lock:
            known = self._drones.get(state.drone_id)
            if known is not None and known["ts"] > state.ts:
                return
            self._drones[state.drone_id] = record
            self._dirty_drones.add(state.drone_id)
        self._drone_index.upsert(state.drone_id, state.lon, state.lat, battery_pct=state.battery_pct)

    def footprint(self, state: DroneState) -> shapely.Polygon:
        """The ground the drone's camera sees (WGS-84)."""
        return footprint(self.view(state))

    def view(self, state: DroneState) -> DroneView:
        """The drone camera's pose and optics (a drone on the ground counts as 1 m up)."""
        pose = state.model_dump() | {"height_m": max(state.height_m, 1.0)}
        return DroneView.from_pose(pose, hfov_deg=self.drone_hfov_deg, vfov_deg=self.drone_vfov_deg,
                                   max_range_m=self.drone_max_range_m)

    # --- reads ----------------------------------------------------------------------------------
    def _visible(self, record: dict[str, Any], code: str) -> bool:
        grid = record.get("grid")
        return is_within(grid, code) if grid else is_within(self.district_code, code)

    def vehicles(self, code: str, ids: set[str] | None = None) -> list[dict[str, Any]]:
        """The latest fix of each vehicle visible to ``code`` (all, or those in ``ids``)."""
        with self._lock:
            records = [r for vid, r in self._vehicles.items() if ids is None or vid in ids]
        return [dict(r) for r in records if self._visible(r, code)]

    def vehicle(self, vehicle_id: str) -> dict[str, Any] | None:
        with self._lock:
            record = self._vehicles.get(vehicle_id)
        return dict(record) if record is not None else None

    def drones(self, code: str, ids: set[str] | None = None) -> list[dict[str, Any]]:
        """The latest pose and footprint of each drone visible to ``code``."""
        with self._lock:
            records = [r for did, r in self._drones.items() if ids is None or did in ids]
        return [dict(r) for r in records if self._visible(r, code)]

    def nearest_drones(self, lon: float, lat: float, code: str, k: int = 3,
                       min_battery_pct: float = 0.0) -> list[Nearby]:
        """Drones nearest a point that ``code`` may task, optionally with enough battery."""
        visible = {d["drone_id"] for d in self.drones(code)}
        found = self._drone_index.nearest(lon, lat, k=max(len(self._drones), 1)) if self._drones else []
        usable = [
            n for n in found
            if n.id in visible and (n.attrs.get("battery_pct") is None or n.attrs["battery_pct"] >= min_battery_pct)
        ]
        return usable[:k]

    def drain(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Vehicles and drones changed since the last call (for the live feed)."""
        with self._lock:
            vehicles = [dict(self._vehicles[v]) for v in self._dirty_vehicles]
            drones = [dict(self._drones[d]) for d in self._dirty_drones]
            self._dirty_vehicles.clear()
            self._dirty_drones.clear()
        return vehicles, drones

    def moving_objects(self) -> dict[str, list[dict[str, Any]]]:
        """Drones and vehicles as ``{"drones": [...], "vehicles": [...]}`` of ``{id, lon, lat, attrs}``
        (the form :func:`gis.impact.analyze` takes)."""
        with self._lock:
            drones = [{"id": d["drone_id"], "lon": d["lon"], "lat": d["lat"],
                       "attrs": {k: d[k] for k in ("height_m", "battery_pct", "ts")}}
                      for d in self._drones.values()]
            vehicles = [{"id": v["vehicle_id"], "lon": v["lon"], "lat": v["lat"],
                         "attrs": {k: v[k] for k in ("speed_kmh", "heading", "ts")}}
                        for v in self._vehicles.values()]
        return {"drones": drones, "vehicles": vehicles}


def locate_many(jurisdictions) -> LocateMany:
    """A :data:`LocateMany` over the district's grids."""

    def locate(lons: Sequence[float], lats: Sequence[float]) -> list[str | None]:
        return list(jurisdictions.locate_many(np.asarray(lons, float), np.asarray(lats, float)))

    return locate
