/* zhizhi 智治 — the calibration page: /static/calibrate/index.html?camera=<id>.
 *
 * The camera's frame on the left, the map on the right. In "① 标定点 Pairs" mode the user clicks a
 * pixel on the frame (a road mark, a corner), then the same place on the map; the pairs are
 * numbered and coloured alike on both. While a pixel waits for its map point, the map shows where
 * the current model puts it (the newest calibration, else the pinhole first guess from the
 * camera's height, heading, tilt and field of view) so the user finds it quickly. After every
 * click the page asks for a preview (POST /api/cameras/{id}/calibration/preview): each pair's
 * reprojection error (px) and ground error (m) in the table and, from 4 pairs on, the fitted
 * ground area on the map; a refusal (3 of 4 points on a line, swapped pairs, ...) is shown as
 * the console words it. "保存标定 Save" stores a new version (PUT .../calibration): the map's
 * field of view becomes the calibrated ground area, the one "which cameras see this point" uses.
 *
 * In "② 遮罩 Masks" mode clicks on the frame add the vertices of a polygon where detections are
 * ignored (a flag pole, a billboard, a tree line); a click on its first vertex or "闭合遮罩" closes
 * it; "保存遮罩 Save masks" stores them with the camera (PUT .../masks).
 *
 * The frame is the camera's newest one (GET /api/cameras/{id}/frame.jpg) or, when there is none,
 * a still the user uploads (kept in this page only). Pixels are the picture's own.
 *
 * For tests: window.zhizhiCalibrate = {camera, info, pairs, masks, draft, preview, saved, mode,
 * size, busy, problem, map, frame, calmap}; body[data-ready] = "true" once the camera and the map
 * are shown; #zk-msg[data-state]: idle, working, ok, refused, failed.
 */

import { $, esc } from "../lib/dom.js";
import { fail } from "../lib/errors.js";
import { consolePagesHtml, mountHeader, showConfig } from "../lib/header.js";
import { ApiError, api, toLogin, token, user } from "../lib/session.js";
import { applyConfig, createMap, leafletMissing } from "../map/base.js";
import { loadBasemap } from "../map/basemap.js";
import { createCalMap } from "./calmap.js";
import { colorOf, createFrame } from "./frame.js";

const PAGE_TITLE = "摄像机标定 Camera calibration";
const MANAGERS = ["admin", "town_operator"]; // roles with cameras.manage

const cal = {
  camera: new URLSearchParams(location.search).get("camera") || "",
  info: null,
  pairs: [], // {n, px: [x, y], lonlat: [lon, lat] | null, predicted, reprojection_px, ground_error_m}
  masks: [], // [[x, y], ...] per mask, as stored once saved
  draft: [], // the mask being drawn
  preview: null,
  saved: null,
  mode: "points",
  size: null,
  busy: false,
  problem: null,
  previews: 0, // previews answered (tests wait on it)
};
window.zhizhiCalibrate = cal;

let next = 1; // the next pair's number
let previewSeq = 0;

// ------------------------------------------------------------------------------------ messages

function say(state, html) {
  const el = $("#zk-msg");
  el.dataset.state = state;
  el.innerHTML = html;
}

function hint() {
  const open = cal.pairs.find((p) => !p.lonlat);
  let text;
  if (!cal.size) text = "先上传一张该摄像机的截图 · Upload a still of the camera first";
  else if (cal.mode === "masks") {
    text = cal.draft.length
      ? `在画面上继续点选遮罩顶点，点第一个顶点闭合 · Click more vertices; click the first to close (${cal.draft.length})`
      : "在画面上点选遮罩的顶点（旗杆、广告牌、树带…）· Click the corners of an area to ignore";
  } else if (open) {
    text = `在地图上点出第 ${open.n} 点的位置 · Now click point ${open.n} on the map`;
  } else {
    const complete = cal.pairs.filter((p) => p.lonlat).length;
    text = complete < 4
      ? `在画面上点选一个地面特征（标线、路口角点）· Click a ground mark on the frame (${complete}/4 pairs)`
      : "可继续加点以降低误差，或保存 · Add pairs to lower the error, or save";
  }
  $("#zk-hint").textContent = text;
}

function fmt(v, digits = 2) {
  return v == null || !Number.isFinite(v) ? "—" : v.toFixed(digits);
}

function errorClass(v, [good, fair]) {
  if (v == null) return "";
  return v <= good ? "zk-good" : v <= fair ? "zk-fair" : "zk-bad";
}

function renderTable() {
  const rows = cal.pairs.map((p) => `
    <tr data-n="${p.n}">
      <td><span class="zk-chip" style="--c:${colorOf(p.n)}">${p.n}</span></td>
      <td class="zk-mono">${p.px[0].toFixed(1)}, ${p.px[1].toFixed(1)}</td>
      <td class="zk-mono">${p.lonlat ? `${p.lonlat[0].toFixed(6)}, ${p.lonlat[1].toFixed(6)}` :
        '<span class="zk-wait">待点地图 click the map</span>'}</td>
      <td class="zk-num ${errorClass(p.reprojection_px, [2, 6])}">${fmt(p.reprojection_px)}</td>
      <td class="zk-num ${errorClass(p.ground_error_m, [0.5, 2])}">${fmt(p.ground_error_m)}</td>
      <td><button type="button" class="zk-del" data-n="${p.n}" title="删除 remove">✕</button></td>
    </tr>`);
  $("#zk-rows").innerHTML = rows.join("") ||
    '<tr class="zk-empty"><td colspan="6">尚无标定点 · No pairs yet: click a pixel on the frame</td></tr>';
  const complete = cal.pairs.filter((p) => p.lonlat).length;
  $("#zk-count").innerHTML = `${complete}<small> / 4+</small>`;
  const pv = cal.preview;
  $("#zk-px").textContent = fmt(pv && pv.reprojection_px);
  $("#zk-m").textContent = fmt(pv && pv.ground_error_m);
  $("#zk-save").disabled = !canManage() || cal.busy || complete < 4 || !!cal.problem || !(pv && pv.fov);
}

function renderMasks() {
  const list = $("#zk-masks-list");
  list.hidden = cal.mode !== "masks";
  list.innerHTML = cal.masks.length
    ? cal.masks.map((ring, i) => `<span class="zk-mask-item">遮罩 ${i + 1} <small>${ring.length} 点 vertices</small>
        <button type="button" class="zk-del-mask" data-i="${i}" title="删除 remove">✕</button></span>`).join("")
    : '<span class="zk-mask-none">无遮罩 · No masks</span>';
}

function render() {
  frame.draw(cal.mode === "points" ? cal.pairs : [], cal.masks, cal.draft);
  calmap.drawPins(cal.pairs);
  renderTable();
  renderMasks();
  hint();
  const masks = cal.mode === "masks";
  $("#zk-save").hidden = masks;
  $("#zk-save-masks").hidden = !masks;
  $("#zk-close-mask").hidden = !masks;
  $("#zk-close-mask").disabled = cal.draft.length < 3;
  $("#zk-save-masks").disabled = !canManage() || cal.busy || cal.draft.length > 0;
  for (const b of document.querySelectorAll(".zk-mode")) b.setAttribute("aria-pressed", String(b.dataset.mode === cal.mode));
}

function canManage() {
  return MANAGERS.includes(user().role);
}

// ------------------------------------------------------------------------------------ preview

async function refreshPreview() {
  const seq = ++previewSeq;
  if (!cal.size || cal.pairs.length === 0) {
    cal.preview = null;
    cal.problem = null;
    calmap.setPreview(null);
    render();
    cal.previews += 1;
    return;
  }
  const body = { points: cal.pairs.map((p) => (p.lonlat ? { px: p.px, lonlat: p.lonlat } : { px: p.px })),
    image_size: cal.size };
  try {
    const answer = await api(`/api/cameras/${encodeURIComponent(cal.camera)}/calibration/preview`,
      { method: "POST", body });
    if (seq !== previewSeq) return; // a newer click answered first
    cal.preview = answer;
    cal.problem = null;
    answer.points.forEach((p, i) => Object.assign(cal.pairs[i], p));
    calmap.setPreview(answer.fov);
    const model = answer.model === "fit" ? "拟合 fit" : answer.model === "first guess" ? "初始估计 first guess" :
      `已保存 ${answer.model}`;
    say("idle", answer.fov
      ? `预览：${answer.complete} 对点拟合，平均重投影 ${fmt(answer.reprojection_px)} px、地面 ${fmt(answer.ground_error_m)} m
         <small>Preview of ${answer.complete} pairs — not saved yet</small>`
      : `预测位置来自 ${esc(model)} <small>Predictions from the ${esc(answer.model)}</small>`);
  } catch (err) {
    if (seq !== previewSeq) return;
    cal.preview = null;
    calmap.setPreview(null);
    if (err instanceof ApiError && err.status === 422) {
      cal.problem = problemText(err);
      say("refused", `⚠ ${esc(cal.problem)}`);
    } else {
      cal.problem = null;
      say("failed", `预览失败 Preview failed: ${esc(err.message)}`);
    }
  } finally {
    if (seq === previewSeq) {
      render();
      cal.previews += 1;
    }
  }
}

function problemText(err) {
  const detail = err.body && err.body.detail;
  if (Array.isArray(detail) && detail.length) return detail.map((d) => d.msg).join("; ");
  return typeof detail === "string" ? detail : err.detail;
}

// ------------------------------------------------------------------------------------ clicks

function onFrameClick(x, y) {
  if (!cal.size) return;
  if (cal.mode === "masks") {
    if (cal.draft.length >= 3 && frame.near(cal.draft[0], x, y)) closeMask();
    else cal.draft.push([x, y]);
    render();
    return;
  }
  const open = cal.pairs.find((p) => !p.lonlat);
  if (open) open.px = [x, y]; // the pixel waiting for its map point moves
  else cal.pairs.push({ n: next++, px: [x, y], lonlat: null, predicted: null });
  render();
  refreshPreview();
}

function onMapClick(e) {
  if (cal.mode !== "points") return;
  const open = cal.pairs.find((p) => !p.lonlat);
  if (!open) {
    say("idle", "先在画面上点选像素，再点地图 · Click a pixel on the frame first, then the map");
    return;
  }
  open.lonlat = [Math.round(e.latlng.lng * 1e7) / 1e7, Math.round(e.latlng.lat * 1e7) / 1e7];
  render();
  refreshPreview();
}

function closeMask() {
  if (cal.draft.length < 3) return;
  cal.masks.push(cal.draft);
  cal.draft = [];
  say("idle", `遮罩 ${cal.masks.length} 已闭合，记得保存 · Mask closed: save the masks to keep it`);
}

function removePair(n) {
  cal.pairs = cal.pairs.filter((p) => p.n !== n);
  refreshPreview();
}

// ------------------------------------------------------------------------------------ saving

async function save() {
  if (cal.busy) return;
  const complete = cal.pairs.filter((p) => p.lonlat);
  cal.busy = true;
  say("working", "正在保存… Saving…");
  render();
  try {
    const answer = await api(`/api/cameras/${encodeURIComponent(cal.camera)}/calibration`, {
      method: "PUT", body: { points: complete.map((p) => ({ px: p.px, lonlat: p.lonlat })), image_size: cal.size },
    });
    cal.saved = answer;
    calmap.setFov(answer.fov);
    calmap.setPreview(null);
    calmap.fitTo(answer.fov, cal.pairs);
    $("#zk-version").textContent = `第 ${answer.version} 版`;
    showCameraTitle(cal.info.camera, answer.version);
    say("ok", `✓ 已保存第 ${answer.version} 版：重投影 ${fmt(answer.reprojection_px)} px、地面 ${fmt(answer.ground_error_m)} m
      <small>Saved version ${answer.version}: the map's field of view is now the calibrated ground area</small>`);
  } catch (err) {
    const refused = err instanceof ApiError && err.status >= 400 && err.status < 500;
    say(refused ? "refused" : "failed", `⚠ 保存失败 Not saved: ${esc(refused ? problemText(err) : err.message)}`);
  } finally {
    cal.busy = false;
    render();
  }
}

async function saveMasks() {
  if (cal.busy) return;
  cal.busy = true;
  say("working", "正在保存遮罩… Saving masks…");
  render();
  try {
    const answer = await api(`/api/cameras/${encodeURIComponent(cal.camera)}/masks`, {
      method: "PUT", body: { masks: cal.masks, image_size: cal.size },
    });
    cal.masks = answer.masks;
    say("ok", `✓ 已保存 ${answer.masks.length} 个遮罩 <small>Saved ${answer.masks.length} masks: detections inside are
      ignored from now on</small>`);
  } catch (err) {
    const refused = err instanceof ApiError && err.status >= 400 && err.status < 500;
    say(refused ? "refused" : "failed", `⚠ 遮罩未保存 Masks not saved: ${esc(refused ? problemText(err) : err.message)}`);
  } finally {
    cal.busy = false;
    render();
  }
}

// ------------------------------------------------------------------------------------ start

let frame;
let calmap;

async function loadCalibration() {
  const [w, h] = cal.size || [1920, 1080];
  const info = await api(`/api/cameras/${encodeURIComponent(cal.camera)}/calibration?width=${w}&height=${h}`);
  cal.info = info;
  const c = info.camera;
  showCameraTitle(c, info.calibration && info.calibration.version);
  $("#zk-version").textContent = info.calibration ? `第 ${info.calibration.version} 版` : "未标定";
  cal.masks = info.masks || [];
  return info;
}

function showCameraTitle(c, version) {
  const state = version
    ? `<span class="zk-state" data-state="calibrated">已标定 第 ${version} 版</span>`
    : '<span class="zk-state" data-state="nominal">未标定 · 标称视域 nominal</span>';
  $("#zk-camera").innerHTML = `${esc(c.name || c.id)}<small>${esc(c.id)} · 朝向 heading ${c.heading_deg.toFixed(0)}° ·
    视场 HFOV ${c.hfov_deg.toFixed(0)}° · 可视 range ${c.range_m.toFixed(0)} m${c.height_m ? ` · 高 ${c.height_m} m` : ""}</small>
    ${state}`;
}

/** Start from the newest calibration's pairs when it was made on a picture of this size. */
function adoptPairs(info) {
  const stored = info.calibration;
  if (!stored || !cal.size || stored.image_size[0] !== cal.size[0] || stored.image_size[1] !== cal.size[1]) return;
  cal.pairs = stored.points.map((p) => ({ n: next++, px: p.px, lonlat: p.lonlat, predicted: null,
    reprojection_px: p.reprojection_px, ground_error_m: p.ground_error_m }));
}

async function useFrame(loader) {
  const before = cal.size;
  const size = await loader();
  if (!size) return false;
  cal.size = size;
  if (!before || before[0] !== size[0] || before[1] !== size[1]) {
    cal.pairs = [];
    next = 1;
    adoptPairs(await loadCalibration());
  }
  await refreshPreview();
  return true;
}

function wire() {
  $("#zk-file").addEventListener("change", (e) => {
    const file = e.target.files && e.target.files[0];
    if (!file) return;
    useFrame(() => frame.show(file, "upload")).catch((err) => say("failed", `⚠ ${esc(err.message)}`));
  });
  $("#zk-refresh").addEventListener("click", () => {
    useFrame(() => frame.loadLive(cal.camera))
      .then((ok) => ok || say("idle", "该摄像机暂无实时画面，请上传截图 · No live frame: upload a still"))
      .catch((err) => say("failed", `⚠ ${esc(err.message)}`));
  });
  for (const b of document.querySelectorAll(".zk-mode")) {
    b.addEventListener("click", () => {
      cal.mode = b.dataset.mode;
      cal.draft = [];
      render();
    });
  }
  $("#zk-rows").addEventListener("click", (e) => {
    const b = e.target.closest(".zk-del");
    if (b) removePair(Number(b.dataset.n));
  });
  $("#zk-masks-list").addEventListener("click", (e) => {
    const b = e.target.closest(".zk-del-mask");
    if (!b) return;
    cal.masks.splice(Number(b.dataset.i), 1);
    render();
  });
  $("#zk-undo").addEventListener("click", () => {
    if (cal.mode === "masks") {
      if (cal.draft.length) cal.draft.pop();
      else cal.masks.pop();
      render();
      return;
    }
    const last = cal.pairs[cal.pairs.length - 1];
    if (!last) return;
    if (last.lonlat) last.lonlat = null;
    else cal.pairs.pop();
    refreshPreview();
  });
  $("#zk-clear").addEventListener("click", () => {
    if (cal.mode === "masks") {
      cal.masks = [];
      cal.draft = [];
      render();
      return;
    }
    cal.pairs = [];
    next = 1;
    refreshPreview();
  });
  $("#zk-close-mask").addEventListener("click", () => {
    closeMask();
    render();
  });
  $("#zk-save").addEventListener("click", save);
  $("#zk-save-masks").addEventListener("click", saveMasks);
}

async function start() {
  if (!token()) {
    toLogin();
    return;
  }
  mountHeader({ subtitle: "摄像机标定 <span>Camera calibration</span>", nav: consolePagesHtml() });
  if (!cal.camera) {
    say("failed", "缺少摄像机编号：从摄像机台账进入 · No camera given: open this page from the cameras page");
    document.body.dataset.ready = "error";
    return;
  }
  if (leafletMissing()) {
    document.body.dataset.ready = "error";
    return;
  }
  const view = { layers: {}, layerInfo: {} };
  createMap(view);
  view.map.setMaxZoom(21); // ground marks a few metres apart need a close look
  frame = createFrame({ onClick: onFrameClick });
  calmap = createCalMap(view);
  Object.assign(cal, { map: view.map, frame, calmap });
  view.map.on("click", onMapClick);
  wire();
  if (!canManage()) say("idle", "只读：您的角色不能保存标定 · Read only: your role may not save calibrations");

  const config = await api("/api/config");
  showConfig(config, PAGE_TITLE);
  applyConfig(view, config);
  loadBasemap(view).catch((err) => fail("底图加载失败 The basemap failed to load", err));
  const live = await frame.loadLive(cal.camera).catch(() => null);
  if (live) cal.size = live;
  const info = await loadCalibration();
  calmap.showCamera(info);
  api("/api/layers")
    .then((list) => calmap.loadRoads(list, info.camera, Math.max(300, 1.5 * info.camera.range_m)))
    .catch((err) => fail("道路图层加载失败 The roads failed to load", err));
  adoptPairs(info);
  await refreshPreview();
  document.body.dataset.ready = "true";
}

const run = () =>
  start().catch((err) => {
    const missing = err instanceof ApiError && (err.status === 404 || err.status === 403);
    fail(missing ? `无法标定摄像机 ${cal.camera} · Cannot calibrate this camera` : "页面启动失败 The page failed to start",
      err);
    say("failed", `⚠ ${esc(err.message)}`);
    document.body.dataset.ready = "error";
  });
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run);
else run();
