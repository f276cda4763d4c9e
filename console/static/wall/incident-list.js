/* zhizhi 智治 — the open incidents on the wall's map screen: a card in the side panel listing
 * every active incident the user may see (kind, title, when opened). A click focuses it on the
 * whole wall ({"type": "wall", "action": "focus_incident"}: the map zooms to its area, the board
 * filters to it, the video tiles switch to its cameras); "结束" closes it (incident permission),
 * and the wall's rule switches back to its normal preset.
 *
 * Also timelineLine(entry): an incident timeline entry's line in Chinese (the alerts' from their
 * severity, rule and status; the console stores Chinese lines, older entries are rebuilt).
 *
 * createIncidentList(link, {canManage, onError}) returns {render(), element}.
 */

import { esc } from "../lib/dom.js";
import { fmtTime } from "../lib/format.js";
import { api } from "../lib/session.js";
import { INCIDENT, RULE, SEVERITY, STATUS } from "./vocabulary.js";

const KIND_LINE = { opened: "事件启动", closed: "事件关闭", note: "备注", impact_updated: "影响范围重新计算" };

/** An incident timeline entry's line, in Chinese. */
export function timelineLine(t) {
  const d = t.data || {};
  if ((t.kind === "alert" || t.kind === "action") && d.severity) {
    const sev = SEVERITY[d.severity] ? `${SEVERITY[d.severity].label}预警 ` : "";
    const rule = RULE[d.category] || "告警";
    const st = STATUS[d.status] ? STATUS[d.status].label : "状态更新";
    return t.kind === "alert" ? `${sev}${rule} 进入事件范围（${st}）` : `${sev}${rule} ${st}`;
  }
  if (/^[\x20-\x7e]*$/.test(t.text || "")) return KIND_LINE[t.kind] || "事件记录"; // no raw English lines
  return t.text;
}

function kindOf(incident) {
  return INCIDENT[incident.incident_type || incident.type] || INCIDENT.other;
}

export function createIncidentList(link, { canManage = false, onError = () => {} } = {}) {
  const card = document.createElement("section");
  card.className = "zz-card zw-inc-list-card";
  card.id = "zw-incident-list";
  card.innerHTML =
    `<h2>处置中事件 <small>Open incidents</small> <span class="zz-count" id="zw-inc-count">0</span></h2>` +
    `<ol class="zw-inc-list" id="zw-inc-list"></ol>`;

  function render() {
    const active = [...link.incidents.values()]
      .filter((i) => i.status === "active")
      .sort((a, b) => (b.created_ts || 0) - (a.created_ts || 0));
    card.querySelector("#zw-inc-count").textContent = String(active.length);
    const list = card.querySelector("#zw-inc-list");
    const focused = document.body.dataset.wallIncident;
    if (!active.length) {
      list.innerHTML = `<li class="zw-inc-none">暂无处置中事件</li>`;
      return;
    }
    list.innerHTML = active
      .map(
        (i) =>
          `<li class="zw-inc${i.id === focused ? " zw-inc-focused" : ""}" data-incident-id="${esc(i.id)}">` +
          `<button type="button" class="zw-inc-go" data-go>` +
          `<b class="zw-inc-kind">${esc(kindOf(i).label)}</b> <span class="zw-inc-title">${esc(i.title)}</span>` +
          `<span class="zw-inc-when">${esc(fmtTime(i.created_ts))}</span></button>` +
          (canManage ? `<button type="button" class="zw-inc-close" data-close>结束</button>` : "") +
          `</li>`,
      )
      .join("");
  }

  card.addEventListener("click", async (e) => {
    const li = e.target.closest("[data-incident-id]");
    if (!li) return;
    const id = li.dataset.incidentId;
    if (e.target.closest("[data-go]")) {
      link.focusIncident(id);
      return;
    }
    if (e.target.closest("[data-close]")) {
      const button = e.target.closest("[data-close]");
      button.disabled = true;
      try {
        await api(`/api/incidents/${encodeURIComponent(id)}/close`, { method: "POST", body: { note: "" } });
      } catch (err) {
        button.disabled = false;
        onError(`事件关闭失败：${err.detail || err.message || err}`);
      }
    }
  });

  for (const type of ["snapshot", "incident", "focus_incident", "preset"]) {
    link.addEventListener(type, () => setTimeout(render, 0));
  }
  render();
  return { render, element: card };
}
