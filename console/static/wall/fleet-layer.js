/* zhizhi 智治 — hazardous-chemical vehicles and drones on the wall's map.
 *
 * - vehicles ("vehicles" messages): an orange 危 square per vehicle, turned to its heading,
 *   with plate, company and cargo (UN number, class) in the tooltip; greyed once it has not
 *   reported for 2 minutes;
 * - route corridors (GET /api/hazmat/corridors): each registered vehicle's approved route and
 *   its corridor, the ones of the caller's jurisdiction only;
 * - drones ("drone" messages): a ✈ marker and the live footprint of its camera on the ground.
 *
 * createFleetLayer(map, link) returns {vehicles, corridors, drones, counts()} layer groups for
 * the map screen's layer control. For tests: window.zhizhiWall.fleet.
 */

import { esc } from "../lib/dom.js";
import { fmtAge } from "../lib/format.js";
import { api } from "../lib/session.js";

const VEHICLE_STALE_S = 120;

function vehicleIcon(v, stale) {
  const turn = Number.isFinite(v.heading) ? v.heading : 0;
  return L.divIcon({
    className: `zw-vehicle${stale ? " zw-stale" : ""}`,
    html: `<span class="zw-vehicle-arrow" style="transform:rotate(${turn}deg)"></span><span class="zw-vehicle-body">危</span>`,
    iconSize: [26, 26],
  });
}

function vehicleTip(v) {
  const speed = Number.isFinite(v.speed_kmh) ? `${Math.round(v.speed_kmh)} km/h` : "速度未知";
  const cargo = v.un_number ? `UN${esc(v.un_number)} · 第${esc(v.hazard_class || "?")}类` : "未登记 Unregistered";
  return (
    `<div class="zz-tip-kind">危化品车辆 Hazmat vehicle</div>` +
    `<div class="zz-tip-name">${esc(v.plate || v.vehicle_id)}</div>` +
    (v.company ? `<div class="zz-tip-extra">${esc(v.company)}</div>` : "") +
    `<div class="zz-tip-extra">${cargo}</div>` +
    `<div class="zz-tip-extra">${esc(speed)} · ${esc(fmtAge(v.ts))}</div>`
  );
}

function droneTip(d) {
  const battery = Number.isFinite(d.battery_pct) ? ` · 电量 ${Math.round(d.battery_pct)}%` : "";
  return (
    `<div class="zz-tip-kind">无人机 Drone</div>` +
    `<div class="zz-tip-name">${esc(d.drone_id)}</div>` +
    `<div class="zz-tip-extra">高度 ${Math.round(d.height_m)} m · 云台 ${Math.round(d.gimbal_pitch_deg)}°${battery}</div>` +
    `<div class="zz-tip-extra">${esc(fmtAge(d.ts))}</div>`
  );
}

export function createFleetLayer(map, link) {
  const vehicles = L.layerGroup().addTo(map);
  const corridors = L.layerGroup().addTo(map);
  const drones = L.layerGroup().addTo(map);
  const vehicleMarkers = new Map(); // id -> {marker, v, stale}
  const droneLayers = new Map(); // id -> {marker, footprint, d}

  function upsertVehicle(v) {
    if (!Number.isFinite(v.lat) || !Number.isFinite(v.lon)) return;
    const id = String(v.vehicle_id);
    let entry = vehicleMarkers.get(id);
    if (!entry) {
      const marker = L.marker([v.lat, v.lon], { pane: "zw-tracks", keyboard: false, icon: vehicleIcon(v, false) });
      entry = { marker, v, stale: false };
      marker.bindTooltip(() => vehicleTip(entry.v), { direction: "top", className: "zz-tip", opacity: 1 });
      marker.addTo(vehicles);
      vehicleMarkers.set(id, entry);
    } else {
      entry.marker.setLatLng([v.lat, v.lon]);
    }
    entry.v = Object.assign({}, entry.v, v);
    entry.stale = false;
    entry.marker.setIcon(vehicleIcon(entry.v, false));
    const el = entry.marker.getElement && entry.marker.getElement();
    if (el) el.dataset.vehicleId = id;
  }

  function upsertDrone(d) {
    if (!Number.isFinite(d.lat) || !Number.isFinite(d.lon)) return;
    const id = String(d.drone_id);
    let entry = droneLayers.get(id);
    if (!entry) {
      const marker = L.marker([d.lat, d.lon], {
        pane: "zw-tracks",
        keyboard: false,
        icon: L.divIcon({ className: "zw-drone", html: "<span>✈</span>", iconSize: [26, 26] }),
      });
      entry = { marker, footprint: null, d };
      marker.bindTooltip(() => droneTip(entry.d), { direction: "top", className: "zz-tip", opacity: 1 });
      marker.addTo(drones);
      droneLayers.set(id, entry);
    } else {
      entry.marker.setLatLng([d.lat, d.lon]);
    }
    entry.d = d;
    if (entry.footprint) drones.removeLayer(entry.footprint);
    entry.footprint = d.footprint
      ? L.geoJSON(d.footprint, {
          pane: "zw-select",
          interactive: false,
          style: () => ({ color: "#e040fb", weight: 2, fillColor: "#e040fb", fillOpacity: 0.15, className: "zw-drone-footprint" }),
        }).addTo(drones)
      : null;
    const el = entry.marker.getElement && entry.marker.getElement();
    if (el) el.dataset.droneId = id;
  }

  function fromSnapshot() {
    vehicles.clearLayers();
    drones.clearLayers();
    vehicleMarkers.clear();
    droneLayers.clear();
    for (const v of link.vehicles.values()) upsertVehicle(v);
    for (const d of link.drones.values()) upsertDrone(d);
  }

  function ageVehicles() {
    const now = Date.now() / 1000;
    for (const entry of vehicleMarkers.values()) {
      const stale = now - entry.v.ts > VEHICLE_STALE_S;
      if (stale !== entry.stale) {
        entry.stale = stale;
        entry.marker.setIcon(vehicleIcon(entry.v, stale));
      }
    }
  }

  const corridorIds = new Set();
  let reloadTimer = null;

  /** A registered vehicle whose route is not drawn yet: fetch the corridors again (debounced). */
  function checkCorridors(list) {
    if (reloadTimer || !list.some((v) => v.plate && !corridorIds.has(String(v.vehicle_id)))) return;
    reloadTimer = setTimeout(() => {
      reloadTimer = null;
      loadCorridors().catch((err) => console.warn("corridors:", err));
    }, 1000);
  }

  /** Draw the approved routes' corridors: ``asked``, the answer of GET /api/hazmat/corridors asked
   *  beforehand (map-screen.js asks it beside the map's layers), else asked now. */
  async function loadCorridors(asked = null) {
    const fc = await (asked || api("/api/hazmat/corridors"));
    corridors.clearLayers();
    corridorIds.clear();
    for (const f of fc.features) corridorIds.add(String(f.properties.vehicle_id));
    L.geoJSON(fc, {
      pane: "overlayPane",
      interactive: true,
      style: (f) =>
        f.properties.part === "route"
          ? { color: "#ff9100", weight: 2, opacity: 0.9, dashArray: "8 6" }
          : { color: "#ff9100", weight: 1, opacity: 0.5, fillColor: "#ff9100", fillOpacity: 0.08 },
      onEachFeature: (f, layer) => {
        const p = f.properties;
        layer.bindTooltip(
          `<div class="zz-tip-kind">核定路线 Approved route</div><div class="zz-tip-name">${esc(p.plate)}</div>` +
            `<div class="zz-tip-extra">走廊 ±${esc(p.corridor_m)} m · ${esc(p.permitted_hours)}</div>`,
          { sticky: true, className: "zz-tip", opacity: 1 },
        );
      },
    }).addTo(corridors);
    return fc.features.length;
  }

  link.addEventListener("snapshot", fromSnapshot);
  link.addEventListener("vehicles", (e) => {
    const list = e.detail.vehicles || [];
    list.forEach(upsertVehicle);
    checkCorridors(list);
  });
  link.addEventListener("drone", (e) => upsertDrone(e.detail));
  setInterval(ageVehicles, 5000);

  return {
    vehicles,
    corridors,
    corridorIds,
    drones,
    vehicleMarkers,
    droneLayers,
    loadCorridors,
    counts: () => ({ vehicles: vehicleMarkers.size, drones: droneLayers.size }),
  };
}
