/* zhizhi 智治 — the patrol log (巡查记录) of the camera tours, for the shift report.
 *
 * One panel over the video screen: a tour's stops in a time range — this shift (the last 12 h)
 * unless another range is chosen (24 h, 7 days) — newest first, each with its time in the
 * deployment's zone, the camera's name and the snapshot the console took at that stop (a
 * ticketed URL as an <img>, never the login's token). "导出CSV" downloads the same range as
 * the console writes it (GET /api/tours/{id}/log.csv: UTF-8 with a BOM, Chinese headers).
 *
 * openPatrolLog({tourId}) opens it. For tests: window.zhizhiPatrolLog.
 */

import { $, esc } from "../lib/dom.js";
import { fmtDateTime } from "../lib/format.js";
import { api, withTicket } from "../lib/session.js";

const RANGES = [
  { s: 12 * 3600, label: "本班（近12小时）" },
  { s: 24 * 3600, label: "近24小时" },
  { s: 7 * 86400, label: "近7天" },
];
const SHOWN = 200; // rows listed at once (the CSV holds them all)

const pl = { tours: [], tourId: null, range: RANGES[0].s, entries: [], start: 0, end: 0 };
window.zhizhiPatrolLog = pl;

function panel() {
  let box = $("#zw-patrol-log");
  if (box) return box;
  box = document.createElement("section");
  box.id = "zw-patrol-log";
  box.className = "zw-te zw-pl";
  box.hidden = true;
  box.setAttribute("role", "dialog");
  box.setAttribute("aria-label", "巡查记录");
  box.innerHTML =
    `<div class="zw-te-head"><h2>巡查记录</h2>` +
    `<select id="zw-pl-tour" aria-label="巡航路线"></select>` +
    `<span class="zw-pl-ranges" role="group" aria-label="时间范围">` +
    RANGES.map((r) => `<button type="button" class="zw-te-btn" data-range="${r.s}">${r.label}</button>`).join("") +
    `</span>` +
    `<button type="button" id="zw-pl-csv" class="zw-te-btn zw-te-primary">导出CSV</button>` +
    `<button type="button" id="zw-pl-close" class="zw-te-btn">关闭</button></div>` +
    `<div class="zw-pl-summary" id="zw-pl-summary" role="status"></div>` +
    `<div class="zw-pl-table"><table><thead><tr><th>时间</th><th>摄像头</th><th>快照</th><th>值班员</th></tr></thead>` +
    `<tbody id="zw-pl-rows"></tbody></table></div>`;
  document.body.appendChild(box);
  box.querySelector("#zw-pl-close").addEventListener("click", closePatrolLog);
  box.querySelector("#zw-pl-tour").addEventListener("change", (e) => {
    pl.tourId = Number(e.target.value) || null;
    load();
  });
  box.querySelector(".zw-pl-ranges").addEventListener("click", (e) => {
    const b = e.target.closest("[data-range]");
    if (!b) return;
    pl.range = Number(b.dataset.range);
    load();
  });
  box.querySelector("#zw-pl-csv").addEventListener("click", () => exportCsv().catch((err) => say(err)));
  return box;
}

function say(err) {
  $("#zw-pl-summary").textContent = `未能读取巡查记录（${err.status ? "错误 " + err.status : "网络错误"}），请稍后重试`;
}

/** The CSV's URL for the range shown (with a ticket: a download link carries no header). */
export async function csvUrl() {
  return withTicket(`/api/tours/${pl.tourId}/log.csv?start=${pl.start}&end=${pl.end}`);
}

async function exportCsv() {
  if (!pl.tourId) return;
  const a = document.createElement("a");
  a.href = await csvUrl();
  a.download = "";
  document.body.appendChild(a);
  a.click();
  a.remove();
}

async function load() {
  for (const b of document.querySelectorAll("#zw-patrol-log [data-range]")) {
    b.setAttribute("aria-pressed", String(Number(b.dataset.range) === pl.range));
  }
  const rows = $("#zw-pl-rows");
  $("#zw-pl-csv").disabled = !pl.tourId;
  if (!pl.tourId) {
    rows.innerHTML = "";
    $("#zw-pl-summary").textContent = "暂无巡航路线";
    return;
  }
  pl.end = Math.ceil(Date.now() / 1000) + 1;
  pl.start = pl.end - 1 - pl.range;
  const asked = `${pl.tourId}/${pl.start}`;
  pl.asked = asked;
  let entries;
  try {
    entries = await api(`/api/tours/${pl.tourId}/log?start=${pl.start}&end=${pl.end}`);
  } catch (err) {
    say(err);
    return;
  }
  if (pl.asked !== asked) return; // a later choice's answer comes
  pl.entries = entries;
  const shown = [...entries].reverse().slice(0, SHOWN);
  $("#zw-pl-summary").textContent =
    `${fmtDateTime(pl.start)} 至 ${fmtDateTime(pl.end)} · 共 ${entries.length} 条` +
    (entries.length > shown.length ? `，显示最近 ${shown.length} 条（导出CSV含全部）` : "");
  rows.innerHTML = shown.length
    ? shown
        .map(
          (e) =>
            `<tr data-entry="${e.id}"><td class="zw-pl-time">${esc(fmtDateTime(e.ts))}</td>` +
            `<td title="${esc(e.camera_id)}">${esc(e.name || e.camera_id)}</td>` +
            `<td>${e.snapshot ? `<img class="zw-pl-thumb" alt="${esc(e.name || e.camera_id)} 快照" loading="lazy">` : "无快照"}</td>` +
            `<td>${esc(e.by)}</td></tr>`,
        )
        .join("")
    : `<tr><td colspan="4" class="zw-te-none">该时间范围内没有巡查记录</td></tr>`;
  for (const e of shown) {
    if (!e.snapshot) continue;
    const img = rows.querySelector(`tr[data-entry="${e.id}"] img`);
    withTicket(e.snapshot).then(
      (src) => {
        if (img.isConnected) img.src = src;
      },
      () => {},
    );
  }
}

/** Open the patrol log on the tour ``tourId`` (none: the first tour). */
export async function openPatrolLog({ tourId = null } = {}) {
  const box = panel();
  pl.tours = await api("/api/tours");
  const select = $("#zw-pl-tour");
  select.innerHTML = pl.tours.map((t) => `<option value="${t.id}">${esc(t.name)}</option>`).join("");
  const wanted = pl.tours.find((t) => String(t.id) === String(tourId)) || pl.tours[0];
  pl.tourId = wanted ? wanted.id : null;
  if (wanted) select.value = String(wanted.id);
  box.hidden = false;
  document.body.dataset.patrolLog = "open";
  await load();
}

export function closePatrolLog() {
  const box = $("#zw-patrol-log");
  if (box) box.hidden = true;
  delete document.body.dataset.patrolLog;
}
