/* zhizhi 智治 — the wall's map screen: /wall?screen=map&wall=NAME.
 *
 * The command map (map/page.js) draws the district — towns, villages, grids, roads, zones,
 * cameras with their fields of view — with its search, layer control and click-to-locate; this
 * module adds what the wall needs on top of it:
 *
 * - the user's jurisdiction outlined (GET /api/wall/scope);
 * - cameras coloured by their live source state ("camera_status" messages);
 * - live tracks ("tracks"; track-layer.js): a small dot per object coloured by class, hazmat
 *   tankers as an orange 危 diamond; a track not heard of for 5 s fades, and goes after 60 s;
 * - open alerts as markers coloured by severity, pulsing while new; a click selects the alert
 *   on the whole wall;
 * - a wall selection ("wall" message): fly to the alert, outline its grid, draw sight lines
 *   from the cameras that see it;
 * - hazmat vehicles with their route corridors, drones with their camera footprints
 *   (fleet-layer.js), and active incidents with their areas (incident-layer.js).
 *
 * For tests: window.zhizhiWall = {link, markers, tracks, selection, ...} and window.zhizhi (the
 * map's view, as on the map page); body[data-wall-ready] becomes "true" once the layers are drawn
 * and the live link has started.
 */

import { $, esc } from "../lib/dom.js";
import { fail } from "../lib/errors.js";
import { fmtAge, fmtTime } from "../lib/format.js";
import { statusItemHtml } from "../lib/header.js";
import { api, token } from "../lib/session.js";
import { startMap } from "../map/page.js";
import { mountAlarm } from "./alarm.js";
import { createFleetLayer } from "./fleet-layer.js";
import { mountIncidentTools } from "./incident-draw.js";
import { createIncidentLayer } from "./incident-layer.js";
import { isOpen, loadLifecycle } from "./lifecycle.js";
import { WallLink } from "./live.js";
import { mountWallHeader, screenTitle, wallName } from "./screen.js";
import { mountMapCameraTiles } from "./tiles.js";
import { createTrackLayer } from "./track-layer.js";
import { Units } from "./units.js";
import { CAMERA_STATE, CLASS, SEVERITY, STATUS, ruleEn, ruleLabel } from "./vocabulary.js";

const SELECT_ZOOM = 15;

const wall = wallName();
const link = new WallLink(wall);
const zw = {
  screen: "map",
  wall,
  link,
  markers: new Map(), // alert id -> L.Marker
  tracks: new Map(), // "camera/track" -> {marker, seenAt, track, hazmat} (track-layer.js)
  selection: null, // {alertId, grid, sentAt, receivedAt, appliedAt, settledAt}
  selections: [],
  units: null,
};
window.zhizhiWall = zw;

let map;
let units = new Units();
let alertGroup;
let scopeLayer;
let selectGroup;
const cameraMarkers = new Map(); // id -> {layer, fillColor}
const cameraCones = new Map(); // id -> {layer, color, fillColor}

// The map's data status stays in the page (the map sets it) but off the screen: the wall's
// header shows the live link instead.
mountWallHeader({ screen: "map", title: "地图", titleEn: "Map", link, status: statusItemHtml({ hidden: true }) });
const view = startMap({ pageTitle: screenTitle("地图") });
window.zhizhi = view; // for the browser tests, as on the map page

// The wall's own data, asked at once beside the map's layers (used once the map is drawn); nothing
// is asked before a login (the map sends the page to /login then).
const early = token()
  ? {
      units: Units.load(),
      lifecycle: loadLifecycle(),
      scope: api("/api/wall/scope"),
      corridors: api("/api/hazmat/corridors"),
    }
  : {};
for (const asked of Object.values(early)) asked.catch(() => {}); // reported where awaited

// ----------------------------------------------------------------------------------- map

function createPanes() {
  const panes = { "zw-scope": 440, "zw-select": 465, "zw-tracks": 590, "zw-alerts": 610 };
  for (const [name, z] of Object.entries(panes)) {
    const pane = map.createPane(name);
    pane.style.zIndex = String(z);
    if (name === "zw-scope" || name === "zw-select") pane.style.pointerEvents = "none";
  }
}

/** Index the cameras drawn (those the map's finer detail adds too; known ones keep their colours). */
function indexCameras() {
  for (const [id, l] of view.camerasById) {
    if (!cameraMarkers.has(id)) cameraMarkers.set(id, { layer: l, fillColor: l.options.fillColor });
  }
  if (view.fov) {
    view.fov.eachLayer((l) => {
      const id = l.feature && l.feature.properties && l.feature.properties.id;
      if (id == null || cameraCones.has(String(id))) return;
      cameraCones.set(String(id), { layer: l, color: l.options.color, fillColor: l.options.fillColor });
    });
  }
}

function gridLayer(code) {
  const unit = view.units.get(code);
  return unit && unit.level === "grid" ? unit.layer : null;
}

async function drawScope() {
  const feature = await (early.scope || api("/api/wall/scope"));
  scopeLayer = L.geoJSON(feature, {
    pane: "zw-scope",
    interactive: false,
    style: () => ({ color: "#00e5ff", weight: 4, opacity: 0.95, fill: false, className: "zw-scope" }),
  }).addTo(map);
  return scopeLayer;
}

// ------------------------------------------------------------------------- camera status

function paintCamera(id) {
  const state = link.cameraState(id);
  const st = state === "unknown" ? null : CAMERA_STATE[state];
  const point = cameraMarkers.get(String(id));
  if (point) {
    point.layer.setStyle({ fillColor: st ? st.color : point.fillColor });
    const el = point.layer.getElement && point.layer.getElement();
    if (el) el.dataset.cameraState = state;
  }
  const cone = cameraCones.get(String(id));
  if (cone) {
    cone.layer.setStyle({
      color: st ? st.color : cone.color,
      fillColor: st ? st.color : cone.fillColor,
      dashArray: state === "offline" || state === "reconnecting" ? "4 4" : null,
    });
  }
}

function paintAllCameras() {
  for (const id of new Set([...cameraMarkers.keys(), ...cameraCones.keys()])) paintCamera(id);
}

// ----------------------------------------------------------------------------------- alerts

function alertIcon(a) {
  const sev = SEVERITY[a.severity] ? a.severity : "blue";
  const selected = zw.selection && zw.selection.alertId === a.id;
  const cls = ["zw-alert", `zw-sev-${sev}`];
  if (a.status === "new") cls.push("zw-pulse");
  if (selected) cls.push("zw-selected");
  const glyph = a.rule === "abnormal_stop" || a.cls === "hazmat_tanker" ? "危" : "!";
  return L.divIcon({
    className: cls.join(" "),
    html: `<span class="zw-alert-ring"></span><span class="zw-alert-dot">${glyph}</span>`,
    iconSize: [34, 34],
  });
}

function alertTip(a) {
  const sev = SEVERITY[a.severity] || SEVERITY.blue;
  const st = STATUS[a.status] || { label: a.status, en: "" };
  return (
    `<div class="zz-tip-kind">${esc(sev.label)}预警 · ${esc(st.label)} <small>${esc(st.en)}</small></div>` +
    `<div class="zz-tip-name">${esc(ruleLabel(a))} <small>${esc(ruleEn(a))}</small></div>` +
    `<div class="zz-tip-extra">${esc(units.place(a))}</div>` +
    `<div class="zz-tip-extra">${esc(fmtTime(a.first_ts))} · ${esc(fmtAge(a.last_ts))}</div>`
  );
}

function upsertAlert(a) {
  const existing = zw.markers.get(a.id);
  if (!isOpen(a.status) || !Number.isFinite(a.lat) || !Number.isFinite(a.lon)) {
    if (existing) {
      alertGroup.removeLayer(existing);
      zw.markers.delete(a.id);
    }
    return;
  }
  const rank = (SEVERITY[a.severity] || SEVERITY.blue).rank;
  if (existing) {
    existing.setLatLng([a.lat, a.lon]);
    existing.setIcon(alertIcon(a));
    existing.setZIndexOffset((4 - rank) * 100);
    existing.zwAlert = a;
    return;
  }
  const marker = L.marker([a.lat, a.lon], {
    pane: "zw-alerts",
    icon: alertIcon(a),
    keyboard: false,
    riseOnHover: true,
    zIndexOffset: (4 - rank) * 100,
    title: "",
  });
  marker.zwAlert = a;
  marker.bindTooltip(() => alertTip(marker.zwAlert), { direction: "top", offset: [0, -14], className: "zz-tip", opacity: 1 });
  marker.on("click", () => link.select(marker.zwAlert.id));
  marker.addTo(alertGroup);
  const el = marker.getElement();
  if (el) el.dataset.alertId = a.id;
  zw.markers.set(a.id, marker);
}

function renderAlerts() {
  const seen = new Set();
  for (const a of link.alerts.values()) {
    upsertAlert(a);
    seen.add(a.id);
  }
  for (const [id, marker] of zw.markers) {
    if (!seen.has(id)) {
      alertGroup.removeLayer(marker);
      zw.markers.delete(id);
    }
  }
  for (const [id, marker] of zw.markers) {
    const el = marker.getElement();
    if (el) el.dataset.alertId = id;
  }
  renderCounts();
}

function renderCounts() {
  const counts = { red: 0, orange: 0, yellow: 0, blue: 0 };
  let open = 0;
  for (const a of link.alerts.values()) {
    if (!isOpen(a.status)) continue;
    open += 1;
    if (a.severity in counts) counts[a.severity] += 1;
  }
  $("#zw-open-count").textContent = String(open);
  $("#zw-counts").innerHTML = Object.entries(counts)
    .map(
      ([sev, n]) =>
        `<div class="zw-count zw-sev-${sev}${n ? "" : " zw-zero"}" data-severity="${sev}">` +
        `<b>${n}</b><span>${esc(SEVERITY[sev].label)} <small>${esc(SEVERITY[sev].en)}</small></span></div>`,
    )
    .join("");
}

// -------------------------------------------------------------------------------- selection

let gridOutline = null;

/** The selected alert's grid outlined (again, when the map brought its finer geometry). */
function outlineSelectedGrid() {
  if (gridOutline) selectGroup.removeLayer(gridOutline);
  gridOutline = null;
  const code = zw.selection && zw.selection.grid;
  const grid = code && gridLayer(code);
  if (!grid || !grid.feature) return;
  gridOutline = L.geoJSON(grid.feature.geometry, {
    pane: "zw-select",
    interactive: false,
    style: () => ({
      color: "#ffd740",
      weight: 5,
      opacity: 1,
      fillColor: "#ffd740",
      fillOpacity: 0.18,
      className: "zw-wall-grid",
    }),
  }).addTo(selectGroup);
}

function applySelection(sel) {
  const a = sel.alert;
  const sentAt = link.lastSent && link.lastSent.alertId === a.id ? link.lastSent.at : null;
  const previous = zw.selection && zw.markers.get(zw.selection.alertId);
  zw.selection = { alertId: a.id, grid: a.grid || null, by: sel.by, sentAt, receivedAt: sel.receivedAt };
  if (previous && previous.zwAlert) previous.setIcon(alertIcon(previous.zwAlert));

  selectGroup.clearLayers();
  outlineSelectedGrid();
  for (const cam of sel.cameras || []) {
    const point = cameraMarkers.get(String(cam.id));
    if (!point) continue;
    L.polyline([point.layer.getLatLng(), [a.lat, a.lon]], {
      pane: "zw-select",
      interactive: false,
      color: "#69f0ae",
      weight: 2.5,
      opacity: 0.95,
      dashArray: "6 6",
      className: "zw-sightline",
    }).addTo(selectGroup);
  }
  upsertAlert(Object.assign({}, link.alerts.get(a.id) || {}, a));
  const marker = zw.markers.get(a.id);
  if (marker) marker.setIcon(alertIcon(marker.zwAlert));

  const settle = new Promise((resolve) => {
    const timer = setTimeout(done, 3000);
    function done() {
      clearTimeout(timer);
      map.off("moveend", done);
      resolve();
    }
    map.on("moveend", done);
  });
  map.flyTo([a.lat, a.lon], Math.max(map.getZoom(), SELECT_ZOOM), { duration: 0.6 });
  const record = zw.selection;
  record.appliedAt = Date.now();
  document.body.dataset.wallAlert = a.id;
  document.body.dataset.wallGrid = a.grid || "";
  renderSelected(sel);
  zw.selections.push(record);
  settle.then(() => {
    record.settledAt = Date.now();
    const c = map.getCenter();
    record.center = [c.lng, c.lat];
  });
}

function renderSelected(sel) {
  const a = Object.assign({}, link.alerts.get(sel.alert.id) || {}, sel.alert);
  const sev = SEVERITY[a.severity] || SEVERITY.blue;
  const st = STATUS[a.status] || { label: a.status, en: "" };
  const cams = (sel.cameras || [])
    .slice(0, 4)
    .map((c) => `<li data-camera="${esc(c.id)}"><span>${esc(c.name || c.id)}</span><b>${esc(Math.round(c.distance_m))} m</b></li>`)
    .join("");
  $("#zw-selected").hidden = false;
  $("#zw-selected").dataset.alertId = a.id;
  $("#zw-selected-body").innerHTML =
    `<div class="zw-sel-head zw-sev-${esc(a.severity)}"><span class="zw-sev-chip">${esc(sev.label)} <small>${esc(sev.en)}</small></span>` +
    `<span class="zw-status-chip zw-st-${esc(a.status)}">${esc(st.label)}</span></div>` +
    `<div class="zw-sel-rule">${esc(ruleLabel(a))} <small>${esc(ruleEn(a))}</small></div>` +
    `<div class="zw-sel-place">${esc(units.place(a))}</div>` +
    `<div class="zw-sel-meta">首次 ${esc(fmtTime(a.first_ts))} · 最近 ${esc(fmtTime(a.last_ts))}` +
    (sel.by ? ` · 选中 ${esc(sel.by)}` : "") +
    `</div>` +
    (cams ? `<ol class="zw-sel-cams">${cams}</ol>` : `<p class="zz-hint">没有摄像头覆盖该点 <span>No camera sees it</span></p>`);
}

// ------------------------------------------------------------------------- controls, legend

function liveControl() {
  const Control = L.Control.extend({
    options: { position: "topright" },
    onAdd() {
      const div = L.DomUtil.create("div", "leaflet-control-layers leaflet-control-layers-expanded zz-layers zw-live-layers");
      div.innerHTML =
        `<div class="zz-layers-head">实时图层 <small>Live</small></div>` +
        `<label><input type="checkbox" data-layer="alerts" checked> <span class="zz-lc-title">告警 <small>Alerts</small></span> <span class="zz-lc-count" id="zw-lc-alerts">0</span></label>` +
        `<label><input type="checkbox" data-layer="tracks" checked> <span class="zz-lc-title">实时轨迹 <small>Tracks</small></span> <span class="zz-lc-count" id="zw-lc-tracks">0</span></label>` +
        `<label><input type="checkbox" data-layer="vehicles" checked> <span class="zz-lc-title">危化品车 <small>Hazmat vehicles</small></span> <span class="zz-lc-count" id="zw-lc-vehicles">0</span></label>` +
        `<label><input type="checkbox" data-layer="corridors" checked> <span class="zz-lc-title">核定路线 <small>Routes</small></span></label>` +
        `<label><input type="checkbox" data-layer="drones" checked> <span class="zz-lc-title">无人机 <small>Drones</small></span> <span class="zz-lc-count" id="zw-lc-drones">0</span></label>` +
        `<label><input type="checkbox" data-layer="incidents" checked> <span class="zz-lc-title">突发事件 <small>Incidents</small></span></label>` +
        `<label><input type="checkbox" data-layer="scope" checked> <span class="zz-lc-title">管辖范围 <small>Jurisdiction</small></span></label>`;
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      div.addEventListener("change", (e) => {
        const input = e.target;
        const layer = {
          alerts: alertGroup,
          tracks: zw.trackLayer.group,
          scope: scopeLayer,
          vehicles: zw.fleet.vehicles,
          corridors: zw.fleet.corridors,
          drones: zw.fleet.drones,
          incidents: zw.incidents.layer,
        }[input.dataset.layer];
        if (!layer) return;
        if (input.checked) layer.addTo(map);
        else map.removeLayer(layer);
      });
      return div;
    },
  });
  return new Control().addTo(map);
}

function updateLiveCounts() {
  const a = $("#zw-lc-alerts");
  if (a) a.textContent = String(zw.markers.size);
  const t = $("#zw-lc-tracks");
  if (t) t.textContent = String(zw.tracks.size);
  if (zw.fleet) {
    const c = zw.fleet.counts();
    const v = $("#zw-lc-vehicles");
    if (v) v.textContent = String(c.vehicles);
    const d = $("#zw-lc-drones");
    if (d) d.textContent = String(c.drones);
  }
}

function buildLiveLegend() {
  const items = [];
  for (const [sev, s] of Object.entries(SEVERITY)) {
    items.push(`<li><i class="zw-legend-alert zw-sev-${sev}"></i>${esc(s.label)}预警 <small>${esc(s.en)}</small></li>`);
  }
  items.push(`<li><i class="zw-legend-hazmat">危</i>危化品车 (视频) Hazmat tanker on video</li>`);
  items.push(`<li><i class="zw-legend-vehicle">危</i>危化品车 (北斗) Hazmat vehicle, BeiDou</li>`);
  items.push(`<li><i class="zw-legend-route"></i>核定路线 Approved route</li>`);
  items.push(`<li><i class="zw-legend-drone">✈</i>无人机及视域 Drone, footprint</li>`);
  items.push(`<li><i class="zw-legend-incident"></i>事件影响范围 Incident area</li>`);
  for (const cls of ["truck", "bus", "car", "person"]) {
    items.push(
      `<li><i class="zz-swatch zz-swatch-point" style="--c:${CLASS[cls].color}"></i>${esc(CLASS[cls].label)} <small>${esc(CLASS[cls].en)}</small></li>`,
    );
  }
  for (const state of ["online", "reconnecting", "offline"]) {
    const s = CAMERA_STATE[state];
    items.push(`<li><i class="zz-swatch zz-swatch-fov" style="--c:${s.color}"></i>摄像头${esc(s.label)} <small>${esc(s.en)}</small></li>`);
  }
  items.push(`<li><i class="zw-legend-scope"></i>管辖范围 Jurisdiction</li>`);
  // Above the map's own legend, in the same card.
  $("#zz-legend").insertAdjacentHTML("beforebegin", `<ul class="zz-legend zw-live-legend" id="zw-legend">${items.join("")}</ul>`);
}

// ----------------------------------------------------------------------------------- start

async function start() {
  await view.ready;
  map = view.map;
  createPanes();
  buildLiveLegend();
  renderCounts();
  indexCameras();
  mountMapCameraTiles(view, wall); // a camera's popup: drag it onto a video tile, or "投到画面 N"
  alertGroup = L.layerGroup().addTo(map);
  selectGroup = L.layerGroup().addTo(map);
  zw.trackLayer = createTrackLayer(map, link, updateLiveCounts);
  zw.tracks = zw.trackLayer.tracks;
  zw.fadeTracks = zw.trackLayer.fade;
  zw.fleet = createFleetLayer(map, link);
  zw.incidents = createIncidentLayer(map, link);
  zw.incidentTools = mountIncidentTools(map, link, zw.incidents); // list, drawing, presets
  [units] = await Promise.all([
    early.units || Units.load(),
    loadLifecycle(),
    drawScope().catch((err) => fail("管辖范围加载失败 Jurisdiction outline failed", err)),
    zw.fleet.loadCorridors(early.corridors).catch((err) => fail("核定路线加载失败 Routes failed", err)),
  ]);
  zw.units = units;
  liveControl();

  link.addEventListener("snapshot", () => {
    paintAllCameras();
    renderAlerts();
  });
  link.addEventListener("alert", (e) => {
    upsertAlert(e.detail);
    renderCounts();
    updateLiveCounts();
    if (zw.selection && zw.selection.alertId === e.detail.id && link.selection) {
      renderSelected(Object.assign({}, link.selection, { alert: e.detail }));
    }
  });
  link.addEventListener("camera_status", (e) => paintCamera(e.detail.camera_id));
  link.addEventListener("vehicles", updateLiveCounts);
  link.addEventListener("drone", updateLiveCounts);
  link.addEventListener("select", (e) => applySelection(e.detail));
  link.addEventListener("error", (e) => console.warn("wall:", e.detail && e.detail.detail));
  mountAlarm(link, "map").catch((err) => fail("告警音启动失败", err)); // rings if settings.alarm.screens says so
  link.start();
  map.on("zz:detail", () => {
    outlineSelectedGrid(); // finer geometry came: the outline follows it
    indexCameras(); // and cameras of a view not seen before are painted by their state
    paintAllCameras();
  });
  performance.mark("zhizhi-wall-ready"); // every layer and the live link (bench/map_load.py)
  document.body.dataset.wallReady = "true";
}

start().catch((err) => {
  fail("大屏地图启动失败 The wall's map failed to start", err);
  document.body.dataset.wallReady = "error";
});
