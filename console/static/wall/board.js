/* zhizhi 智治 — the wall's alert board: /wall?screen=alerts&wall=NAME.
 *
 * The queue of the alerts the user may see, live from the websocket: open alerts by severity
 * (red first), newest first within a severity, then the ones closed during this session. A
 * click selects the alert on the whole wall ({"type": "wall", "action": "select_alert"}): the
 * map flies to it, the video tiles switch to the cameras that see it, and this board shows its
 * detail — place, cameras, times, status, responsible unit, the actions its status allows
 * (calling the REST endpoints), its evidence and its timeline (GET /api/alerts/{id}). Which
 * actions a status allows is the console's lifecycle (lifecycle.js), not a copy of it.
 *
 * For tests: window.zhizhiWall = {link, selectedId, timings, ...}; body[data-wall-ready].
 */

import { $, esc } from "../lib/dom.js";
import { fail } from "../lib/errors.js";
import { LEVEL, fmtAge, fmtTime } from "../lib/format.js";
import { api, toLogin, token } from "../lib/session.js";
import { isOpen, loadLifecycle, needsNote, targets } from "./lifecycle.js";
import { WallLink } from "./live.js";
import { showMedia } from "./media.js";
import { loadConfig, mountWallHeader, wallName } from "./screen.js";
import { Units } from "./units.js";
import { ACTION, SEVERITY, STATUS, compareAlerts, ruleEn, ruleLabel } from "./vocabulary.js";

const HISTORY_LABEL = {
  create: "生成告警 Created",
  transition: "状态变更 Status",
  escalate: "上报 Escalated",
  hand_down: "下派 Handed down",
  reminder: "提醒单 Reminder",
  supervision: "督办单 Supervision",
  update: "更新 Updated",
};

const wall = wallName();
const link = new WallLink(wall);
const zw = { screen: "alerts", wall, link, selectedId: null, selections: [], config: null };
window.zhizhiWall = zw;

let units = new Units();
let myCode = "";
const cameraNames = new Map();
const arrived = new Map(); // alert id -> when it arrived while this board was open (flashed briefly)

mountWallHeader({ screen: "alerts", title: "告警", titleEn: "Alerts", link });

// ---------------------------------------------------------------------------------- helpers

const within = (code, unit) => Boolean(code) && code.startsWith(unit);

/** How the responsible unit stands to the user: ours, below us, or above us. */
function relation(a) {
  if (a.assignee_unit === myCode) return { tag: "本级 Ours", ours: true, holds: true };
  if (within(a.assignee_unit, myCode)) return { tag: "下级 Below", ours: false, holds: true };
  return { tag: "上级 Above", ours: false, holds: false };
}

function unitText(code) {
  const u = units.byCode.get(code);
  return u ? `${u.name}${LEVEL[u.level] ? " · " + LEVEL[u.level] : ""}` : code || "—";
}

function cameraText(ids) {
  if (!ids || !ids.length) return "—";
  return ids.map((id) => cameraNames.get(id) || id).join("、");
}

// ------------------------------------------------------------------------------------ queue

function sorted() {
  return [...link.alerts.values()].sort(compareAlerts);
}

function renderQueue() {
  const list = $("#zw-list");
  const alerts = sorted();
  const counts = { red: 0, orange: 0, yellow: 0, blue: 0 };
  for (const a of alerts) if (isOpen(a.status) && a.severity in counts) counts[a.severity] += 1;
  $("#zw-sev-counts").innerHTML = Object.entries(counts)
    .map(
      ([sev, n]) =>
        `<span class="zw-sev-${sev}${n ? "" : " zw-zero"}" data-severity="${sev}" title="${esc(SEVERITY[sev].label)} ${esc(SEVERITY[sev].en)}">${n}</span>`,
    )
    .join("");
  if (!alerts.length) {
    list.innerHTML = `<li class="zw-empty">暂无告警<span>No open alerts</span></li>`;
    return;
  }
  const items = alerts.map((a) => {
    const sev = SEVERITY[a.severity] ? a.severity : "blue";
    const st = STATUS[a.status] || { label: a.status, en: "" };
    const rel = relation(a);
    const li = document.createElement("li");
    li.className = `zw-item zw-sev-${sev}`;
    if (!isOpen(a.status)) li.classList.add("zw-done");
    if (a.id === zw.selectedId) li.classList.add("zw-active");
    if (Date.now() - (arrived.get(a.id) || 0) < 4000) li.classList.add("zw-new-item");
    li.dataset.alertId = a.id;
    li.dataset.status = a.status;
    li.dataset.severity = a.severity;
    li.dataset.assignee = a.assignee_unit;
    li.tabIndex = 0;
    li.innerHTML =
      `<div class="zw-item-l1"><span class="zw-sev-chip">${esc(SEVERITY[sev].label)}</span>` +
      `<span class="zw-item-rule">${esc(ruleLabel(a))} <small>${esc(ruleEn(a))}</small></span>` +
      `<span class="zw-status-chip zw-st-${esc(a.status)}">${esc(st.label)} <small>${esc(st.en)}</small></span></div>` +
      `<div class="zw-item-l2">${esc(units.place(a))}</div>` +
      (a.details && a.details.plate
        ? `<div class="zw-item-vehicle" data-plate="${esc(a.details.plate)}">🚚 <b>${esc(a.details.plate)}</b> ${esc(cargoText(a.details))}</div>`
        : "") +
      `<div class="zw-item-l3">` +
      `<span>首次 <b>${esc(fmtTime(a.first_ts))}</b></span>` +
      `<span>最近 <b>${esc(fmtTime(a.last_ts))}</b> ${esc(fmtAge(a.last_ts))}</span>` +
      `<span>摄像头 <b>${esc((a.cameras || []).length)}</b></span>` +
      `<span>责任单位 <b class="zw-item-unit">${esc(units.name(a.assignee_unit))}</b> ${esc(rel.tag.split(" ")[0])}</span>` +
      `</div>`;
    li.addEventListener("click", () => choose(a.id));
    li.addEventListener("keydown", (e) => e.key === "Enter" && choose(a.id));
    return li;
  });
  list.replaceChildren(...items);
}

/** A click on the board: show it here at once, and move the whole wall. */
function choose(id) {
  select(id);
  zw.clickedAt = Date.now();
  link.select(id);
}

// ----------------------------------------------------------------------------------- detail

function select(id) {
  const changed = zw.selectedId !== id;
  zw.selectedId = id;
  for (const li of document.querySelectorAll("#zw-list .zw-item")) {
    li.classList.toggle("zw-active", li.dataset.alertId === id);
  }
  const active = document.querySelector(`#zw-list .zw-item[data-alert-id="${CSS.escape(id)}"]`);
  if (active) active.scrollIntoView({ block: "nearest" });
  if (changed) {
    $("#zw-note").value = "";
    setMessage("", "");
    $("#zw-timeline").innerHTML = "";
  }
  renderDetail();
  loadTimeline(id);
}

function renderDetail() {
  const a = zw.selectedId && link.alerts.get(zw.selectedId);
  $("#zw-detail-empty").hidden = Boolean(a);
  $("#zw-detail-content").hidden = !a;
  const detail = $("#zw-detail");
  if (!a) {
    delete detail.dataset.alertId;
    return;
  }
  detail.dataset.alertId = a.id;
  detail.dataset.status = a.status;
  detail.dataset.assignee = a.assignee_unit;
  const sev = SEVERITY[a.severity] || SEVERITY.blue;
  const st = STATUS[a.status] || { label: a.status, en: "" };
  const rel = relation(a);
  $("#zw-d-head").className = `zw-d-head zw-sev-${a.severity}`;
  $("#zw-d-head").innerHTML =
    `<span class="zw-sev-chip">${esc(sev.label)}预警 ${esc(sev.en)}</span>` +
    `<span class="zw-status-chip zw-st-${esc(a.status)}">${esc(st.label)} ${esc(st.en)}</span>` +
    `<code class="zw-d-id">${esc(a.id)}</code>` +
    `<div class="zw-d-rule" style="flex-basis:100%">${esc(ruleLabel(a))} <small>${esc(ruleEn(a))}</small></div>`;
  const overdue = a.deadline_ts && isOpen(a.status) && a.deadline_ts < Date.now() / 1000;
  const fact = (zh, en, html) => `<dt>${esc(zh)} <small>${esc(en)}</small></dt><dd>${html}</dd>`;
  $("#zw-d-facts").innerHTML =
    fact("地点", "Place", `<span style="color:var(--gold)">${esc(units.place(a))}</span> <code class="zz-unit-code">${esc(a.grid || "")}</code>`) +
    fact("坐标", "Position", `<code>${esc(Number(a.lon).toFixed(6))}, ${esc(Number(a.lat).toFixed(6))}</code>`) +
    fact("摄像头", "Cameras", esc(cameraText(a.cameras))) +
    fact("首次发现", "First seen", `${esc(fmtTime(a.first_ts))}`) +
    fact("最近发现", "Last seen", `${esc(fmtTime(a.last_ts))} · ${esc(fmtAge(a.last_ts))}${a.active ? "" : " · 已结束 ended"}`) +
    fact("责任单位", "Responsible", `<span id="zw-d-unit">${esc(unitText(a.assignee_unit))}</span><span class="zw-unit-tag${rel.ours ? " zw-ours" : ""}">${esc(rel.tag)}</span>`) +
    fact("处置时限", "Deadline", a.deadline_ts ? `<span style="${overdue ? "color:var(--danger);font-weight:700" : ""}">${esc(fmtTime(a.deadline_ts))}${overdue ? " 已超时 overdue" : ""}</span>` : "—") +
    fact("来源", "Source", esc([a.source, a.cls, a.channel, a.reporter].filter(Boolean).join(" · ")) + (a.text ? `<div>${esc(a.text)}</div>` : "")) +
    (a.details && a.details.plate
      ? fact("危化品车辆", "Hazmat vehicle",
          `<b data-field="plate">${esc(a.details.plate)}</b> · ${esc(a.details.company || "")}<div>${esc(cargoText(a.details))}` +
            `${a.details.fused ? " · 视频与北斗定位融合 video matched to BeiDou" : ""}</div>`)
      : "");
  renderActions(a, rel);
  renderEvidence(a);
}

/** A vehicle's cargo from an alert's details: "UN1203 · 第3类 class 3". */
function cargoText(d) {
  const parts = [];
  if (d.un_number) parts.push(`UN${d.un_number}`);
  if (d.hazard_class) parts.push(`第${d.hazard_class}类 class ${d.hazard_class}`);
  return parts.join(" · ");
}

function renderActions(a, rel) {
  const buttons = targets(a.status).map((to) => {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.to = to;
    const needs = needsNote(a.status, to);
    if (needs) {
      b.classList.add("zw-needs-note");
      b.title = "需填写说明 needs a note";
    }
    b.innerHTML = `${esc(ACTION[to].label)} <small>${esc(ACTION[to].en)}</small>`;
    b.addEventListener("click", () => act(a.id, "transition", { to, note: $("#zw-note").value.trim() }, needs));
    return b;
  });
  $("#zw-d-buttons").replaceChildren(...buttons);

  const open = isOpen(a.status);
  const held = $("#zw-d-held");
  held.hidden = rel.holds || !open;
  held.textContent = rel.holds ? "" : `由 ${unitText(a.assignee_unit)} 负责：上报、下派由该单位操作 · held by the unit above`;
  const escalate = $("#zw-escalate");
  escalate.disabled = !open || !rel.holds || a.assignee_unit.length <= 6;
  escalate.onclick = () => act(a.id, "escalate", { note: $("#zw-note").value.trim() });

  const choices = open && rel.holds ? units.below(a.assignee_unit, a.grid) : [];
  const select = $("#zw-unit");
  select.innerHTML = choices.length
    ? choices.map((u) => `<option value="${esc(u.code)}">${esc(LEVEL[u.level] || "")} ${esc(u.name)}</option>`).join("")
    : `<option value="">— 无下级单位 none below —</option>`;
  select.disabled = !choices.length;
  const down = $("#zw-hand-down");
  down.disabled = !choices.length;
  down.onclick = () => act(a.id, "hand_down", { unit: select.value, note: $("#zw-note").value.trim() });
}

function renderEvidence(a) {
  const ev = a.evidence || {};
  showMedia($("#zw-ev-snapshot"), "snapshot", a.id, ev.snapshot, "暂无快照", "No snapshot");
  showMedia($("#zw-ev-clip"), "clip", a.id, ev.clip, "暂无录像", "No clip");
}

let timelineSeq = 0;
let timelineTimer = null;

function loadTimeline(id, delay = 0) {
  clearTimeout(timelineTimer);
  timelineTimer = setTimeout(async () => {
    const seq = ++timelineSeq;
    let full;
    try {
      full = await api(`/api/alerts/${encodeURIComponent(id)}`);
    } catch (err) {
      if (seq === timelineSeq) setMessage(`时间线加载失败 Timeline failed: ${err.detail || err.message}`, "error");
      return;
    }
    if (seq !== timelineSeq || zw.selectedId !== id) return;
    renderTimeline(full.history || []);
  }, delay);
}

function renderTimeline(history) {
  const items = [...history].reverse().map((h) => {
    const li = document.createElement("li");
    li.className = `zw-tl-${h.action}`;
    li.dataset.action = h.action;
    let what = HISTORY_LABEL[h.action] || h.action;
    if (h.action === "transition" && h.to_status) {
      const from = STATUS[h.from_status] ? STATUS[h.from_status].label : h.from_status;
      what = `${STATUS[h.to_status] ? STATUS[h.to_status].label : h.to_status} ${STATUS[h.to_status] ? STATUS[h.to_status].en : ""}` +
        (from ? ` ← ${from}` : "");
    } else if ((h.action === "hand_down" || h.action === "escalate") && h.unit) {
      what += ` → ${units.name(h.unit)}`;
    } else if (h.action === "create" && h.unit) {
      what += ` → ${units.name(h.unit)}`;
    }
    li.innerHTML =
      `<span class="zw-tl-when">${esc(fmtTime(h.ts))}</span><span class="zw-tl-what">${esc(what)}</span>` +
      `<span class="zw-tl-who">${esc(h.actor === "system" ? "系统 system" : h.actor)}</span>` +
      (h.note ? `<div class="zw-tl-note">${esc(h.note)}</div>` : "");
    return li;
  });
  $("#zw-timeline").replaceChildren(...items);
  $("#zw-timeline").dataset.count = String(items.length);
}

function setMessage(text, kind) {
  const box = $("#zw-action-msg");
  box.textContent = text;
  box.dataset.kind = kind;
}

async function act(id, kind, body, needsNote = false) {
  if (needsNote && !body.note) {
    setMessage("请先填写处置说明 · Write a note first (needed for this step)", "error");
    $("#zw-note").focus();
    return;
  }
  if (kind === "hand_down" && !body.unit) return;
  const buttons = document.querySelectorAll("#zw-d-actions button");
  buttons.forEach((b) => (b.dataset.wasDisabled = String(b.disabled)));
  buttons.forEach((b) => (b.disabled = true));
  setMessage("提交中 Sending…", "");
  try {
    const updated = await api(`/api/alerts/${encodeURIComponent(id)}/${kind}`, { method: "POST", body });
    if (updated && updated.id) {
      // The websocket brings the same change to every screen; show it here without waiting.
      link.alerts.set(updated.id, Object.assign({}, link.alerts.get(updated.id) || {}, updated));
    }
    $("#zw-note").value = "";
    const done =
      kind === "transition"
        ? `${STATUS[body.to].label} ${STATUS[body.to].en}`
        : kind === "escalate"
          ? `上报至 escalated to ${units.name(updated.assignee_unit)}`
          : `下派至 handed down to ${units.name(body.unit)}`;
    setMessage(`已完成 Done: ${done}`, "ok");
    renderQueue();
    renderDetail();
    loadTimeline(id);
  } catch (err) {
    const allowed = err.body && Array.isArray(err.body.allowed) ? `（可选 allowed: ${err.body.allowed.join(", ")}）` : "";
    setMessage(`未完成 Refused (HTTP ${err.status}): ${err.detail || err.message}${allowed}`, "error");
    buttons.forEach((b) => (b.disabled = b.dataset.wasDisabled === "true"));
  }
}

// ----------------------------------------------------------------------------------- start

async function start() {
  if (!token()) {
    toLogin(); // nothing is asked of the console before the login
    return;
  }
  const [config, loaded, fov] = await Promise.all([
    loadConfig("告警"),
    Units.load(),
    api("/api/cameras/fov"),
    loadLifecycle(),
  ]);
  zw.config = config;
  myCode = (config.scope && config.scope.code) || "";
  units = loaded;
  for (const f of fov.features || []) {
    const p = f.properties || {};
    if (p.id != null) cameraNames.set(String(p.id), p.name || String(p.id));
  }
  renderQueue();
  link.addEventListener("snapshot", () => {
    renderQueue();
    renderDetail();
  });
  link.addEventListener("alert", (e) => {
    const a = e.detail;
    if (a.event === "new") arrived.set(a.id, Date.now());
    renderQueue();
    if (a.id === zw.selectedId) {
      renderDetail();
      loadTimeline(a.id, 150);
    }
  });
  link.addEventListener("select", (e) => {
    const sel = e.detail;
    const record = { alertId: sel.alert.id, receivedAt: sel.receivedAt, sentAt: link.lastSent && link.lastSent.at };
    zw.selections.push(record);
    if (!link.alerts.has(sel.alert.id)) link.alerts.set(sel.alert.id, sel.alert);
    renderQueue();
    select(sel.alert.id);
    record.appliedAt = Date.now();
  });
  link.addEventListener("error", (e) => setMessage(`大屏联动失败 Wall: ${(e.detail && e.detail.detail) || ""}`, "error"));
  link.start();
  setInterval(renderQueueAges, 15_000);
  document.body.dataset.wallReady = "true";
  document.body.dataset.ready = "true";
}

function renderQueueAges() {
  // Ages ("3 分钟前") and overdue marks go stale: redraw now and then (cheap for a wall's queue).
  renderQueue();
}

start().catch((err) => {
  fail("告警看板启动失败 The alert board failed to start", err);
  document.body.dataset.wallReady = "error";
  document.body.dataset.ready = "error";
});
