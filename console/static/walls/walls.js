/* zhizhi 智治 — the walls admin page: /walls (walls.manage: admins).
 *
 * Lists the walls of the admin's jurisdiction and those below it (GET /api/walls), edits one
 * (name, title, jurisdiction, slots: POST /api/walls, PUT|DELETE /api/walls/{id}), pairs the
 * screen showing a code to a slot (POST /api/walls/{id}/devices) and revokes paired screens
 * (DELETE /api/walls/{id}/devices/{device_id}: the screen's live link closes at once and it shows
 * the pairing page again). A user the console refuses (403) sees who may use the page instead.
 *
 * For tests: window.zhizhiWalls = {walls, current, devices}; body[data-ready] = "true" once
 * loaded (data-access "granted" or "denied").
 */

import { $, esc } from "../lib/dom.js";
import { fail } from "../lib/errors.js";
import { consolePagesHtml, mountHeader, showConfig } from "../lib/header.js";
import { ApiError, api, fetchWithToken, toLogin, token } from "../lib/session.js";

const PAGE_TITLE = "大屏管理 Walls";
const KINDS = { map: "地图", video: "视频", alerts: "告警看板", incident: "事件", custom: "自定义布局" };
const zwa = { walls: [], current: null, devices: [], units: [] };
window.zhizhiWalls = zwa;

function message(selector, text, state = "") {
  const box = $(selector);
  box.textContent = text;
  box.dataset.state = state;
}

function errorText(err) {
  return err instanceof ApiError ? `${err.status ? "HTTP " + err.status + "：" : ""}${err.detail || ""}` : String(err);
}

/** DELETE ``url`` (answered 204, no body); ApiError otherwise. */
async function remove204(url) {
  let resp;
  try {
    resp = await fetchWithToken(url, { method: "DELETE" });
  } catch (err) {
    throw new ApiError(url, 0, err.message);
  }
  if (resp.status === 401) toLogin();
  if (resp.ok) return;
  let detail = resp.statusText;
  try {
    detail = (await resp.json()).detail || detail;
  } catch (_) {
    // no JSON body: the status says it
  }
  throw new ApiError(url, resp.status, typeof detail === "string" ? detail : JSON.stringify(detail));
}

function stamp(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

// ------------------------------------------------------------------------------- the list

function renderList() {
  $("#zwa-walls").innerHTML = zwa.walls
    .map((w) => {
      const unit = zwa.units.find((u) => u.code === w.code);
      const current = zwa.current && zwa.current.id === w.id;
      return `<li><button type="button" data-wall="${w.id}" aria-current="${current}">${esc(w.title)}
        <span>${esc(w.name)} · ${esc(unit ? unit.name : w.code)} · ${w.slots.length} 屏</span></button></li>`;
    })
    .join("");
}

async function loadWalls() {
  zwa.walls = await api("/api/walls");
  renderList();
}

// ------------------------------------------------------------------------------- the form

function slotRow(slot = { name: "", kind: "map", title: "", layout: null, kiosk: true }) {
  const tr = document.createElement("tr");
  const options = Object.entries(KINDS)
    .map(([k, label]) => `<option value="${k}"${k === slot.kind ? " selected" : ""}>${label}</option>`)
    .join("");
  tr.innerHTML = `
    <td><input data-f="name" required maxlength="32" pattern="[a-z0-9][a-z0-9_\\-]{0,31}" value="${esc(slot.name)}" spellcheck="false"></td>
    <td><select data-f="kind">${options}</select></td>
    <td><input data-f="title" maxlength="64" value="${esc(slot.title || "")}"></td>
    <td><input data-f="layout" maxlength="64" value="${esc(slot.layout || "")}"></td>
    <td><input data-f="kiosk" type="checkbox"${slot.kiosk ? " checked" : ""}></td>
    <td><button type="button" class="zwa-button" data-remove>删除</button></td>`;
  tr.querySelector("[data-remove]").addEventListener("click", () => tr.remove());
  const layout = tr.querySelector('[data-f="layout"]');
  const kind = tr.querySelector('[data-f="kind"]');
  const sync = () => {
    layout.disabled = kind.value !== "custom";
  };
  kind.addEventListener("change", sync);
  sync();
  return tr;
}

function readSlots() {
  return [...$("#zwa-slots").querySelectorAll("tr")].map((tr) => {
    const f = (name) => tr.querySelector(`[data-f="${name}"]`);
    const kind = f("kind").value;
    return {
      name: f("name").value.trim(),
      kind,
      title: f("title").value.trim(),
      layout: kind === "custom" ? f("layout").value.trim() || null : null,
      kiosk: f("kiosk").checked,
    };
  });
}

function fillForm(wall) {
  zwa.current = wall;
  $("#zwa-edit-title").innerHTML = wall ? `${esc(wall.title)} <small>${esc(wall.name)}</small>` : "新建大屏 <small>New wall</small>";
  $("#zwa-name").value = wall ? wall.name : "";
  $("#zwa-title").value = wall ? wall.title : "";
  $("#zwa-code").value = wall ? wall.code : zwa.units[0] ? zwa.units[0].code : "";
  const rows = $("#zwa-slots");
  rows.innerHTML = "";
  const slots = wall
    ? wall.slots
    : [
        { name: "map", kind: "map", title: "左屏", kiosk: true },
        { name: "video", kind: "video", title: "中屏", kiosk: true },
        { name: "alerts", kind: "alerts", title: "右屏", kiosk: true },
      ];
  for (const slot of slots) rows.appendChild(slotRow(slot));
  $("#zwa-delete").hidden = !wall;
  $("#zwa-devices-card").hidden = !wall;
  message("#zwa-form-message", "");
  message("#zwa-pair-message", "");
  renderList();
  if (wall) {
    $("#zwa-pair-slot").innerHTML = wall.slots
      .map((s) => `<option value="${esc(s.name)}">${esc(s.title || s.name)} · ${KINDS[s.kind]}</option>`)
      .join("");
    loadDevices();
  }
}

async function save(event) {
  event.preventDefault();
  const body = {
    name: $("#zwa-name").value.trim(),
    title: $("#zwa-title").value.trim(),
    code: $("#zwa-code").value,
    slots: readSlots(),
  };
  try {
    const saved = zwa.current
      ? await api(`/api/walls/${zwa.current.id}`, { method: "PUT", body })
      : await api("/api/walls", { method: "POST", body });
    await loadWalls();
    fillForm(saved);
    message("#zwa-form-message", "已保存", "ok");
  } catch (err) {
    message("#zwa-form-message", `保存失败：${errorText(err)}`, "error");
  }
}

async function remove() {
  if (!zwa.current || !confirm(`删除大屏「${zwa.current.title}」？其配对屏幕将被注销。`)) return;
  try {
    await remove204(`/api/walls/${zwa.current.id}`);
  } catch (err) {
    message("#zwa-form-message", `删除失败：${errorText(err)}`, "error");
    return;
  }
  await loadWalls();
  fillForm(null);
}

// ------------------------------------------------------------------------------- devices

function renderDevices() {
  const wall = zwa.current;
  $("#zwa-device-rows").innerHTML = zwa.devices.length
    ? zwa.devices
        .map((d) => {
          const slot = wall.slots.find((s) => s.name === d.slot);
          return `<tr data-device="${d.id}"><td>${d.id}</td><td>${esc(slot ? slot.title || slot.name : d.slot)}</td>
            <td>${esc(d.label || "—")}</td>
            <td>${d.paired ? '<span class="zwa-paired">已配对</span>' : '<span class="zwa-waiting">待屏幕确认</span>'}</td>
            <td>${stamp(d.last_seen_at)}</td><td>${esc(d.created_by)}</td>
            <td><button type="button" class="zwa-button zwa-danger" data-revoke="${d.id}">注销</button></td></tr>`;
        })
        .join("")
    : '<tr><td colspan="7">尚无配对屏幕：在大屏电脑上打开 /wall/pair，把显示的配对码填入上方。</td></tr>';
}

async function loadDevices() {
  if (!zwa.current) return;
  zwa.devices = await api(`/api/walls/${zwa.current.id}/devices`);
  renderDevices();
}

async function pair(event) {
  event.preventDefault();
  const body = {
    code: $("#zwa-pair-code").value.trim(),
    slot: $("#zwa-pair-slot").value,
    label: $("#zwa-pair-label").value.trim(),
  };
  try {
    const device = await api(`/api/walls/${zwa.current.id}/devices`, { method: "POST", body });
    $("#zwa-pair-code").value = "";
    message("#zwa-pair-message", `已配对：屏幕 ${device.id} → ${device.slot}`, "ok");
  } catch (err) {
    const why =
      err instanceof ApiError && err.status === 404
        ? "没有屏幕显示此配对码（输错、已过期或已使用）"
        : err instanceof ApiError && err.status === 429
          ? "错误次数过多，请稍后再试"
          : errorText(err);
    message("#zwa-pair-message", `配对失败：${why}`, "error");
  }
  await loadDevices();
}

async function revoke(id) {
  if (!confirm(`注销屏幕 ${id}？它将断开并回到配对页面。`)) return;
  try {
    await remove204(`/api/walls/${zwa.current.id}/devices/${id}`);
    message("#zwa-pair-message", `屏幕 ${id} 已注销`, "ok");
  } catch (err) {
    message("#zwa-pair-message", `注销失败：${errorText(err)}`, "error");
  }
  await loadDevices();
}

// ------------------------------------------------------------------------------- start

function denied(err) {
  document.body.dataset.access = "denied";
  $("#zwa-denied").hidden = false;
  $("#zwa-denied-detail").textContent = errorText(err);
}

async function start() {
  if (!token()) {
    toLogin();
    return;
  }
  mountHeader({ subtitle: `${PAGE_TITLE}`, nav: consolePagesHtml() });
  try {
    showConfig(await api("/api/config"), PAGE_TITLE);
    const me = await api("/api/auth/me");
    const units = await api("/api/wall/units");
    zwa.units = units.filter((u) => u.code.startsWith(me.user.jurisdiction) && u.level !== "grid");
    $("#zwa-code").innerHTML = zwa.units
      .map((u) => `<option value="${esc(u.code)}">${esc(u.name)} (${esc(u.code)})</option>`)
      .join("");
    await loadWalls();
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) {
      denied(err);
      document.body.dataset.ready = "true";
      return;
    }
    fail("大屏加载失败 Walls failed to load", errorText(err));
    document.body.dataset.ready = "error";
    return;
  }
  document.body.dataset.access = "granted";
  $("#zwa-content").hidden = false;
  fillForm(zwa.walls[0] || null);
  $("#zwa-walls").addEventListener("click", (e) => {
    const button = e.target.closest("[data-wall]");
    if (button) fillForm(zwa.walls.find((w) => w.id === Number(button.dataset.wall)) || null);
  });
  $("#zwa-new").addEventListener("click", () => fillForm(null));
  $("#zwa-add-slot").addEventListener("click", () => $("#zwa-slots").appendChild(slotRow({ name: "", kind: "map", kiosk: true })));
  $("#zwa-form").addEventListener("submit", save);
  $("#zwa-delete").addEventListener("click", remove);
  $("#zwa-pair").addEventListener("submit", pair);
  $("#zwa-device-rows").addEventListener("click", (e) => {
    const button = e.target.closest("[data-revoke]");
    if (button) revoke(Number(button.dataset.revoke));
  });
  setInterval(() => loadDevices().catch(() => {}), 5000); // a screen collects its credential
  document.body.dataset.ready = "true";
}

start();
