/* zhizhi 智治 — what each screen does with the wall's presets (console/wall_presets.py).
 *
 * The console's rules send {"type": "wall.preset", preset, rule, screens, ...} (live.js event
 * "preset"); a screen follows only when "screens" names it:
 *
 * - preset "incident" (an incident was opened): the wall focuses it, as a click on it does
 *   (event "focus_incident"): the map fits its area (incident-layer.js), the video tiles take
 *   its drones and cameras (video-screen.js), the board shows only the alerts inside it (here);
 * - preset "normal" (the incident was closed): the screens that show that incident go back to
 *   the wall's normal preset — the map to the view it had ("restore"), the jurisdiction
 *   ("scope") or a box; the video tiles to their order and layout before (or the preset's); the
 *   board to every alert;
 * - preset "alert" (a new red alert): the map centres on its place, the video screen puts the
 *   nearest camera in the chosen tile. While the wall shows an incident the map stays on it.
 *
 * A wall whose settings turn a rule off or choose its screens (presets.walls.NAME.red_alert,
 * .incident) is named in the message's "wall_screens": its screens follow that entry instead
 * ([]: the rule is off on this wall).
 *
 * body[data-wall-preset] says which preset a screen shows (incident, normal, alert).
 */

import { $, esc } from "../lib/dom.js";
import { api } from "../lib/session.js";
import { INCIDENT } from "./vocabulary.js";

/** Whether ``screen`` of the wall named ``wall`` follows the message (its wall's own screens first). */
export function follows(msg, screen, wall) {
  const own = msg.wall_screens && Object.hasOwn(msg.wall_screens, wall) ? msg.wall_screens[wall] : msg.screens;
  return Array.isArray(own) && own.includes(screen);
}
const normalOf = (msg, wall) => (msg.walls && msg.walls[wall]) || msg.normal || {};

function mark(preset) {
  document.body.dataset.wallPreset = preset;
}

/** An incident preset is the wall's focus on that incident (the screens' own handlers apply it). */
function focusFromPreset(link, msg) {
  if (!msg.incident || !msg.incident.id) return;
  link.incidents.set(msg.incident.id, msg.incident);
  const focus = { incident: msg.incident, by: "rule", rule: msg.rule, seq: msg.seq, receivedAt: Date.now() };
  link.focus = focus;
  link.dispatchEvent(new CustomEvent("focus_incident", { detail: focus }));
}

function leaveIncident() {
  document.body.classList.remove("zw-incident-mode");
  delete document.body.dataset.wallIncident;
  mark("normal");
}

// ------------------------------------------------------------------------------------- map

/** The map screen: follows the presets with ``map`` and the incident layer (incident-layer.js). */
export function installMapPresets(link, map, incidents) {
  let scopeBounds = null;
  async function fitScope() {
    if (!scopeBounds) scopeBounds = L.geoJSON(await api("/api/wall/scope")).getBounds();
    map.fitBounds(scopeBounds, { animate: false });
  }
  let shown = null; // the incident this screen shows (the layer unfocuses it on its own when it closes)
  link.addEventListener("focus_incident", (e) => {
    shown = e.detail.incident.id;
    mark("incident");
  });
  link.addEventListener("preset", (e) => {
    const msg = e.detail;
    if (!follows(msg, "map", link.wall)) return;
    if (msg.preset === "incident") {
      focusFromPreset(link, msg);
    } else if (msg.preset === "normal") {
      if (shown !== msg.incident_id) return;
      shown = null;
      const view = normalOf(msg, link.wall).map || "restore";
      const before = incidents.viewBefore();
      incidents.unfocus();
      leaveIncident();
      if (Array.isArray(view) && view.length === 4) {
        map.fitBounds([[view[1], view[0]], [view[3], view[2]]], { animate: false });
      } else if (view === "scope" || !before) {
        fitScope().catch((err) => console.warn("scope:", err));
      } else {
        map.setView(before.center, before.zoom, { animate: false });
      }
    } else if (msg.preset === "alert" && msg.alert && !shown) {
      map.setView([msg.alert.lat, msg.alert.lon], msg.zoom || 16, { animate: false });
      document.body.dataset.wallPushedAlert = msg.alert.id;
      mark("alert");
    }
  });
}

// ----------------------------------------------------------------------------------- video

/**
 * The video screen: ``zw`` is its state (order, layout, incident), ``tiles`` its
 * {setLayout(n, remember), defaultOrder(), renderTiles(), cameras (id -> {id, name})}. Call it
 * before the screen's own "focus_incident" handler: the tiles before the incident are kept here.
 */
export function installVideoPresets(link, zw, tiles) {
  let before = null; // {order, layout} before the incident
  link.addEventListener("focus_incident", () => {
    if (!zw.incident && !before) before = { order: [...zw.order], layout: zw.layout };
    mark("incident");
  });
  link.addEventListener("preset", (e) => {
    const msg = e.detail;
    if (!follows(msg, "video", link.wall)) return;
    if (msg.preset === "incident") {
      focusFromPreset(link, msg);
    } else if (msg.preset === "normal") {
      if (!zw.incident || zw.incident.id !== msg.incident_id) return;
      const preset = normalOf(msg, link.wall);
      const fixed = (preset.video_cameras || []).map(String);
      const base = before ? before.order : tiles.defaultOrder();
      zw.incident = null;
      zw.order = [...fixed, ...base.filter((id) => !fixed.includes(id))];
      const layout = preset.video_layout || (before && before.layout) || zw.layout;
      before = null;
      $("#zw-video-note").textContent = "";
      leaveIncident();
      tiles.setLayout(layout, false);
    } else if (msg.preset === "alert" && Array.isArray(msg.cameras) && msg.cameras.length) {
      const cam = msg.cameras[0];
      const id = String(cam.id);
      if (tiles.cameras && !tiles.cameras.has(id)) tiles.cameras.set(id, { id, name: cam.name || id });
      const at = Math.max(0, (msg.tile || 1) - 1);
      const rest = zw.order.filter((x) => x !== id);
      rest.splice(Math.min(at, rest.length), 0, id);
      zw.order = rest;
      zw.pushed = { alertId: msg.alert && msg.alert.id, cameraId: id, tile: at + 1, receivedAt: Date.now() };
      $("#zw-video-note").textContent = `红色预警 · ${cam.name || id} 推送至第 ${at + 1} 画面`;
      if (at + 1 > zw.layout) tiles.setLayout([1, 4, 9, 16].find((n) => n > at) || 16, false);
      else tiles.renderTiles();
      if (!zw.incident) mark("alert");
    }
  });
}

// ----------------------------------------------------------------------------------- board

let boardIncident = null; // the incident the board is filtered to

function ringsOf(geometry) {
  if (!geometry) return [];
  if (geometry.type === "Polygon") return [geometry.coordinates];
  if (geometry.type === "MultiPolygon") return geometry.coordinates;
  if (geometry.type === "Feature") return ringsOf(geometry.geometry);
  return [];
}

function inRing(ring, x, y) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Whether (lon, lat) lies in a GeoJSON Polygon or MultiPolygon (holes count as outside). */
export function insideGeometry(geometry, lon, lat) {
  return ringsOf(geometry).some(
    (polygon) => polygon.length && inRing(polygon[0], lon, lat) && !polygon.slice(1).some((h) => inRing(h, lon, lat)),
  );
}

/** The board's alerts as the preset wants them: all, or those inside the focused incident. */
export function boardFilter(alerts) {
  if (!boardIncident) return alerts;
  const area = boardIncident.geometry;
  return alerts.filter((a) => Number.isFinite(a.lon) && insideGeometry(area, a.lon, a.lat));
}

/** The board: ``render()`` redraws its queue (which calls boardFilter). */
export function installBoardPresets(link, render) {
  const head = $(".zw-queue .zw-pane-head");
  const banner = document.createElement("div");
  banner.className = "zw-board-incident";
  banner.id = "zw-board-incident";
  banner.hidden = true;
  if (head) head.after(banner);

  function show() {
    if (!boardIncident) {
      banner.hidden = true;
      delete document.body.dataset.boardIncident;
      return;
    }
    const i = boardIncident;
    const kind = INCIDENT[i.incident_type || i.type] || INCIDENT.other;
    const n = boardFilter([...link.alerts.values()]).length;
    banner.hidden = false;
    banner.innerHTML =
      `<b>战时 · ${esc(kind.label)}</b> ${esc(i.title)} · 仅显示事件范围内告警 <b data-count>${n}</b> 条` +
      ` <button type="button" data-all>显示全部</button>`;
    document.body.dataset.boardIncident = i.id;
  }

  function filterTo(incident) {
    boardIncident = incident;
    show();
    render();
  }

  banner.addEventListener("click", (e) => {
    if (e.target.closest("[data-all]")) filterTo(null);
  });
  link.addEventListener("focus_incident", (e) => {
    const incident = e.detail.incident;
    document.body.dataset.wallIncident = incident.id;
    document.body.classList.add("zw-incident-mode");
    mark("incident");
    filterTo(incident);
  });
  link.addEventListener("preset", (e) => {
    const msg = e.detail;
    if (!follows(msg, "alerts", link.wall)) return;
    if (msg.preset === "incident") {
      focusFromPreset(link, msg);
    } else if (msg.preset === "normal" && boardIncident && boardIncident.id === msg.incident_id) {
      leaveIncident();
      filterTo(null);
    }
  });
  link.addEventListener("alerts", () => boardIncident && show());
}
