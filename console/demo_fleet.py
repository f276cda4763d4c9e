"""The demo's fleet: hazardous-chemical vehicles reporting BeiDou positions, and a patrol drone.

``zhizhi demo`` registers a dozen simulated hazmat vehicles (plates, carriers, cargo, approved
routes; :func:`telemetry.simulator.simulate` along the demo roads) and replays their reports in
real time through the same gate as ``POST /api/telemetry``, so the trajectory rules, the
alerts and the wall see what a BeiDou platform would send. A few of them break a rule —
speeding, leaving the approved route, stopping outside a designated lot — and raise
``source: telemetry`` alerts with plate and cargo. When the last report has been played a new
run starts (new times, same vehicles).

A patrol drone (``UAV-01``) hovers at 120 m over the first town's centre, camera tilted 55°
down (:func:`drone_station`), and reports its pose once a second, as a DJI dock would over
MQTT: the wall draws it with its camera footprint. It hovers so that its pose always matches
its video: the demo's aerial clip (:mod:`console.demo_video`) is rendered from this very pose
and played in a loop, and its detections are geolocated through these reports.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict

from zhizhi.console.state import ConsoleState
from zhizhi.gis.drones import DroneView
from zhizhi.layers import Scope
from zhizhi.telemetry.record import DroneState
from zhizhi.telemetry.simulator import simulate

log = logging.getLogger(__name__)

DEMO_ANOMALIES = ("speeding", "route_deviation", "abnormal_stop")
DRONE_ID = "UAV-01"
#: The patrol drone's station: height above ground, camera azimuth and pitch (-90 down).
DRONE_HEIGHT_M, DRONE_YAW_DEG, DRONE_PITCH_DEG = 120.0, 35.0, -55.0


def drone_station(state: ConsoleState) -> DroneView:
    """Where the demo drone hovers and looks: over the first town's centre, 120 m up, camera
    55° down (the console's drone optics; 1920x1080, any 16:9 picture has the same view)."""
    town = state.jurisdictions.children(state.jurisdictions.district_code)[0]
    centre = town.geometry.representative_point()
    drones = state.settings.drones
    return DroneView(lon=centre.x, lat=centre.y, height_m=DRONE_HEIGHT_M, yaw_deg=DRONE_YAW_DEG,
                     pitch_deg=DRONE_PITCH_DEG, hfov_deg=drones.hfov_deg, vfov_deg=drones.vfov_deg,
                     max_range_m=drones.max_range_m)


class DemoFleet:
    """Replays simulated vehicle reports and flies the patrol drone, each in a daemon thread."""

    def __init__(self, state: ConsoleState, *, normal: int = 9, seed: int = 11) -> None:
        self.state = state
        self.normal = normal
        self.seed = seed
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        everything = Scope.everything()
        self.roads = state.registry.read_features("roads", everything)
        self.zones = state.registry.read_features("zones", everything)
        self.station = drone_station(state)
        self.runs = 0

    def start(self) -> DemoFleet:
        for target, name in ((self._vehicles, "demo-vehicles"), (self._drone, "demo-drone")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(5)

    # --- vehicles -------------------------------------------------------------------------------
    def _vehicles(self) -> None:
        while not self.stop_event.is_set():
            try:
                self._one_run()
            except Exception:  # a demo feed must not take the console down
                log.exception("demo fleet run failed; starting another in 10 s")
                self.stop_event.wait(10)

    def _one_run(self) -> None:
        start = time.time() - 600.0  # ten minutes in: the wall starts with vehicles on the road
        sim = simulate(self.roads, self.zones, seed=self.seed + self.runs, normal=self.normal,
                       anomalies=DEMO_ANOMALIES, unregistered=False, start_ts=start)
        self.runs += 1
        for vehicle in sim.vehicles:
            self.state.hazmat.upsert(vehicle)
        log.info("demo fleet: %d hazmat vehicles on the road (run %d, %d reports)",
                 len(sim.vehicles), self.runs, len(sim.fixes))
        pending = [asdict(f) for f in sim.fixes]  # as a gateway would send them
        i = 0
        while i < len(pending) and not self.stop_event.is_set():
            now = time.time()
            j = i
            while j < len(pending) and pending[j]["ts"] <= now:
                j += 1
            if j > i:  # what the vehicles have reported by now, as one gateway batch
                self.state.ingest_reports(pending[i:j])
                i = j
            self.stop_event.wait(1.0)

    # --- the drone ------------------------------------------------------------------------------
    def _drone(self) -> None:
        view = self.station
        while not self.stop_event.is_set():
            now = time.time()
            battery = 96.0 - ((now / 60.0) % 60.0)  # a slow drain, recharged every hour
            pose = DroneState(
                drone_id=DRONE_ID, ts=now, lon=view.lon, lat=view.lat, height_m=view.height_m,
                heading_deg=view.yaw_deg, gimbal_pitch_deg=view.pitch_deg, gimbal_yaw_deg=view.yaw_deg,
                battery_pct=max(battery, 20.0), speed_ms=0.0,
            )
            try:
                self.state.ingest_drone(pose)
            except Exception:
                log.exception("demo drone pose refused")
            self.stop_event.wait(1.0)


def start_demo_fleet(state: ConsoleState, **options) -> DemoFleet:
    """Register the demo hazmat vehicles and start their reports and the patrol drone."""
    return DemoFleet(state, **options).start()
