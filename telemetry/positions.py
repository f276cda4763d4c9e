"""Vehicle and drone positions for the wall, at a rate a map can show.

Telemetry can arrive thousands of times a second; a screen needs each object's newest position
about once a second. A :class:`PositionFeed` wakes every ``interval_s``, takes what changed in
the :class:`~telemetry.fleet.Fleet` since the last round and publishes it on a :class:`Hub`
(the console's live hub, which sends each message to the screens of its audience):

- ``{"type": "vehicles", "ts", "vehicles": [...]}`` — one message per town, holding only the
  vehicles located in that town (outside every grid: the district's message);
- ``{"type": "drone", ..., "footprint": GeoJSON}`` — one message per drone, for the grid below it.

A screen's snapshot starts with the vehicles and drones it may see (:meth:`snapshot_items`).
Positions are not kept for replay (``keep=False``): a screen that reconnects gets each object's
next report instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from zhizhi.gis.codes import LEVEL_DIGITS, Level
from zhizhi.telemetry.fleet import Fleet

log = logging.getLogger(__name__)

#: ``describe(vehicle_id)``: registry facts shown with a vehicle (plate, cargo), or None.
Describe = Callable[[str], dict[str, Any] | None]


class Hub(Protocol):
    """Where the feed publishes: a message for the screens of the ``audience`` codes."""

    def publish(self, message: dict[str, Any], *, audience: Sequence[str], keep: bool = True) -> object: ...


class PositionFeed:
    """Publishes the fleet's changes on the hub every ``interval_s`` seconds, in a thread."""

    def __init__(self, hub: Hub, fleet: Fleet, *, interval_s: float = 1.0,
                 describe: Describe | None = None) -> None:
        self.hub = hub
        self.fleet = fleet
        self.interval_s = interval_s
        self.describe = describe or (lambda _vid: None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0

    def start(self) -> PositionFeed:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="position-feed", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.publish_changes()
            except Exception:  # the feed must outlive any bad record
                log.exception("publishing positions failed; continuing")

    def publish_changes(self) -> None:
        """One round: what changed since the last one, scoped."""
        vehicles, drones = self.fleet.drain()
        self.rounds += 1
        now = time.time()
        for town, members in self._by_town(vehicles).items():
            self.hub.publish({"type": "vehicles", "ts": now, "vehicles": members}, audience=[town], keep=False)
        for drone in drones:
            self.hub.publish(drone_message(drone), audience=[drone.get("grid") or self.fleet.district_code],
                             keep=False)

    def _by_town(self, vehicles: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        groups: dict[str, list[dict[str, Any]]] = {}
        for record in vehicles:
            grid = record.get("grid")
            town = grid[: LEVEL_DIGITS[Level.TOWN]] if grid else self.fleet.district_code
            groups.setdefault(town, []).append(self.vehicle_item(record))
        return groups

    def vehicle_item(self, record: dict[str, Any]) -> dict[str, Any]:
        """A vehicle as the wall shows it: position (to 0.1 m), speed, heading and its registry
        facts; unknown values are left out (thousands of these go to every screen each second)."""
        item: dict[str, Any] = {"vehicle_id": record["vehicle_id"], "ts": round(record["ts"], 1),
                                "lon": round(record["lon"], 6), "lat": round(record["lat"], 6)}
        for key in ("speed_kmh", "heading"):
            if record.get(key) is not None:
                item[key] = round(record[key], 1)
        if record.get("grid"):
            item["grid"] = record["grid"]
        facts = self.describe(record["vehicle_id"])
        if facts:
            item.update(facts)
        return item

    def snapshot_items(self, code: str) -> list[dict[str, Any]]:
        """What a new screen of ``code`` starts from: its vehicles, then its drones."""
        vehicles = [self.vehicle_item(r) for r in self.fleet.vehicles(code)]
        items: list[dict[str, Any]] = []
        if vehicles:
            items.append({"type": "vehicles", "ts": time.time(), "vehicles": vehicles})
        items += [drone_message(d) for d in self.fleet.drones(code)]
        return items


def drone_message(record: dict[str, Any]) -> dict[str, Any]:
    """``{"type": "drone", drone_id, ts, lon, lat, height_m, ..., footprint}``."""
    return {"type": "drone", **record}
