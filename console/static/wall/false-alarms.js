/* zhizhi 智治 — the board's "上周误报率 False alarms, last 7 days" panel.
 *
 * GET /api/alerts/false-alarm-rates?days=7: per rule and camera (camera_id null: reports
 * without a camera, such as BeiDou's), within the caller's jurisdiction, how many alerts there
 * were and how many were closed as false alarms, highest rate first. The panel lists the first
 * TOP that had a false alarm, each with a bar, so the analyst sees which rule on which camera
 * needs looking at. It is read at start, every REFRESH_MS, and shortly after an alert is
 * closed with a verdict.
 *
 * createFalseAlarmPanel(root, {cameraName}) -> {refresh(), soon(), rows}
 */

import { esc } from "../lib/dom.js";
import { api } from "../lib/session.js";
import { RULE, RULE_EN } from "./vocabulary.js";

const TOP = 8;
const DAYS = 7;
const REFRESH_MS = 5 * 60_000;
const SOON_MS = 1500;

const pct = (rate) => `${Math.round(100 * Math.max(0, Math.min(1, Number(rate) || 0)))}%`;

/** Where a rate stands: red from a third of the alerts, orange from a tenth. */
const level = (rate) => (rate >= 1 / 3 ? "high" : rate >= 0.1 ? "mid" : "low");

export function createFalseAlarmPanel(root, { cameraName = (id) => id } = {}) {
  const list = root.querySelector(".zw-fa-list");
  const panel = { rows: [], refresh, soon, loadedAt: null };
  let timer = null;
  let seq = 0;

  function render() {
    root.dataset.state = "ready";
    // Where to look: the rules and cameras that did raise false alarms (a 0 % row says nothing).
    const rows = panel.rows.filter((r) => Number(r.alerts) > 0 && Number(r.false_alarms) > 0).slice(0, TOP);
    if (!rows.length) {
      list.innerHTML = `<li class="zw-fa-none">上周无误报 <span>No false alarms in the last ${DAYS} days</span></li>`;
      return;
    }
    list.innerHTML = rows
      .map((r) => {
        const rule = RULE[r.rule] || r.rule || r.rule_id || "—";
        const camera = r.camera_id == null ? "无摄像头 no camera" : cameraName(String(r.camera_id));
        const rate = Number(r.rate) || 0;
        return (
          `<li class="zw-fa-row zw-fa-${level(rate)}" data-rule="${esc(r.rule || "")}" data-rule-id="${esc(r.rule_id || "")}"` +
          ` data-camera-id="${esc(r.camera_id == null ? "" : r.camera_id)}" data-rate="${esc(rate)}"` +
          ` title="${esc(r.rule_id || "")} · ${esc(r.camera_id || "")}">` +
          `<span class="zw-fa-what"><b>${esc(rule)}</b> <small>${esc(RULE_EN[r.rule] || "")}</small>` +
          `<span class="zw-fa-cam">${esc(camera)}</span></span>` +
          `<span class="zw-fa-bar"><i style="width:${esc(pct(rate))}"></i></span>` +
          `<b class="zw-fa-pct">${esc(pct(rate))}</b>` +
          `<span class="zw-fa-n">${esc(r.false_alarms)}/${esc(r.alerts)}</span>` +
          `</li>`
        );
      })
      .join("");
  }

  async function refresh() {
    clearTimeout(timer);
    timer = setTimeout(refresh, REFRESH_MS);
    const mine = ++seq;
    try {
      const answer = await api(`/api/alerts/false-alarm-rates?days=${DAYS}`);
      if (mine !== seq) return;
      panel.rows = Array.isArray(answer) ? answer : [];
      panel.loadedAt = Date.now();
      render();
    } catch (err) {
      if (mine !== seq) return;
      root.dataset.state = "error";
      list.innerHTML = `<li class="zw-fa-none">误报率暂不可用 <span>Rates unavailable (${esc(err.status ? "HTTP " + err.status : err.message)})</span></li>`;
    }
  }

  /** Read again shortly (an alert was just closed with a verdict): several closes, one read. */
  function soon() {
    clearTimeout(timer);
    timer = setTimeout(refresh, SOON_MS);
  }

  return panel;
}
