/* zhizhi 智治 — the wall's alert board: /wall?screen=alerts&wall=NAME.
 *
 * The queue of the alerts the user may see, live from the websocket: open alerts by severity
 * (red first), newest first within a severity, then the ones closed during this session. A
 * click selects the alert on the whole wall ({"type": "wall", "action": "select_alert"}): the
 * map flies to it, the video tiles switch to the cameras that see it, and this board shows its
 * detail — place, cameras, times, status, responsible unit, the actions its status allows
 * (calling the REST endpoints), its evidence (the first camera's snapshot and clip, and a
 * thumbnail of each camera that joined it, whose click plays that camera's clip) and its
 * timeline (GET /api/alerts/{id}). Which
 * actions a status allows is the console's lifecycle (lifecycle.js), not a copy of it.
 *
 * What belongs together is one row (groups.js: the same open incident, else the same rule in
 * the same grid) with a count badge ("×3") that opens it: its members, and the bulk actions of
 * bulk.js (acknowledge all, close the others as duplicates of the first or the selected one,
 * close all as false alarms with a note). Below the queue, the rules and cameras with last
 * week's false-alarm rates (false-alarms.js).
 *
 * For tests: window.zhizhiWall = {link, selectedId, groups, falseAlarms, timings, ...};
 * body[data-wall-ready].
 */

import { $, esc } from "../lib/dom.js";
import { fail } from "../lib/errors.js";
import { LEVEL, fmtAge, fmtTime } from "../lib/format.js";
import { api, toLogin, token } from "../lib/session.js";
import { askNote, bulkAct } from "./bulk.js";
import { createFalseAlarmPanel } from "./false-alarms.js";
import { groupAlerts } from "./groups.js";
import { isOpen, loadLifecycle, needsNote, targets } from "./lifecycle.js";
import { WallLink } from "./live.js";
import { showMedia, showViews } from "./media.js";
import { playbackButton } from "./playback.js";
import { mountAlarm } from "./alarm.js";
import { createChecklist, watchSkips } from "./procedure.js";
import { markReadOnly, mayActOnAlerts } from "./readonly.js";
import { boardFilter, installBoardPresets } from "./presets.js";
import { loadConfig, mountWallHeader, wallName } from "./screen.js";
import { Units } from "./units.js";
import {
  ACTION,
  BULK,
  CLASS,
  CLASS_OTHER,
  FALSE_ALARM_CLOSE,
  INCIDENT,
  SEVERITY,
  SOURCE,
  STATUS,
  VERDICT,
  LIFECYCLE,
  compareAlerts,
  en,
  glossesOn,
  noteText,
  say,
  text,
  ruleEn,
  ruleLabel,
} from "./vocabulary.js";

/** A timeline entry's action in words (vocabulary.js LIFECYCLE; its gloss when glosses are on). */
const historyLabel = (action) => (LIFECYCLE[action] ? text(LIFECYCLE[action]) : "其他");

const wall = wallName();
const link = new WallLink(wall);
const zw = { screen: "alerts", wall, link, selectedId: null, selections: [], config: null, groups: [], mayAct: true };
window.zhizhiWall = zw;

let units = new Units();
let myCode = "";
const cameraNames = new Map();
const arrived = new Map(); // alert id -> when it arrived while this board was open (flashed briefly)
const expanded = new Set(); // keys of the groups opened on this board
const incidentOf = new Map(); // alert id -> incident id, from the incidents' timelines heard here
const falseAlarms = createFalseAlarmPanel($("#zw-fa"), { cameraName: (id) => cameraNames.get(id) || id });
zw.falseAlarms = falseAlarms;

mountWallHeader({ screen: "alerts", title: "告警", titleEn: "Alerts", link });
const checklist = createChecklist($("#zw-sop"), { changed: () => renderDetail() }); // the alert's SOP

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
  const alerts = boardFilter(sorted()); // all, or the focused incident's (presets.js)
  const counts = { red: 0, orange: 0, yellow: 0, blue: 0 };
  for (const a of alerts) if (isOpen(a.status) && a.severity in counts) counts[a.severity] += 1;
  $("#zw-sev-counts").innerHTML = Object.entries(counts)
    .map(
      ([sev, n]) =>
        `<span class="zw-sev-${sev}${n ? "" : " zw-zero"}" data-severity="${sev}" title="${esc(SEVERITY[sev].label)} ${esc(SEVERITY[sev].en)}">${n}</span>`,
    )
    .join("");
  const rows = groupAlerts(alerts, link.incidents, incidentOf);
  zw.groups = rows
    .filter((r) => r.kind !== "single")
    .map((r) => ({ key: r.key, kind: r.kind, lead: r.lead.id, ids: r.members.map((m) => m.id),
      incident: r.incident ? r.incident.id : null }));
  if (!alerts.length) {
    list.innerHTML = `<li class="zw-empty">暂无告警<span>No open alerts</span></li>`;
    return;
  }
  const scroll = list.scrollTop;
  list.replaceChildren(...rows.map((r) => (r.kind === "single" ? alertRow(r.lead, "li") : groupRow(r))));
  list.scrollTop = scroll;
}

/** The names of an alert's sources: "视频 · 北斗". */
function sourceNames(a, withEn = false) {
  const names = (a.sources && a.sources.length ? a.sources : [a.source]).filter(Boolean);
  return [...new Set(names)].map((s) => (SOURCE[s] ? SOURCE[s].label + (withEn ? ` ${SOURCE[s].en}` : "") : s));
}

/** A drawn mark (no emoji: the wall PCs have no emoji font): a tanker truck, a camera. */
const TRUCK_SVG =
  `<svg class="zw-mark" viewBox="0 0 32 20" aria-hidden="true"><rect x="1" y="4" width="19" height="10" rx="5"/>` +
  `<path d="M21 7h6l4 4v3h-10z"/><circle cx="7" cy="16" r="3"/><circle cx="25" cy="16" r="3"/></svg>`;
const CAMERA_SVG =
  `<svg class="zw-mark" viewBox="0 0 32 20" aria-hidden="true"><rect x="2" y="4" width="20" height="12" rx="2"/>` +
  `<path d="M23 8l7-4v12l-7-4z"/></svg>`;

/** The card's subject line: the vehicle (plate, company, cargo) or what saw it (source, cameras, class). */
function subjectHtml(a) {
  const d = a.details || {};
  if (d.plate) {
    const rest = [d.company, cargoText(d)].filter(Boolean).join(" · ");
    return `<div class="zw-item-line zw-item-vehicle" data-plate="${esc(d.plate)}" title="${esc(`${d.plate} ${rest}`)}">` +
      `${TRUCK_SVG}<b>${esc(d.plate)}</b> <span>${esc(rest)}</span></div>`;
  }
  const cams = (a.cameras || []).length;
  const parts = [sourceNames(a).join("·") || "—", `摄像头 ${cams} 路`];
  if (a.cls) parts.push(CLASS[a.cls] ? CLASS[a.cls].label : CLASS_OTHER.label);
  const line = parts.join(" · ");
  return `<div class="zw-item-line zw-item-seen" title="${esc(line)}">${CAMERA_SVG}<span>${esc(line)}</span></div>`;
}

/**
 * One alert card: a fixed layout of four one-line rows (title; place; the vehicle or what saw
 * it; times and the responsible unit), each cut with an ellipsis and its full text in a title,
 * so that every card is as tall as every other whatever it carries.
 */
function cardHtml(a, st, verdict, rel, badge, group) {
  const sev = SEVERITY[a.severity] ? a.severity : "blue";
  const place = units.place(a);
  const unit = units.name(a.assignee_unit);
  const when = `首次 ${fmtTime(a.first_ts)} · 最近 ${fmtTime(a.last_ts)} ${fmtAge(a.last_ts)} · 责任单位 ${unit} ${rel.tag.split(" ")[0]}`;
  return (
    `<div class="zw-item-l1"><span class="zw-sev-chip">${esc(SEVERITY[sev].label)}</span>` +
    `<span class="zw-item-rule" title="${esc(ruleLabel(a))}">${esc(ruleLabel(a))}${gloss(ruleEn(a))}</span>${badge}` +
    (verdict ? `<span class="zw-verdict zw-v-${esc(a.verdict)}">${esc(verdict.label)}${gloss(en(verdict))}</span>` : "") +
    `<span class="zw-status-chip zw-st-${esc(a.status)}">${esc(st.label)}${gloss(en(st))}</span></div>` +
    `<div class="zw-item-line zw-item-l2" title="${esc(place)}">${esc(place)}</div>` +
    (group ? `<div class="zw-item-line zw-group-why">${groupWhy(group)}</div>` : "") +
    subjectHtml(a) +
    `<div class="zw-item-line zw-item-l3" title="${esc(when)}">` +
    `<span>首次 <b>${esc(fmtTime(a.first_ts))}</b></span>` +
    `<span>最近 <b>${esc(fmtTime(a.last_ts))}</b> ${esc(fmtAge(a.last_ts))}</span>` +
    `<span>责任单位 <b class="zw-item-unit">${esc(unit)}</b> ${esc(rel.tag.split(" ")[0])}</span>` +
    `</div>`
  );
}

/** A small English gloss (shown only when glosses are on: theme.js). */
const gloss = (words) => (words ? ` <small class="zw-gloss">${esc(words)}</small>` : "");

/** One alert's row (a plain row, a group's first row, or a member of an opened group). */
function alertRow(a, tag, group = null) {
  const sev = SEVERITY[a.severity] ? a.severity : "blue";
  const st = STATUS[a.status] || { label: a.status, en: "" };
  const rel = relation(a);
  const verdict = a.verdict && VERDICT[a.verdict];
  const li = document.createElement(tag);
  li.className = `zw-item zw-sev-${sev}`;
  if (!isOpen(a.status)) li.classList.add("zw-done");
  if (a.id === zw.selectedId) li.classList.add("zw-active");
  if (Date.now() - (arrived.get(a.id) || 0) < 4000) li.classList.add("zw-new-item");
  li.dataset.alertId = a.id;
  li.dataset.status = a.status;
  li.dataset.severity = a.severity;
  li.dataset.assignee = a.assignee_unit;
  if (a.verdict) li.dataset.verdict = a.verdict;
  li.tabIndex = 0;
  const badge = group
    ? `<button type="button" class="zw-group-count" data-count="${group.members.length}" aria-expanded="${expanded.has(group.key)}"` +
      ` title="${esc(`${group.members.length} 条告警 alerts · 展开 open`)}">×${group.members.length}</button>`
    : "";
  li.innerHTML = cardHtml(a, st, verdict, rel, badge, group);
  li.addEventListener("click", (e) => {
    e.stopPropagation();
    choose(a.id);
  });
  li.addEventListener("keydown", (e) => e.key === "Enter" && choose(a.id));
  if (group) {
    li.querySelector(".zw-group-count").addEventListener("click", (e) => {
      e.stopPropagation();
      toggleGroup(group.key);
    });
  }
  return li;
}

/** Why a group's alerts are together, on its first row. */
function groupWhy(group) {
  const n = group.members.length;
  if (group.kind === "incident") {
    const i = group.incident;
    const kind = INCIDENT[i.incident_type || i.type] || INCIDENT.other;
    return `同一事件 <small>Same incident</small> · <b>${esc(kind.label)}</b> ${esc(i.title || "")} · <b>${n}</b> 条 <small>alerts</small>`;
  }
  return `同一规则、同一网格 <small>Same rule, same grid</small> · <b>${n}</b> 条 <small>alerts</small>`;
}

function toggleGroup(key) {
  if (expanded.has(key)) expanded.delete(key);
  else expanded.add(key);
  renderQueue();
}

const can = (to) => (a) => targets(a.status).includes(to);

/** The alert the others of ``group`` duplicate: the selected one if it is a member, else the first. */
function keeper(group) {
  return group.members.find((m) => m.id === zw.selectedId) || group.lead;
}

/** The ids each bulk action of ``group`` would move (those whose status allows it). */
function bulkIds(group) {
  const keep = keeper(group);
  return {
    acknowledge: group.members.filter(can("acknowledged")).map((m) => m.id),
    close_duplicate: group.members.filter((m) => m.id !== keep.id && can("closed")(m)).map((m) => m.id),
    close_false_alarm: group.members.filter(can("closed")).map((m) => m.id),
  };
}

/** A group: its first alert's row with the count badge; opened, the bulk actions and the others. */
function groupRow(group) {
  const open = expanded.has(group.key);
  const li = document.createElement("li");
  li.className = `zw-group zw-sev-${SEVERITY[group.lead.severity] ? group.lead.severity : "blue"}`;
  li.classList.toggle("zw-open", open);
  li.dataset.groupKey = group.key;
  li.dataset.kind = group.kind;
  li.dataset.count = String(group.members.length);
  li.dataset.lead = group.lead.id;
  li.dataset.expanded = String(open);
  const head = alertRow(group.lead, "div", group);
  head.classList.add("zw-group-lead");
  const body = document.createElement("div");
  body.className = "zw-group-body";
  body.hidden = !open;
  if (zw.mayAct) {
    const ids = bulkIds(group);
    const keep = keeper(group);
    const bar = document.createElement("div");
    bar.className = "zw-bulk";
    bar.innerHTML =
      `<div class="zw-bulk-buttons">` +
      Object.entries(BULK)
        .map(
          ([action, v]) =>
            `<button type="button" data-bulk="${action}" data-n="${ids[action].length}"${ids[action].length ? "" : " disabled"}>` +
            `<span>${esc(v.short)} <b>${ids[action].length}</b></span><small>${esc(v.en)}</small></button>`,
        )
        .join("") +
      `</div><div class="zw-bulk-keep" data-keep="${esc(keep.id)}">重复关闭时保留 <small>Kept open as the original:</small> ` +
      `<b>${esc(keep.id === group.lead.id ? "第一条 the first" : "选中的 the selected")}</b> <code>${esc(keep.id)}</code></div>`;
    for (const b of bar.querySelectorAll("button[data-bulk]")) {
      b.addEventListener("click", (e) => {
        e.stopPropagation();
        runBulk(group, b.dataset.bulk);
      });
    }
    body.append(bar);
  }
  const members = document.createElement("ul");
  members.className = "zw-group-members";
  members.append(...group.members.slice(1).map((m) => alertRow(m, "li")));
  body.append(members);
  li.append(head, body);
  return li;
}

let bulkMessageTimer = null;

function bulkMessage(text, kind) {
  const box = $("#zw-bulk-msg");
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = !text;
  clearTimeout(bulkMessageTimer);
  // A result stays while the room reads it, then gives the queue its room back.
  if (text && kind) bulkMessageTimer = setTimeout(() => bulkMessage("", ""), kind === "ok" ? 20_000 : 60_000);
}

/** One of a group's bulk actions: its note asked where needed, then POST /api/alerts/bulk. */
async function runBulk(group, action) {
  const ids = bulkIds(group)[action];
  if (!ids.length) return;
  const keep = keeper(group);
  const what = `${esc(ruleLabel(group.lead))} · ${esc(units.place(group.lead))}`;
  let note = "";
  if (action === "close_false_alarm") {
    note = await askNote({
      action, title: BULK[action].label, titleEn: BULK[action].en, required: true,
      confirm: FALSE_ALARM_CLOSE.label, confirmEn: FALSE_ALARM_CLOSE.en,
      summary: `<b>${ids.length}</b> 条告警以误报关闭 <small>alerts closed as false alarms</small><div>${what}</div>`,
    });
  } else if (action === "close_duplicate") {
    note = await askNote({
      action, title: BULK[action].label, titleEn: BULK[action].en, required: false,
      confirm: "作为重复关闭", confirmEn: "Close as duplicates",
      summary: `<b>${ids.length}</b> 条告警作为重复关闭 <small>alerts closed as duplicates</small><div>${what}</div>` +
        `<div>保留 <small>kept open:</small> <code>${esc(keep.id)}</code></div>`,
    });
    // No note: the console's audit says whose duplicate it is.
  }
  if (note === null) return; // cancelled
  bulkMessage("提交中 Sending…", "");
  let answer;
  try {
    answer = await bulkAct(ids, action, { note, duplicateOf: action === "close_duplicate" ? keep.id : null });
  } catch (err) {
    bulkMessage(`未完成 Refused (HTTP ${err.status}): ${err.detail || err.message}`, "error");
    return;
  }
  const done = Array.isArray(answer && answer.done) ? answer.done : [];
  const failed = Array.isArray(answer && answer.failed) ? answer.failed : [];
  for (const u of done) {
    // The websocket brings the same changes to every screen; show them here without waiting.
    if (u && u.id) link.alerts.set(u.id, Object.assign({}, link.alerts.get(u.id) || {}, u));
  }
  const refused = failed.map((f) => `${f.id} (HTTP ${f.status}: ${f.detail})`).join("; ");
  bulkMessage(
    `${BULK[action].label} ${BULK[action].en}: 已完成 done ${done.length}` + (failed.length ? ` · 未完成 refused ${failed.length}: ${refused}` : ""),
    failed.length ? "error" : "ok",
  );
  if (action !== "acknowledge") falseAlarms.soon();
  renderQueue();
  renderDetail();
  if (zw.selectedId && ids.includes(zw.selectedId)) loadTimeline(zw.selectedId);
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
  const group = zw.groups.find((g) => g.ids.includes(id));
  if (group && changed) {
    expanded.add(group.key); // a member chosen here or on another screen: its group opens
    renderQueue(); // (also: the selected member is the one the others duplicate)
  }
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
    `<span class="zw-sev-chip">${esc(sev.label)}预警${gloss(en(sev))}</span>` +
    `<span class="zw-status-chip zw-st-${esc(a.status)}">${esc(st.label)}${gloss(en(st))}</span>` +
    `<code class="zw-d-id">${esc(a.id)}</code>` +
    `<div class="zw-d-rule" style="flex-basis:100%">${esc(ruleLabel(a))} <small>${esc(ruleEn(a))}</small></div>`;
  const overdue = a.deadline_ts && isOpen(a.status) && a.deadline_ts < Date.now() / 1000;
  const fact = (zh, en, html) => `<dt>${esc(zh)} <small>${esc(en)}</small></dt><dd>${html}</dd>`;
  $("#zw-d-facts").innerHTML =
    fact("地点", "Place", `<span style="color:var(--gold)">${esc(units.place(a))}</span> <code class="zz-unit-code">${esc(a.grid || "")}</code>`) +
    fact("坐标", "Position", `<code>${esc(Number(a.lon).toFixed(6))}, ${esc(Number(a.lat).toFixed(6))}</code>`) +
    fact("摄像头", "Cameras", esc(cameraText(a.cameras))) +
    fact("首次发现", "First seen", `${esc(fmtTime(a.first_ts))}`) +
    fact("最近发现", "Last seen", `${esc(fmtTime(a.last_ts))} · ${esc(fmtAge(a.last_ts))}${a.active ? "" : ` · ${text(LIFECYCLE.condition_ended)}`}`) +
    fact("责任单位", "Responsible", `<span id="zw-d-unit">${esc(unitText(a.assignee_unit))}</span><span class="zw-unit-tag${rel.ours ? " zw-ours" : ""}">${esc(rel.tag.split(" ")[0])}${gloss(rel.tag.split(" ")[1] || "")}</span>`) +
    fact("处置时限", "Deadline", a.deadline_ts ? `<span style="${overdue ? "color:var(--danger);font-weight:700" : ""}">${esc(fmtTime(a.deadline_ts))}${overdue ? ` ${text(LIFECYCLE.overdue)}` : ""}</span>` : "—") +
    fact("来源", "Source",
      `<span data-field="sources">${esc(sourceNames(a, glossesOn()).join(" + "))}</span>` +
        esc([a.cls && (CLASS[a.cls] || CLASS_OTHER).label, a.channel, a.reporter].filter(Boolean).map((x) => ` · ${x}`).join("")) +
        (a.text ? `<div>${esc(a.text)}</div>` : "")) +
    fact("合并", "Folded in", foldedText(a)) +
    (a.verdict ? fact("结论", "Verdict", verdictText(a)) : "") +
    (a.details && a.details.plate
      ? fact("危化品车辆", "Hazmat vehicle",
          `<b data-field="plate">${esc(a.details.plate)}</b> · ${esc(a.details.company || "")}<div>${esc(cargoText(a.details))}` +
            `${a.details.fused ? " · 视频与北斗定位融合 video matched to BeiDou" : ""}</div>`)
      : "");
  const dup = $("#zw-d-facts .zw-dup-of");
  if (dup) {
    dup.addEventListener("click", (e) => {
      e.preventDefault();
      if (link.alerts.has(dup.dataset.alertId)) choose(dup.dataset.alertId);
    });
  }
  checklist.show(a, zw.mayAct);
  renderActions(a, rel);
  renderEvidence(a);
}

/** What the alert service folded into the alert: tracks, cameras, BeiDou vehicles. */
function foldedText(a) {
  const members = Array.isArray(a.members) ? a.members : [];
  const tracks = new Set(members.filter((m) => m.track_id != null).map((m) => `${m.camera_id || ""}#${m.track_id}`));
  if (!tracks.size) for (const t of a.track_ids || (a.track_id != null ? [a.track_id] : [])) tracks.add(String(t));
  const cameras = new Set(members.map((m) => m.camera_id).filter(Boolean));
  if (!cameras.size && a.camera_id) cameras.add(a.camera_id);
  const vehicles = new Set(members.map((m) => m.vehicle_id).filter(Boolean));
  const parts = [
    `<b data-field="tracks">${tracks.size}</b> 条轨迹 <small>tracks</small>`,
    `<b data-field="cameras">${cameras.size}</b> 个摄像头 <small>cameras</small>`,
  ];
  if (vehicles.size) parts.push(`<b data-field="vehicles">${vehicles.size}</b> 辆北斗车辆 <small>BeiDou vehicles</small>`);
  return parts.join(" · ");
}

/** A closed alert's verdict: "误报 False alarm", "重复 Duplicate of <id>". */
function verdictText(a) {
  const v = VERDICT[a.verdict] || { label: a.verdict, en: "" };
  const of = a.duplicate_of
    ? ` · 同 <small>of</small> <a href="#" class="zw-dup-of" data-alert-id="${esc(a.duplicate_of)}"><code>${esc(a.duplicate_of)}</code></a>`
    : "";
  return `<b class="zw-verdict zw-v-${esc(a.verdict)}" data-field="verdict">${esc(v.label)} <small>${esc(v.en)}</small></b>${of}`;
}

/** A vehicle's cargo from an alert's details: "UN1203 · 第3类 class 3". */
function cargoText(d) {
  const parts = [];
  if (d.un_number) parts.push(/^UN/i.test(String(d.un_number)) ? String(d.un_number) : `UN${d.un_number}`);
  if (d.hazard_class) parts.push(`第${d.hazard_class}类`);
  return parts.join(" · ");
}

function renderActions(a, rel) {
  $("#zw-d-actions").hidden = !zw.mayAct; // read only: no buttons that would answer 403
  if (!zw.mayAct) {
    $("#zw-d-buttons").replaceChildren();
    return;
  }
  const buttons = targets(a.status).map((to) => {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.to = to;
    // resolving with required SOP steps unticked needs a note too (procedure.js)
    const needs = needsNote(a.status, to) || (to === "resolved" && checklist.requiredLeft(a.id).length > 0);
    if (needs) {
      b.classList.add("zw-needs-note");
      b.title = "需填写说明 needs a note";
    }
    b.innerHTML = `${esc(ACTION[to].label)} <small>${esc(ACTION[to].en)}</small>`;
    b.addEventListener("click", () => act(a.id, "transition", { to, note: $("#zw-note").value.trim() }, needs));
    return b;
  });
  if (targets(a.status).includes("closed")) {
    // Beside the plain close: closed as a false alarm, which says why (the false-alarm rates count it).
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.to = "closed";
    b.dataset.verdict = "false_alarm";
    b.className = "zw-needs-note zw-false-alarm";
    b.title = "需填写误报原因 needs a note saying why";
    b.innerHTML = `${esc(FALSE_ALARM_CLOSE.label)} <small>${esc(FALSE_ALARM_CLOSE.en)}</small>`;
    b.addEventListener("click", () =>
      act(a.id, "transition", { to: "closed", verdict: "false_alarm", note: $("#zw-note").value.trim() }, true));
    buttons.push(b);
  }
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
  // the clip box plays the first camera's clip, or that of a joined camera whose thumbnail was clicked
  showViews($("#zw-ev-views"), $("#zw-ev-clip"), $("#zw-ev-clip-of"), a, (id) => cameraNames.get(id) || id);
  playbackButton($("#zw-d-evidence"), a, (id) => cameraNames.get(id) || id);
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
    let what = historyLabel(h.action);
    if (h.action === "transition" && h.to_status) {
      const from = h.from_status ? say(STATUS, h.from_status) : "";
      what = (STATUS[h.to_status] ? text(STATUS[h.to_status]) : "其他") + (from ? ` ← ${from}` : "");
    } else if ((h.action === "hand_down" || h.action === "escalate") && h.unit) {
      what += ` → ${units.name(h.unit)}`;
    } else if (h.action === "create" && h.unit) {
      what += ` → ${units.name(h.unit)}`;
    }
    li.innerHTML =
      `<span class="zw-tl-when">${esc(fmtTime(h.ts))}</span><span class="zw-tl-what">${esc(what)}</span>` +
      `<span class="zw-tl-who">${esc(h.actor === "system" ? text(LIFECYCLE.system) : h.actor)}</span>` +
      (h.note ? `<div class="zw-tl-note">${esc(noteText(h.note))}</div>` : "");
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
    const verdict = body.verdict && VERDICT[body.verdict];
    if (verdict) falseAlarms.soon();
    const done =
      kind === "transition"
        ? `${STATUS[body.to].label} ${STATUS[body.to].en}${verdict ? ` · ${verdict.label} ${verdict.en}` : ""}`
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
  const [config, loaded, fov, me] = await Promise.all([
    loadConfig("告警"),
    Units.load(),
    api("/api/cameras/fov"),
    api("/api/auth/me").catch(() => null), // unknown: the actions are offered, the console decides
    loadLifecycle(),
  ]);
  zw.config = config;
  zw.mayAct = mayActOnAlerts(me); // a paired screen or a reader: no action buttons (readonly.js)
  markReadOnly(!zw.mayAct);
  myCode = (config.scope && config.scope.code) || "";
  units = loaded;
  for (const f of fov.features || []) {
    const p = f.properties || {};
    if (p.id != null) cameraNames.set(String(p.id), p.name || String(p.id));
  }
  renderQueue();
  falseAlarms.refresh();
  link.addEventListener("snapshot", () => {
    renderQueue();
    renderDetail();
  });
  link.addEventListener("alert", (e) => {
    const a = e.detail;
    if (a.event === "new") arrived.set(a.id, Date.now());
    if (a.verdict && !isOpen(a.status)) falseAlarms.soon();
    renderQueue();
    if (a.id === zw.selectedId) {
      renderDetail();
      loadTimeline(a.id, 150);
    }
  });
  installBoardPresets(link, renderQueue);
  link.addEventListener("incident", (e) => {
    // An incident's area groups the alerts inside it; its timeline names the ones it linked.
    const m = e.detail || {};
    const entry = m.entry || {};
    if (m.event === "timeline" && entry.kind === "alert" && entry.alert_id) incidentOf.set(entry.alert_id, m.id);
    renderQueue();
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
  zw.skips = watchSkips(link, $("#zw-sop-notices"), { unitName: (c) => units.name(c), ruleName: ruleLabel });
  mountAlarm(link, "alerts", { board: true }).then((alarm) => (zw.alarm = alarm), (err) => fail("告警音启动失败", err));
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
