/* zhizhi 智治 — the cameras page: /cameras, the camera registry of the user's jurisdiction.
 *
 * The table (GET /api/cameras, refreshed every REFRESH_MS): id, name, kind, town and grid,
 * live status, enabled, analysis rate, and a link to each camera's calibration page
 * (/static/calibrate/index.html?camera=<id>). A click on a row opens the camera's detail below the
 * table for every role (detail.js: its masks over its picture, its object filters per class, which
 * users with cameras.manage edit there: filters.js) and, for those users, the camera in the form;
 * the form adds (POST /api/cameras) or changes (PATCH /api/cameras/{id} with the revision it was read at,
 * so an edit made meanwhile elsewhere is refused, not overwritten) and deletes (a second click
 * confirms). A refused field is marked and named under the form. Stream URLs come back masked
 * for non-admins (rtsp://user:***@host/…); sent back unchanged they keep the stored password.
 *
 * The import (POST /api/cameras/import, multipart: file, crs, dry_run): "检查 Check" is a dry
 * run whose report (per row: add, update, unchanged, skip or error with the field) shows before
 * anything is stored; "导入 Import" opens only after a check without errors of the very file and
 * CRS now chosen. Users without cameras.manage (GET /api/auth/me) see the table only.
 *
 * For tests: window.zhizhiCameras = {cameras, report, editing, canManage, detail} (detail: the panel,
 * whose ``addSection`` lets another module add to it);
 * body[data-ready] = "true" once the table has loaded; #zc-report[data-state]: empty, checking,
 * valid, refused, importing, imported, failed.
 */

import { $, esc } from "../lib/dom.js";
import { fail } from "../lib/errors.js";
import { fmtInt } from "../lib/format.js";
import * as header from "../lib/header.js";
import { ApiError, api, fetchWithToken, toLogin, token } from "../lib/session.js";
import { adaptSection } from "./adapt.js";
import { createDetail } from "./detail.js";

const PAGE_TITLE = "摄像机台账 Cameras";
const REFRESH_MS = 15_000;
const KIND = { fixed: ["枪机", "fixed"], ptz: ["球机", "PTZ"], drone: ["无人机", "drone"] };
const STATUS = {
  online: ["在线", "online"],
  reconnecting: ["重连", "reconnecting"],
  offline: ["离线", "offline"],
  disabled: ["停用", "disabled"],
  "no stream": ["无视频流", "no stream"],
  unknown: ["未知", "unknown"],
};
const NUMBERS = ["lon", "lat", "heading_deg", "hfov_deg", "range_m", "height_m", "tilt_deg", "analysis_fps"];
const OPTIONAL = ["height_m", "tilt_deg", "stream_main", "stream_sub", "owner_code"];
const FIELD_INPUT = {
  id: "#zc-id", name: "#zc-name", kind: "#zc-kind", lon: "#zc-lon", lat: "#zc-lat", heading_deg: "#zc-heading",
  hfov_deg: "#zc-hfov", range_m: "#zc-range", height_m: "#zc-height", tilt_deg: "#zc-tilt", analysis_fps: "#zc-fps",
  stream_main: "#zc-stream-main", stream_sub: "#zc-stream-sub", owner_code: "#zc-owner", enabled: "#zc-enabled",
};
const DEFAULTS = { kind: "fixed", heading_deg: 0, hfov_deg: 60, range_m: 150, analysis_fps: 5, enabled: true };

const zc = { cameras: [], report: null, editing: null, canManage: false, checkedKey: null, detail: null };
window.zhizhiCameras = zc;

// ------------------------------------------------------------------------------------ the table

function statusCell(status) {
  const [zh, en] = STATUS[status] || [status, ""];
  return `<span class="zc-status" data-status="${esc(status)}" title="${esc(en)}">${esc(zh)}</span>`;
}

function placeCell(c) {
  const town = c.town_name ? `${esc(c.town_name)}` : "—";
  const grid = c.owner_name && c.owner_code !== c.town_code ? ` · ${esc(c.owner_name)}` : "";
  return `<span title="${esc(c.owner_code)}">${town}<small>${grid}</small></span>`;
}

function matches(c, text, show) {
  if (show === "enabled" && !c.enabled) return false;
  if (show === "disabled" && c.enabled) return false;
  if (show === "stream" && !c.stream_main) return false;
  if (!text) return true;
  return [c.id, c.name, c.town_name, c.owner_name, c.owner_code].some((v) => String(v || "").toLowerCase().includes(text));
}

function renderCounts() {
  const all = zc.cameras;
  const pairs = [
    ["总数 <small>Total</small>", all.length, "total"],
    ["启用 <small>Enabled</small>", all.filter((c) => c.enabled).length, "enabled"],
    ["有视频流 <small>Stream</small>", all.filter((c) => c.stream_main).length, "stream"],
    ["在线 <small>Online</small>", all.filter((c) => c.status === "online").length, "online"],
  ];
  $("#zc-counts").innerHTML = pairs
    .map(([label, n, key]) => `<div data-count="${key}"><dt>${label}</dt><dd>${fmtInt(n)}</dd></div>`)
    .join("");
}

function renderTable() {
  const text = $("#zc-filter").value.trim().toLowerCase();
  const show = $("#zc-show").value;
  const shown = zc.cameras.filter((c) => matches(c, text, show));
  $("#zc-rows").innerHTML = shown
    .map((c) => {
      const open = zc.editing || (zc.detail && zc.detail.camera);
      const selected = open && open.id === c.id ? " zc-selected" : "";
      const calibrate = `/static/calibrate/index.html?camera=${encodeURIComponent(c.id)}`;
      return `<tr data-id="${esc(c.id)}" class="zc-row${selected}" tabindex="0">
        <td><code>${esc(c.id)}</code></td>
        <td class="zc-name">${esc(c.name)}</td>
        <td title="${esc((KIND[c.kind] || [c.kind, c.kind])[1])}">${esc((KIND[c.kind] || [c.kind])[0])}</td>
        <td class="zc-place">${placeCell(c)}</td>
        <td>${statusCell(c.status)}</td>
        <td class="zc-on" data-on="${c.enabled}" title="${c.enabled ? "on" : "off"}">${c.enabled ? "是" : "否"}</td>
        <td class="zc-num">${esc(c.analysis_fps)}</td>
        <td><a class="zc-calibrate" href="${calibrate}" data-camera="${esc(c.id)}" title="Calibrate">标定</a></td>
      </tr>`;
    })
    .join("");
  $("#zc-empty").hidden = shown.length > 0;
  renderCounts();
}

async function loadCameras() {
  zc.cameras = await api("/api/cameras");
  renderTable();
  const shown = zc.detail && zc.detail.camera;
  const fresh = shown && zc.cameras.find((c) => c.id === shown.id);
  if (fresh) zc.detail.refresh(fresh);
}

/** A change stored from the detail (its filters): the form, if on the same camera, edits from it. */
async function detailSaved(saved) {
  if (zc.editing && zc.editing.id === saved.id) {
    zc.editing = saved;
    $("#zc-form-title").innerHTML = `编辑摄像机 <small>Edit ${esc(saved.id)} · revision ${esc(saved.revision)}</small>`;
  }
  await loadCameras().catch(() => {});
}

// ------------------------------------------------------------------------------------- the form

function showForm(camera) {
  zc.editing = camera;
  const form = $("#zc-form");
  form.hidden = false;
  clearErrors();
  $("#zc-form-msg").textContent = "";
  $("#zc-form-title").innerHTML = camera
    ? `编辑摄像机 <small>Edit ${esc(camera.id)} · revision ${esc(camera.revision)}</small>`
    : "新增摄像机 <small>Add a camera</small>";
  const values = camera || DEFAULTS;
  for (const [field, sel] of Object.entries(FIELD_INPUT)) {
    const input = $(sel);
    const value = values[field];
    if (input.type === "checkbox") input.checked = value === undefined ? true : Boolean(value);
    else input.value = value === undefined || value === null ? "" : String(value);
  }
  $("#zc-id").readOnly = Boolean(camera);
  const del = $("#zc-delete");
  del.hidden = !camera;
  del.dataset.confirm = "false";
  del.innerHTML = "删除 <small>Delete</small>";
  renderTable();
}

function clearErrors() {
  for (const sel of Object.values(FIELD_INPUT)) $(sel).closest("label").classList.remove("zc-invalid");
}

/** The form's fields as the API takes them; ``changedOnly``: those that differ from the camera edited. */
function formBody(changedOnly) {
  const body = {};
  for (const [field, sel] of Object.entries(FIELD_INPUT)) {
    const input = $(sel);
    let value;
    if (input.type === "checkbox") value = input.checked;
    else {
      const text = input.value.trim();
      if (text === "") value = OPTIONAL.includes(field) ? null : field === "name" ? "" : undefined;
      else value = NUMBERS.includes(field) ? Number(text) : text;
      if (NUMBERS.includes(field) && text !== "" && !Number.isFinite(value)) value = text; // the console names it
    }
    if (value === undefined) continue;
    if (changedOnly && zc.editing && sameValue(zc.editing[field], value)) continue;
    body[field] = value;
  }
  return body;
}

function sameValue(a, b) {
  return (a === null || a === undefined ? null : a) === (b === null || b === undefined ? null : b);
}

function showErrors(err) {
  const data = err instanceof ApiError ? err.body : null;
  const detail = data && data.detail;
  const lines = [];
  if (Array.isArray(detail)) {
    for (const e of detail) {
      const loc = (e.loc || []).filter((p) => p !== "body");
      const field = String(loc[0] || "");
      const sel = FIELD_INPUT[field];
      if (sel) $(sel).closest("label").classList.add("zc-invalid");
      lines.push(`${field || "—"}: ${e.msg}`);
    }
  } else {
    lines.push(typeof detail === "string" ? detail : err.message);
  }
  const status = err instanceof ApiError && err.status ? `HTTP ${err.status} · ` : "";
  $("#zc-form-msg").dataset.kind = "error";
  $("#zc-form-msg").textContent = `${status}${lines.join("；")}`;
}

async function save(event) {
  event.preventDefault();
  clearErrors();
  const editing = zc.editing;
  const msg = $("#zc-form-msg");
  msg.dataset.kind = "busy";
  msg.textContent = "保存中… Saving";
  try {
    let saved;
    if (editing) {
      const body = formBody(true);
      body.revision = editing.revision;
      saved = await api(`/api/cameras/${encodeURIComponent(editing.id)}`, { method: "PATCH", body });
    } else {
      saved = await api("/api/cameras", { method: "POST", body: formBody(false) });
    }
    await loadCameras();
    const fresh = zc.cameras.find((c) => c.id === saved.id) || saved;
    showForm(fresh);
    zc.detail.show(fresh);
    msg.dataset.kind = "ok";
    msg.textContent = `已保存 Saved: ${saved.id} · revision ${saved.revision} · ${saved.owner_code}`;
  } catch (err) {
    showErrors(err);
  }
}

async function remove() {
  const del = $("#zc-delete");
  const editing = zc.editing;
  if (!editing) return;
  if (del.dataset.confirm !== "true") {
    del.dataset.confirm = "true";
    del.innerHTML = `确认删除 ${esc(editing.id)}？ <small>Click again to delete</small>`;
    return;
  }
  try {
    await api(`/api/cameras/${encodeURIComponent(editing.id)}`, { method: "DELETE" });
    zc.editing = null;
    $("#zc-form").hidden = true;
    if (zc.detail.camera && zc.detail.camera.id === editing.id) zc.detail.hide();
    await loadCameras();
  } catch (err) {
    showErrors(err);
  }
}

// ----------------------------------------------------------------------------------- the import

function importKey() {
  const file = $("#zc-file").files[0];
  return file ? `${file.name}|${file.size}|${file.lastModified}|${$("#zc-crs").value}` : null;
}

function setReportState(state) {
  $("#zc-report").dataset.state = state;
  $("#zc-commit").disabled = !(state === "valid" && zc.checkedKey && zc.checkedKey === importKey());
}

const ACTION = {
  add: ["新增", "add"],
  update: ["更新", "update"],
  unchanged: ["不变", "unchanged"],
  skip: ["跳过", "skip"],
  error: ["错误", "error"],
};

function renderReport(report) {
  zc.report = report;
  const counts = ["added", "updated", "unchanged", "skipped", "errors"].map((k) => `${k} ${report[k]}`).join(" · ");
  const done = report.stored ? "已导入 Imported" : report.errors ? "有错误，未导入 Refused: nothing stored" : "检查通过 Valid (dry run)";
  $("#zc-report-summary").textContent = `${done} — ${report.rows} rows: ${counts}`;
  $("#zc-report-rows").innerHTML = report.items
    .map((item) => {
      const [zh, en] = ACTION[item.action] || [item.action, ""];
      const notes = [
        ...item.errors.map((e) => `<span class="zc-err">${esc(e.field)}: ${esc(e.message)}</span>`),
        ...item.warnings.map((w) => `<span class="zc-warn">${esc(w)}</span>`),
      ];
      return `<tr data-action="${esc(item.action)}"><td class="zc-num">${esc(item.row)}</td>
        <td><code>${esc(item.id || "—")}</code></td>
        <td><span class="zc-action" data-action="${esc(item.action)}">${esc(zh)} <small>${esc(en)}</small></span></td>
        <td>${notes.join("<br>") || (item.owner_code ? `<code>${esc(item.owner_code)}</code>` : "")}</td></tr>`;
    })
    .join("");
}

async function sendImport(dryRun) {
  const file = $("#zc-file").files[0];
  if (!file) {
    $("#zc-report-summary").textContent = "请选择文件 Choose a file first";
    return;
  }
  const key = importKey();
  setReportState(dryRun ? "checking" : "importing");
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("crs", $("#zc-crs").value);
  form.append("dry_run", dryRun ? "true" : "false");
  let resp;
  try {
    resp = await fetchWithToken("/api/cameras/import", { method: "POST", body: form });
  } catch (err) {
    $("#zc-report-summary").textContent = `网络错误 network error (${err.message})`;
    setReportState("failed");
    return;
  }
  if (resp.status === 401) return toLogin();
  const data = await resp.json().catch(() => null);
  if (data && Array.isArray(data.items)) {
    renderReport(data);
    zc.checkedKey = dryRun && data.errors === 0 ? key : null;
    setReportState(data.stored ? "imported" : data.errors ? "refused" : "valid");
    if (data.stored) await loadCameras();
    return;
  }
  const detail = data && data.detail;
  const text = Array.isArray(detail) ? detail.map((e) => e.msg).join("；") : detail || resp.statusText;
  zc.report = null;
  $("#zc-report-rows").innerHTML = "";
  $("#zc-report-summary").textContent = `HTTP ${resp.status} · ${text}`;
  setReportState("failed");
}

// ----------------------------------------------------------------------------------------- boot

async function boot() {
  if (!token()) return toLogin();
  const nav = typeof header.consolePagesHtml === "function" ? header.consolePagesHtml() : "";
  header.mountHeader({ subtitle: "摄像机台账 <span>Camera registry</span>", nav });
  try {
    const [config, me] = await Promise.all([api("/api/config"), api("/api/auth/me")]);
    header.showConfig(config, PAGE_TITLE);
    zc.canManage = (me.permissions || []).includes("cameras.manage");
    zc.detail = createDetail({ canManage: zc.canManage, onSaved: detailSaved, onClose: renderTable });
    zc.detail.addSection(adaptSection({ canManage: zc.canManage })); // 现场自适应 (adapt.js)
    await loadCameras();
  } catch (err) {
    header.showUnavailable("无法连接 Console unavailable");
    fail("摄像机台账加载失败 Cameras failed to load", err);
    return;
  }
  $("#zc-new").hidden = !zc.canManage;
  $("#zc-import").hidden = !zc.canManage;
  $("#zc-readonly").hidden = zc.canManage;
  $("#zc-filter").addEventListener("input", renderTable);
  $("#zc-show").addEventListener("change", renderTable);
  $("#zc-new").addEventListener("click", () => showForm(null));
  $("#zc-cancel").addEventListener("click", () => {
    zc.editing = null;
    $("#zc-form").hidden = true;
    renderTable();
  });
  $("#zc-form").addEventListener("submit", save);
  $("#zc-delete").addEventListener("click", remove);
  $("#zc-rows").addEventListener("click", (event) => {
    if (event.target.closest("a")) return; // the calibration link
    const row = event.target.closest("tr[data-id]");
    const camera = row && zc.cameras.find((c) => c.id === row.dataset.id);
    if (!camera) return;
    zc.detail.show(camera);
    if (zc.canManage) showForm(camera);
    else renderTable();
  });
  $("#zc-check").addEventListener("click", () => sendImport(true));
  $("#zc-commit").addEventListener("click", () => sendImport(false));
  for (const sel of ["#zc-file", "#zc-crs"]) {
    $(sel).addEventListener("change", () => {
      zc.checkedKey = null;
      setReportState(zc.report ? "stale" : "empty");
    });
  }
  setInterval(() => loadCameras().catch(() => {}), REFRESH_MS);
  document.body.dataset.ready = "true";
}

boot();
