/* zhizhi 智治 — the camera tours' editor on the wall's video screen (视频巡航 → 编辑巡航).
 *
 * One panel over the page: the tours of the user's jurisdiction on the left ("新建巡航" makes
 * one), the chosen tour on the right: its name, its stops in order (each a camera and its dwell
 * in seconds, 1–3600, moved up and down or removed), and the cameras the user may see
 * (/api/cameras/fov), searched by name or number, a click adding one as the last stop. "保存"
 * sends POST or PUT /api/tours, "删除" (twice: 确认删除) DELETE; what the console refuses is said
 * in Chinese (a camera outside the jurisdiction, a tour deleted meanwhile, no right to change
 * tours). Only users with alerts.act are offered it (tour.js); the console checks again.
 *
 * openTourEditor({onChange}) opens it (onChange(tourId|null): after a save or a delete, so the
 * picker reloads). For tests: window.zhizhiTourEditor.
 */

import { $, esc } from "../lib/dom.js";
import { api, fetchWithToken } from "../lib/session.js";

export const MIN_DWELL_S = 1;
export const MAX_DWELL_S = 3600;
const DEFAULT_DWELL_S = 10;
const MAX_NAME = 100;
const MAX_STOPS = 256;
const SHOWN_CAMERAS = 60; // search results listed at once

const ed = { tours: [], cameras: [], tour: null, stops: [], onChange: () => {}, errors: [] };
window.zhizhiTourEditor = ed;

/** What the console's refusal means, in Chinese (its detail is English for the log). */
export function tourError(err) {
  const status = err && err.status;
  const detail = String((err && err.detail) || "");
  if (status === 403) return "无权修改巡航路线（需要告警处置权限）";
  if (status === 404) return "该巡航路线已不存在（可能已在别处删除），请重新选择";
  if (status === 422) {
    const camera = detail.match(/unknown camera '([^']+)'/);
    if (camera) return `摄像头 ${camera[1]} 不存在或不属于本辖区，请移除后再保存`;
    if (/dwell_s/.test(detail)) return `停留时间须为 ${MIN_DWELL_S}–${MAX_DWELL_S} 秒的整数`;
    if (/"name"|name/.test(detail) && !/stops/.test(detail)) return `名称须为 1–${MAX_NAME} 个字符，且不含控制字符`;
    if (/stops/.test(detail)) return `至少选择 1 个、至多 ${MAX_STOPS} 个摄像头`;
    return "内容不符合要求，请检查名称、摄像头和停留时间";
  }
  if (!status) return "网络错误，未能连接指挥平台，请稍后重试";
  return `保存失败（错误 ${status}），请稍后重试`;
}

function panel() {
  let box = $("#zw-tour-editor");
  if (box) return box;
  box = document.createElement("section");
  box.id = "zw-tour-editor";
  box.className = "zw-te";
  box.hidden = true;
  box.setAttribute("role", "dialog");
  box.setAttribute("aria-label", "编辑巡航路线");
  box.innerHTML =
    `<div class="zw-te-head"><h2>编辑巡航路线</h2>` +
    `<button type="button" id="zw-te-close" class="zw-te-btn">关闭</button></div>` +
    `<div class="zw-te-body">` +
    `<nav class="zw-te-list"><button type="button" id="zw-te-new" class="zw-te-btn zw-te-primary">＋ 新建巡航</button>` +
    `<ul id="zw-te-tours"></ul></nav>` +
    `<form class="zw-te-form" id="zw-te-form" autocomplete="off" novalidate>` +
    `<label class="zw-te-field"><span>名称</span><input id="zw-te-name" maxlength="${MAX_NAME}" placeholder="如：夜间巡航"></label>` +
    `<div class="zw-te-cols">` +
    `<div class="zw-te-col"><h3>巡航点位 <span id="zw-te-count"></span></h3><ol id="zw-te-stops" class="zw-te-stops"></ol></div>` +
    `<div class="zw-te-col"><h3>添加摄像头</h3>` +
    `<div class="zw-te-add"><input id="zw-te-search" type="search" placeholder="按名称或编号搜索">` +
    `<label>停留 <input id="zw-te-dwell" type="number" min="${MIN_DWELL_S}" max="${MAX_DWELL_S}" value="${DEFAULT_DWELL_S}"> 秒</label></div>` +
    `<ul id="zw-te-cameras" class="zw-te-cameras"></ul></div>` +
    `</div>` +
    `<div class="zw-te-foot"><span id="zw-te-error" class="zw-te-error" role="alert"></span>` +
    `<button type="button" id="zw-te-delete" class="zw-te-btn zw-te-danger" hidden>删除</button>` +
    `<button type="submit" id="zw-te-save" class="zw-te-btn zw-te-primary">保存</button></div>` +
    `</form></div>`;
  document.body.appendChild(box);
  wire(box);
  return box;
}

function say(message, ok = false) {
  const line = $("#zw-te-error");
  line.textContent = message;
  line.classList.toggle("zw-te-ok", ok);
  if (message && !ok) ed.errors.push(message);
}

function cameraName(id) {
  const c = ed.cameras.find((x) => x.id === id);
  return c ? c.name : null;
}

function renderTours() {
  $("#zw-te-tours").innerHTML =
    ed.tours
      .map(
        (t) =>
          `<li><button type="button" data-tour="${t.id}" class="zw-te-tour" aria-pressed="${ed.tour && ed.tour.id === t.id}">` +
          `${esc(t.name)}<small>${t.stops.length} 个点位</small></button></li>`,
      )
      .join("") || `<li class="zw-te-none">暂无巡航路线</li>`;
}

function renderStops() {
  const n = ed.stops.length;
  $("#zw-te-count").textContent = `（${n} 个）`;
  $("#zw-te-stops").innerHTML = n
    ? ed.stops
        .map(
          (s, i) =>
            `<li data-index="${i}" data-camera="${esc(s.camera_id)}">` +
            `<span class="zw-te-stop-name" title="${esc(s.camera_id)}">${esc(s.name || s.camera_id)}</span>` +
            `<label>停留 <input type="number" class="zw-te-stop-dwell" min="${MIN_DWELL_S}" max="${MAX_DWELL_S}" value="${s.dwell_s}"> 秒</label>` +
            `<button type="button" data-move="-1" aria-label="上移" ${i === 0 ? "disabled" : ""}>↑</button>` +
            `<button type="button" data-move="1" aria-label="下移" ${i === n - 1 ? "disabled" : ""}>↓</button>` +
            `<button type="button" data-remove aria-label="移除">移除</button></li>`,
        )
        .join("")
    : `<li class="zw-te-none">从右侧点击摄像头加入巡航</li>`;
}

function renderCameras() {
  const q = $("#zw-te-search").value.trim().toLowerCase();
  const hits = ed.cameras.filter((c) => !q || c.name.toLowerCase().includes(q) || c.id.toLowerCase().includes(q));
  const shown = hits.slice(0, SHOWN_CAMERAS);
  $("#zw-te-cameras").innerHTML =
    shown
      .map(
        (c) =>
          `<li><button type="button" data-add="${esc(c.id)}" title="${esc(c.id)}">＋ ${esc(c.name)}` +
          `${ed.stops.some((s) => s.camera_id === c.id) ? "<small>已在巡航中</small>" : ""}</button></li>`,
      )
      .join("") +
    (hits.length > shown.length ? `<li class="zw-te-none">另有 ${hits.length - shown.length} 个，请输入名称缩小范围</li>` : "") +
    (hits.length ? "" : `<li class="zw-te-none">没有匹配的摄像头</li>`);
}

function choose(tour) {
  ed.tour = tour;
  ed.stops = tour ? tour.stops.map((s) => ({ camera_id: s.camera_id, dwell_s: s.dwell_s, name: cameraName(s.camera_id) || s.name })) : [];
  $("#zw-te-name").value = tour ? tour.name : "";
  const del = $("#zw-te-delete");
  del.hidden = !tour;
  del.textContent = "删除";
  delete del.dataset.armed;
  say("");
  renderTours();
  renderStops();
  renderCameras();
}

/** The form as the API takes it, or a Chinese message saying what is wrong. */
function collect() {
  const name = $("#zw-te-name").value.trim();
  if (!name) return { error: "请填写巡航名称" };
  if (!ed.stops.length) return { error: "至少选择 1 个摄像头" };
  for (const [i, s] of ed.stops.entries()) {
    if (!Number.isInteger(s.dwell_s) || s.dwell_s < MIN_DWELL_S || s.dwell_s > MAX_DWELL_S) {
      return { error: `第 ${i + 1} 个点位的停留时间须为 ${MIN_DWELL_S}–${MAX_DWELL_S} 秒的整数` };
    }
  }
  return { body: { name, stops: ed.stops.map((s) => ({ camera_id: s.camera_id, dwell_s: s.dwell_s })) } };
}

async function save() {
  const { body, error } = collect();
  if (error) {
    say(error);
    return;
  }
  const editing = ed.tour;
  try {
    const saved = editing
      ? await api(`/api/tours/${editing.id}`, { method: "PUT", body })
      : await api("/api/tours", { method: "POST", body });
    await reload(saved.id);
    say(editing ? "已保存" : "已新建", true);
    ed.onChange(saved.id);
  } catch (err) {
    say(tourError(err));
  }
}

async function remove(button) {
  if (!ed.tour) return;
  if (!button.dataset.armed) {
    button.dataset.armed = "1";
    button.textContent = "确认删除？";
    return;
  }
  const id = ed.tour.id;
  const resp = await fetchWithToken(`/api/tours/${id}`, { method: "DELETE" }).catch(() => null); // 204: no JSON
  if (resp && (resp.status === 204 || resp.status === 404)) {
    await reload(null);
    say(resp.status === 204 ? "已删除" : tourError({ status: 404 }), resp.status === 204);
    ed.onChange(null);
  } else {
    say(tourError({ status: resp ? resp.status : 0 }));
  }
}

async function reload(selectId) {
  ed.tours = await api("/api/tours");
  choose(ed.tours.find((t) => t.id === selectId) || null);
}

function wire(box) {
  box.querySelector("#zw-te-close").addEventListener("click", () => closeTourEditor());
  box.querySelector("#zw-te-new").addEventListener("click", () => {
    choose(null);
    $("#zw-te-name").focus();
  });
  box.querySelector("#zw-te-tours").addEventListener("click", (e) => {
    const b = e.target.closest("[data-tour]");
    if (b) choose(ed.tours.find((t) => String(t.id) === b.dataset.tour) || null);
  });
  box.querySelector("#zw-te-search").addEventListener("input", renderCameras);
  box.querySelector("#zw-te-cameras").addEventListener("click", (e) => {
    const b = e.target.closest("[data-add]");
    if (!b) return;
    if (ed.stops.length >= MAX_STOPS) {
      say(`一条巡航至多 ${MAX_STOPS} 个点位`);
      return;
    }
    const dwell = Number($("#zw-te-dwell").value);
    ed.stops.push({ camera_id: b.dataset.add, dwell_s: dwell, name: cameraName(b.dataset.add) });
    say("");
    renderStops();
    renderCameras();
  });
  const stops = box.querySelector("#zw-te-stops");
  stops.addEventListener("input", (e) => {
    const li = e.target.closest("li[data-index]");
    if (li && e.target.matches(".zw-te-stop-dwell")) ed.stops[Number(li.dataset.index)].dwell_s = Number(e.target.value);
  });
  stops.addEventListener("click", (e) => {
    const li = e.target.closest("li[data-index]");
    const b = e.target.closest("button");
    if (!li || !b) return;
    const i = Number(li.dataset.index);
    if (b.dataset.move) {
      const j = i + Number(b.dataset.move);
      if (j < 0 || j >= ed.stops.length) return;
      [ed.stops[i], ed.stops[j]] = [ed.stops[j], ed.stops[i]];
    } else if (b.hasAttribute("data-remove")) {
      ed.stops.splice(i, 1);
    }
    renderStops();
    renderCameras();
  });
  box.querySelector("#zw-te-form").addEventListener("submit", (e) => {
    e.preventDefault();
    save();
  });
  box.querySelector("#zw-te-delete").addEventListener("click", (e) => remove(e.currentTarget));
}

/** Open the editor on the tour ``tourId`` (none: the first, or a new one). */
export async function openTourEditor({ onChange = () => {}, tourId = null } = {}) {
  const box = panel();
  ed.onChange = onChange;
  const [tours, fov] = await Promise.all([api("/api/tours"), api("/api/cameras/fov")]);
  ed.cameras = (fov.features || [])
    .map((f) => f.properties || {})
    .filter((p) => p.id != null)
    .map((p) => ({ id: String(p.id), name: p.name || String(p.id) }))
    .sort((a, b) => a.name.localeCompare(b.name, "zh-CN"));
  ed.tours = tours;
  choose(tours.find((t) => String(t.id) === String(tourId)) || null);
  box.hidden = false;
  document.body.dataset.tourEditor = "open";
}

export function closeTourEditor() {
  const box = $("#zw-tour-editor");
  if (box) box.hidden = true;
  delete document.body.dataset.tourEditor;
}
