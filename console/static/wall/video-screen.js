/* zhizhi 智治 — the wall's video screen: /wall?screen=video&wall=NAME[&layout=1|4|9|16|LAYOUT].
 *
 * 1, 4, 9 or 16 tiles of live camera video, each with the camera's name and its source state
 * (online / reconnecting / offline, from "camera_status" messages). Video is the workers'
 * annotated frames: the first MAX_STREAMS tiles play the MJPEG stream
 * (/api/cameras/{id}/mjpeg?ticket=...), the others refresh /api/cameras/{id}/frame.jpg once a
 * second — a browser opens at most six HTTP/1.1 connections to one console, and each MJPEG
 * stream holds one for as long as it plays, so a 16-tile wall of streams would leave the
 * page's other screens no connection for their API calls. A camera the console has no video
 * for (no worker reports it) is not asked for any.
 *
 * On a wall selection the tiles switch to the cameras that see the alert's place (nearest
 * first, a bigger layout when they do not fit) and the alert's evidence — snapshot and clip —
 * is shown beside them.
 *
 * Drones the user may see (/api/drones, then the live "drone" messages; the list is fetched
 * again every DRONE_REFRESH_MS so that a drone that flew away goes) get a tile each after the
 * cameras with video: "无人机 UAV-01" with its height and battery, its video from the same routes
 * under the drone's id (served while the drone is over the user's area; a tile whose drone has
 * no video keeps retrying every RETRY_MS). Each URL carries a short-lived ticket (lib/session.js),
 * never the login's token; a stream ends when its session does (logout, password change).
 *
 * When the wall focuses an incident ("focus_incident"), the tiles switch to its layout: the
 * drones inside or near the area first, then the cameras inside or near it, nearest first, in
 * the smallest layout that holds them; a red line over the tiles names the incident.
 *
 * The layout and the camera of each tile are the wall's, kept on the console (tiles.js): every
 * video screen of the wall shows them, a reload restores them (?layout= overrides the layout on
 * this screen only), tiles nobody chose are filled as above. A camera dragged from the map (or
 * from another tile) onto a tile goes there for the whole wall; the map's "投到画面 N" does the
 * same from another PC. At 16 tiles a caption is the camera's name on up to two lines with its
 * state as a dot; the id and the full name are in the tile's title. ?layout=LAYOUT (a name, not
 * a count: a wall's custom slot) shows and edits the wall's named layout LAYOUT instead of its
 * main one; its changes reach only the screens showing LAYOUT, and the toolbar names it.
 *
 * A camera tour (tour.js) cycles one tile through its cameras, "巡航中 n/N" in the toolbar.
 *
 * For tests: window.zhizhiWall = {link, tiles(), selection, incident, tour, ...}; body[data-wall-ready].
 */

import { $, esc } from "../lib/dom.js";
import { fail } from "../lib/errors.js";
import { fmtTime } from "../lib/format.js";
import { api, toLogin, token, withTicket } from "../lib/session.js";
import { mountAlarm } from "./alarm.js";
import { WallLink } from "./live.js";
import { showMedia } from "./media.js";
import { mountPlayback, playbackButton } from "./playback.js";
import { installVideoPresets } from "./presets.js";
import { loadConfig, mountWallHeader, wallName } from "./screen.js";
import { cameraDragSource, dropTarget, layoutName, loadTiles, sameLayout, saveTiles, tileTitle } from "./tiles.js";
import { mountTours } from "./tour.js";
import { Units } from "./units.js";
import { CAMERA_STATE, INCIDENT, SEVERITY, STATUS, ruleEn, ruleLabel, text } from "./vocabulary.js";

const LAYOUTS = [1, 4, 9, 16];
const MAX_STREAMS = 3;
const POLL_MS = 1000;
const RETRY_MS = 10_000;
const DRONE_REFRESH_MS = 15_000;

const wall = wallName();
const named = layoutName(); // a named layout of the wall (custom slot), or null: its main one
const link = new WallLink(wall);
const zw = {
  screen: "video",
  wall,
  layoutName: named,
  link,
  layout: 4,
  order: [], // camera (and drone) ids, tile order (longer than the layout: switching layouts keeps it)
  covering: [], // the selection's cameras (ids), nearest first
  selection: null,
  selections: [],
  pinned: [], // the wall's remembered tiles: camera id or null (filled from the order), by tile
  tourStop: null, // {tile, id}: the camera a running tour shows on a tile
  tiles: () => [...document.querySelectorAll("#zw-tiles .zw-tile")].map((t) => t.dataset.cameraId || null),
};
window.zhizhiWall = zw;

let units = new Units();
const cameras = new Map(); // id -> {id, name, grid}
const drones = new Map(); // drone id -> newest pose {drone_id, height_m, battery_pct, ...}
let userPicked = false; // a selection or a layout choice: snapshots no longer reorder the tiles

mountWallHeader({ screen: "video", title: "视频", titleEn: "Video", link });

// ------------------------------------------------------------------------------- layout

/** The layout this screen was asked for (?layout=), else null: the wall's. */
function askedLayout() {
  const asked = Number(new URLSearchParams(location.search).get("layout"));
  return LAYOUTS.includes(asked) ? asked : null;
}

/**
 * Show ``n`` tiles of the order as it is (presets.js sets the order, then the layout);
 * ``remember``: the user's choice, kept as the wall's layout for every video screen of the wall.
 */
function setLayout(n, remember = false) {
  zw.layout = n;
  for (const b of document.querySelectorAll("#zw-layouts button")) {
    b.setAttribute("aria-pressed", String(Number(b.dataset.layout) === n));
  }
  if (remember && !userPicked) arrange(); // the remembered cameras on their tiles of the new layout
  renderTiles();
  if (zw.tour) zw.tour.layoutChanged();
  if (remember) {
    saveWall(n, [...zw.pinned, ...Array(16).fill(null)].slice(0, n)).catch((err) =>
      note(`布局未保存：${err.detail || err.message}`),
    );
  }
}

let saving = 0; // this screen's changes of the wall's tiles on their way

/**
 * Remember the wall's tiles; the answer is applied once no later change of this screen is on its
 * way (two quick clicks: the second one's layout stays, the first one's answer does not undo it).
 */
async function saveWall(layout, tiles) {
  saving += 1;
  try {
    const t = await saveTiles(wall, layout, tiles, named);
    if (saving === 1) applyRemembered(t);
    return t;
  } finally {
    saving -= 1;
  }
}

/** The wall's remembered tiles (GET/PUT answers, "tiles" messages): pinned cameras go to their tiles. */
function applyRemembered(t, fromLink = false) {
  if (!t || !Array.isArray(t.tiles)) return;
  if (fromLink && !sameLayout(t, named)) return; // another layout of the wall changed
  if (fromLink && saving > 0) return; // this screen's own change is on its way: its answer comes
  if (t.updated_ts != null && zw.tilesTs != null && t.updated_ts < zw.tilesTs) return; // an older change
  if (t.updated_ts != null) zw.tilesTs = t.updated_ts;
  zw.pinned = t.tiles.map((id) => (id == null ? null : String(id)));
  for (const [id, name] of Object.entries(t.names || {})) {
    if (!cameras.has(id)) cameras.set(id, { id, name: name || id });
  }
  zw.remembered = { layout: t.layout, tiles: zw.pinned, by: t.updated_by || t.by || "", at: Date.now() };
  userPicked = false; // a choice of the wall's now: the selection's order gives way
  zw.layout = askedLayout() || (LAYOUTS.includes(t.layout) ? t.layout : zw.layout);
  arrange();
  setLayout(zw.layout);
}

/** The tile order: the remembered cameras on their tiles, the others filled from the default order. */
function arrange() {
  const pinned = zw.pinned.filter((id) => id != null);
  const fill = defaultOrder().filter((id) => !pinned.includes(id));
  const head = [];
  for (let i = 0; i < zw.layout; i++) {
    const id = zw.pinned[i];
    head.push(id != null && (cameras.has(id) || drones.has(id)) ? id : fill.shift() ?? null);
  }
  zw.order = [...head, ...fill];
}

/** The toolbar names the named layout this screen shows ("布局 危化专线"). */
function showLayoutName(name) {
  const chip = document.createElement("span");
  chip.className = "zw-layout-name";
  chip.id = "zw-layout-name";
  chip.textContent = `布局 ${name}`;
  chip.title = `墙面布局 ${name} · named layout`;
  $("#zw-layouts").after(chip);
  document.body.dataset.layoutName = name;
}

function note(textValue) {
  $("#zw-video-note").textContent = textValue;
}

function isDrone(id) {
  return drones.has(String(id)) && !cameras.has(String(id));
}

function hasVideo(id) {
  // A worker reports its cameras' state; others have no video. A drone's video is asked for
  // all the same: its camera's state reaches only the district's screens.
  return link.cameras.has(String(id)) || isDrone(id);
}

/** Cameras with video first (online, then the rest), then the drones, then the other cameras, by id. */
function defaultOrder() {
  const rank = (id) => {
    if (isDrone(id)) return 3.5;
    const s = link.cameraState(id);
    return s === "online" ? 0 : s === "starting" ? 1 : s === "reconnecting" ? 2 : s === "offline" ? 3 : 4;
  };
  return [...cameras.keys(), ...[...drones.keys()].filter(isDrone)].sort(
    (a, b) => rank(a) - rank(b) || a.localeCompare(b),
  );
}

/** "120 m · 85%": a drone's height above ground and battery, what of them is known. */
function droneFacts(id) {
  const d = drones.get(String(id)) || {};
  const parts = [];
  if (Number.isFinite(d.height_m)) parts.push(`${Math.round(d.height_m)} m`);
  if (Number.isFinite(d.battery_pct)) parts.push(`电量 ${Math.round(d.battery_pct)}%`);
  return parts.join(" · ");
}

// -------------------------------------------------------------------------------- tiles

function tileCaption(tile, id) {
  const drone = isDrone(id);
  const cam = cameras.get(id) || { name: id };
  let state = link.cameraState(id);
  if (drone && !link.cameras.has(String(id))) state = tile.dataset.video === "live" ? "online" : "unknown";
  const st = CAMERA_STATE[state] || CAMERA_STATE.unknown;
  tile.dataset.state = state;
  tile.dataset.kind = drone ? "drone" : "camera";
  tile.querySelector(".zw-tile-name").textContent = drone ? `无人机 ${id}` : cam.name || id;
  tile.querySelector(".zw-tile-id").textContent = drone ? [id, droneFacts(id)].filter(Boolean).join(" · ") : id;
  tile.querySelector(".zw-tile-state").textContent = text(st);
  const shownName = drone ? `无人机 ${id}` : cam.name || id;
  tile.title = tileTitle(shownName, shownName === id ? "" : id, text(st));
  tile.classList.toggle("zw-tour-tile", Boolean(zw.tourStop && zw.tourStop.id === id));
  const rank = zw.covering.indexOf(id);
  tile.classList.toggle("zw-covering", rank >= 0);
  const badge = tile.querySelector(".zw-tile-rank");
  if (rank >= 0) {
    const hit = zw.selection && zw.selection.cameras[rank];
    badge.hidden = false;
    badge.textContent = `${rank + 1}${hit && Number.isFinite(hit.distance_m) ? " · " + Math.round(hit.distance_m) + " m" : ""}`;
  } else {
    badge.hidden = true;
  }
  const nv = tile.querySelector(".zw-novideo");
  nv.innerHTML = drone && state === "unknown"
    ? `正在接入无人机视频<small>Waiting for the drone's video…</small>`
    : hasVideo(id)
    ? state === "offline" || state === "reconnecting"
      ? `视频中断 ${esc(st.label)}<small>Video interrupted</small>`
      : `正在接入视频<small>Loading video…</small>`
    : `无视频接入<small>No video for this camera</small>`;
}

function newTile(id) {
  const tile = document.createElement("figure");
  tile.className = "zw-tile";
  tile.dataset.cameraId = id;
  tile.dataset.video = "none";
  tile.innerHTML =
    `<div class="zw-novideo"></div><img alt="">` +
    `<span class="zw-tile-rank" hidden></span>` +
    `<figcaption><span class="zw-tile-name"></span><span class="zw-tile-id"></span>` +
    `<span class="zw-tile-state"></span></figcaption>`;
  tile.zw = { id, mode: null, timer: null, img: tile.querySelector("img") };
  tile.zw.img.draggable = false; // the tile itself is dragged, not its picture
  if (!isDrone(id)) cameraDragSource(tile, { id, name: (cameras.get(id) || {}).name || id });
  dropTarget(tile, (cam) => dropCamera(tile, cam));
  return tile;
}

function emptyTile() {
  const tile = document.createElement("figure");
  tile.className = "zw-tile zw-tile-empty";
  tile.dataset.state = "unknown";
  tile.innerHTML = `<div class="zw-novideo"><span class="zw-empty-hint">空闲 · 可拖入摄像头</span><small>Empty: drop a camera here</small></div>`;
  dropTarget(tile, (cam) => dropCamera(tile, cam));
  return tile;
}

/**
 * A camera dropped on a tile: it goes there, and the cameras shown now stay where they are (a
 * camera moved from another tile swaps places), for the whole wall (remembered on the console).
 */
function dropCamera(tile, cam) {
  const n = [...document.querySelectorAll("#zw-tiles .zw-tile")].indexOf(tile) + 1;
  if (n < 1) return;
  if (!cameras.has(cam.id)) cameras.set(cam.id, { id: cam.id, name: cam.name });
  const ids = [...zw.order.slice(0, zw.layout), ...Array(zw.layout).fill(null)]
    .slice(0, zw.layout)
    .map((id) => (id != null && cameras.has(id) && !isDrone(id) ? id : null)); // drones are not kept
  const was = ids.indexOf(cam.id);
  if (was >= 0) ids[was] = ids[n - 1];
  ids[n - 1] = cam.id;
  saveWall(zw.layout, ids).then(
    () => note(`${cam.name} → 画面 ${n}`),
    (err) => note(`未能放入画面 ${n}：${err.detail || err.message}`),
  );
}

function stopVideo(tile) {
  const z = tile.zw;
  if (!z) return;
  z.generation = (z.generation || 0) + 1; // a ticket still on its way is for nothing now
  clearTimeout(z.timer);
  z.timer = null;
  z.img.onload = z.img.onerror = null;
  z.img.removeAttribute("src"); // ends an MJPEG stream: frees its connection
  z.mode = null;
  tile.dataset.video = "none";
}

function startVideo(tile, mode) {
  const z = tile.zw;
  stopVideo(tile);
  if (!hasVideo(z.id)) {
    tileCaption(tile, z.id);
    return;
  }
  z.mode = mode;
  const img = z.img;
  const base = `/api/cameras/${encodeURIComponent(z.id)}`;
  img.onload = () => {
    tile.dataset.video = "live";
    if (isDrone(z.id)) tileCaption(tile, z.id);
    if (z.mode === "poll") z.timer = setTimeout(next, POLL_MS);
  };
  img.onerror = () => {
    tile.dataset.video = "none";
    if (isDrone(z.id)) tileCaption(tile, z.id);
    z.timer = setTimeout(() => startVideo(tile, mode), RETRY_MS);
  };
  const generation = z.generation;
  /** Point the tile at ``url`` with a ticket, unless the tile moved on meanwhile. */
  const show = (url) =>
    withTicket(url).then(
      (src) => {
        if (z.generation === generation && z.mode === mode) img.src = src;
      },
      () => {
        if (z.generation !== generation || z.mode !== mode) return;
        tile.dataset.video = "none";
        z.timer = setTimeout(() => startVideo(tile, mode), RETRY_MS);
      },
    );
  const next = () => {
    if (z.mode === "poll") show(`${base}/frame.jpg?t=${Date.now()}`);
  };
  if (mode === "stream") show(`${base}/mjpeg`);
  else next();
}

/** The camera of each tile now: the order's first, a running tour's stop on its tile. */
function shownIds() {
  const n = zw.layout;
  const ids = [...zw.order.slice(0, n), ...Array(n).fill(null)].slice(0, n);
  const stop = zw.tourStop;
  if (stop && stop.tile < n) {
    const j = ids.indexOf(stop.id);
    if (j >= 0 && j !== stop.tile) ids[j] = ids[stop.tile]; // no camera on two tiles
    ids[stop.tile] = stop.id;
  }
  return ids;
}

function renderTiles() {
  const box = $("#zw-tiles");
  const n = zw.layout;
  box.style.setProperty("--n", String(Math.sqrt(n)));
  box.dataset.layout = String(n);
  const old = new Map();
  for (const t of box.querySelectorAll(".zw-tile")) if (t.zw) old.set(t.zw.id, t);
  const ids = shownIds();
  const tiles = [];
  ids.forEach((id, i) => {
    if (id == null) {
      tiles.push(emptyTile());
      return;
    }
    let tile = old.get(id);
    if (tile) old.delete(id);
    else tile = newTile(id);
    const mode = i < MAX_STREAMS ? "stream" : "poll";
    tileCaption(tile, id);
    if (tile.zw.mode !== mode || (!tile.zw.mode && hasVideo(id))) startVideo(tile, mode);
    tiles.push(tile);
  });
  for (const t of old.values()) stopVideo(t);
  box.replaceChildren(...tiles);
  document.body.dataset.tiles = ids.map((id) => id || "").join(",");
}

function refreshCaptions(id) {
  for (const tile of document.querySelectorAll("#zw-tiles .zw-tile")) {
    if (!tile.zw || (id !== undefined && tile.zw.id !== String(id))) continue;
    tileCaption(tile, tile.zw.id);
    // A camera that came (back) online: ask for its video now rather than at the next retry.
    if (tile.dataset.video !== "live" && link.cameraState(tile.zw.id) === "online") {
      const i = shownIds().indexOf(tile.zw.id);
      startVideo(tile, i < MAX_STREAMS ? "stream" : "poll");
    }
  }
}

/** An MJPEG <img> has no load event per frame: a tile plays once its image has a size. */
function markLive() {
  for (const tile of document.querySelectorAll("#zw-tiles .zw-tile")) {
    const z = tile.zw;
    if (z && z.mode && z.img.naturalWidth > 0 && tile.dataset.video !== "live") {
      tile.dataset.video = "live";
      if (isDrone(z.id)) tileCaption(tile, z.id);
    }
  }
}

// --------------------------------------------------------------------------------- drones

/** The drones the user may see now (their tiles follow: new ones added, departed ones dropped). */
function setDrones(list) {
  const before = [...drones.keys()].join(",");
  drones.clear();
  for (const d of list || []) if (d.drone_id != null) drones.set(String(d.drone_id), d);
  if ([...drones.keys()].join(",") === before) {
    refreshCaptions();
    return;
  }
  if (userPicked) {
    const known = (id) => cameras.has(id) || isDrone(id);
    zw.order = [...zw.order.filter(known), ...[...drones.keys()].filter((id) => isDrone(id) && !zw.order.includes(id))];
  } else {
    arrange();
  }
  renderTiles();
}

function onDrone(msg) {
  const id = String(msg.drone_id);
  if (!drones.has(id)) {
    setDrones([...drones.values(), msg]);
    return;
  }
  drones.set(id, msg);
  refreshCaptions(id);
}

async function refreshDrones() {
  try {
    setDrones(await api("/api/drones"));
  } catch (err) {
    console.warn("drones:", err);
  }
}

// ----------------------------------------------------------------------------- selection

function applySelection(sel) {
  const a = sel.alert;
  const sentAt = link.lastSent && link.lastSent.alertId === a.id ? link.lastSent.at : null;
  zw.selection = { alertId: a.id, cameras: sel.cameras || [], sentAt, receivedAt: sel.receivedAt };
  for (const c of zw.selection.cameras) {
    if (!cameras.has(String(c.id))) cameras.set(String(c.id), { id: String(c.id), name: c.name });
  }
  zw.covering = zw.selection.cameras.map((c) => String(c.id));
  zw.order = [...zw.covering, ...zw.order.filter((id) => !zw.covering.includes(id))];
  userPicked = true;
  $("#zw-video-main").classList.add("zw-with-evidence");
  if (zw.covering.length > zw.layout) {
    setLayout(LAYOUTS.find((n) => n >= zw.covering.length) || 16, false);
  } else {
    renderTiles();
  }
  const note = $("#zw-video-note");
  note.textContent = zw.covering.length
    ? `${zw.covering.length} 路摄像头覆盖告警点`
    : "没有摄像头覆盖告警点";
  showEvidence(Object.assign({}, link.alerts.get(a.id) || {}, a), true);
  zw.selection.appliedAt = Date.now();
  zw.selection.tiles = zw.tiles();
  document.body.dataset.wallAlert = a.id;
  zw.selections.push(zw.selection);
}

function applyIncident(focus) {
  const incident = focus.incident;
  const impact = incident.impact || {};
  const near = (list) => [...(list || [])].sort((x, y) => x.distance_m - y.distance_m).map((x) => String(x.id));
  const droneIds = near(impact.drones);
  const cameraIds = near(impact.cameras);
  for (const c of impact.cameras || []) {
    if (!cameras.has(String(c.id))) cameras.set(String(c.id), { id: String(c.id), name: c.name });
  }
  const chosen = [...droneIds, ...cameraIds];
  zw.incident = { id: incident.id, tiles: chosen, receivedAt: focus.receivedAt };
  zw.order = [...chosen, ...zw.order.filter((id) => !chosen.includes(id))];
  userPicked = true;
  $("#zw-video-main").classList.remove("zw-with-evidence");
  const fit = LAYOUTS.find((n) => n >= chosen.length) || 16;
  if (fit !== zw.layout) setLayout(fit, false);
  else renderTiles();
  const kind = INCIDENT[incident.incident_type || incident.type] || INCIDENT.other;
  $("#zw-video-note").textContent =
    `战时 · ${text(kind)} ${incident.title} · ${droneIds.length} 架无人机，${cameraIds.length} 路摄像头`;
  document.body.dataset.wallIncident = incident.id;
  document.body.classList.add("zw-incident-mode");
}

function showEvidence(a, fresh) {
  const box = $("#zw-evidence");
  const sev = SEVERITY[a.severity] || SEVERITY.blue;
  const st = STATUS[a.status] || { label: a.status, en: "" };
  const ev = a.evidence || {};
  if (fresh || box.dataset.alertId !== a.id) {
    box.dataset.alertId = a.id;
    box.innerHTML =
      `<h2>告警证据 <small>Evidence</small></h2>` +
      `<div class="zw-ev-head zw-sev-${esc(a.severity)}"><span class="zw-sev-chip">${esc(sev.label)}预警</span>` +
      `<span class="zw-status-chip zw-st-${esc(a.status)}" id="zw-ev-status">${esc(st.label)} <small>${esc(st.en)}</small></span></div>` +
      `<div class="zw-ev-rule">${esc(ruleLabel(a))} <small>${esc(ruleEn(a))}</small></div>` +
      `<div class="zw-ev-place">${esc(units.place(a))}</div>` +
      `<div class="zw-ev-meta">首次发现 ${esc(fmtTime(a.first_ts))} · 最近 ${esc(fmtTime(a.last_ts))}</div>` +
      `<h2>现场快照 <small>Snapshot</small></h2>` +
      `<div class="zw-media" id="zw-ev-snapshot"><div class="zw-novideo"></div></div>` +
      `<h2>告警录像 <small>Clip</small></h2>` +
      `<div class="zw-media" id="zw-ev-clip"><div class="zw-novideo"></div></div>`;
  } else {
    const chip = $("#zw-ev-status");
    if (chip) {
      chip.className = `zw-status-chip zw-st-${a.status}`;
      chip.textContent = `${st.label} ${st.en}`;
    }
  }
  box.hidden = false;
  showMedia($("#zw-ev-snapshot"), "snapshot", a.id, ev.snapshot, "暂无快照", "No snapshot yet");
  showMedia($("#zw-ev-clip"), "clip", a.id, ev.clip, "录像生成中或暂无", "No clip yet");
  playbackButton(box, a, (id) => (cameras.get(id) || {}).name || id);
}

// ----------------------------------------------------------------------------------- start

async function start() {
  if (!token()) {
    toLogin(); // nothing is asked of the console before the login
    return;
  }
  const [config, fov, loaded, droneList] = await Promise.all([
    loadConfig("视频"),
    api("/api/cameras/fov"),
    Units.load(),
    api("/api/drones").catch(() => []),
  ]);
  zw.config = config;
  units = loaded;
  for (const f of fov.features || []) {
    const p = f.properties || {};
    if (p.id != null) cameras.set(String(p.id), { id: String(p.id), name: p.name || String(p.id), grid: p.grid });
  }
  for (const d of droneList || []) if (d.drone_id != null) drones.set(String(d.drone_id), d);
  zw.order = defaultOrder();
  for (const b of document.querySelectorAll("#zw-layouts button")) {
    b.addEventListener("click", () => setLayout(Number(b.dataset.layout), true));
  }
  if (named) showLayoutName(named);
  const remembered = await loadTiles(wall, named).catch((err) => {
    console.warn("tiles:", err);
    return null;
  });
  zw.layout = askedLayout() || (remembered && LAYOUTS.includes(remembered.layout) ? remembered.layout : 4);
  if (remembered) applyRemembered(remembered);
  setLayout(zw.layout);
  zw.tour = mountTours({
    wall,
    holder: $(".zw-toolbar"),
    layout: () => zw.layout,
    cameraName: (id) => (cameras.get(String(id)) || {}).name,
    show: (tile, id) => {
      zw.tourStop = id == null ? null : { tile, id: String(id) };
      renderTiles();
    },
  });

  link.addEventListener("snapshot", () => {
    setDrones([...link.drones.values()]); // the snapshot lists the drones this user may see now
    if (!userPicked) arrange();
    renderTiles();
    refreshCaptions();
  });
  link.addEventListener("camera_status", (e) => {
    const id = String(e.detail.camera_id);
    if (!userPicked && !zw.order.slice(0, zw.layout).includes(id)) {
      arrange();
      renderTiles();
    }
    refreshCaptions(id);
  });
  link.addEventListener("alert", (e) => {
    const a = e.detail;
    if (zw.selection && zw.selection.alertId === a.id) showEvidence(a, false);
  });
  link.addEventListener("select", (e) => applySelection(e.detail));
  installVideoPresets(link, zw, { setLayout, defaultOrder, renderTiles, cameras }); // before applyIncident
  link.addEventListener("focus_incident", (e) => applyIncident(e.detail));
  link.addEventListener("drone", (e) => onDrone(e.detail));
  link.addEventListener("tiles", (e) => applyRemembered(e.detail, true));
  mountAlarm(link, "video").catch((err) => fail("告警音启动失败", err)); // rings if settings.alarm.screens says so
  link.start();
  mountPlayback({ toolbar: $(".zw-toolbar"), cameras, firstCamera: () => zw.tiles().find(Boolean) });
  setInterval(markLive, 1000);
  setInterval(refreshDrones, DRONE_REFRESH_MS);
  document.body.dataset.wallReady = "true";
  document.body.dataset.ready = "true";
}

start().catch((err) => {
  fail("视频大屏启动失败 The video screen failed to start", err);
  document.body.dataset.wallReady = "error";
  document.body.dataset.ready = "error";
});
