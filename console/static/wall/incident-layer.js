/* zhizhi 智治 — incidents (typhoon, flood, fire, chemical leak) on the wall's map.
 *
 * Every active incident the user may see is drawn as its hazard area (red, pulsing). Clicking
 * one focuses it on the whole wall ({"type": "wall", "action": "focus_incident"}); a focused
 * incident switches the screen to the incident layout: the map fits the area, the header
 * shows a red banner and the side panel an incident card — population, affected towns,
 * villages and grids, cameras and drones inside or near, nearest shelters, and the timeline.
 *
 * The areas lie in a pane of their own ("zw-incidents", above the tracks, below the alert
 * markers: a plume stays clickable between pulsing markers, whose rings take no clicks).
 * The timeline reads in Chinese (alerts' lines from their severity, rule and status).
 *
 * createIncidentLayer(map, link) returns {layer, areas, focused(), focus(id), unfocus(),
 * viewBefore()}: viewBefore is the map's view before the first focus (the normal preset's
 * "restore", presets.js).
 */

import { $, esc } from "../lib/dom.js";
import { fmtTime } from "../lib/format.js";
import { api, fetchWithToken } from "../lib/session.js";
import { timelineLine } from "./incident-list.js";
import { INCIDENT } from "./vocabulary.js";

const PANE = "zw-incidents";
const PANE_Z = 600;

const AREA_STYLE = {
  color: "#ff1744",
  weight: 3,
  fillColor: "#ff1744",
  fillOpacity: 0.12,
  dashArray: "10 6",
  className: "zw-incident-area",
  pane: PANE,
};

/** The incident's kind: "incident_type" on the websocket (its "type" is the message's), "type" in the REST API. */
function kind(incident) {
  return INCIDENT[incident.incident_type || incident.type] || INCIDENT.other;
}

function list(items, render, empty) {
  if (!items || !items.length) return `<p class="zz-hint">${empty}</p>`;
  return `<ol class="zw-incident-list">${items.map(render).join("")}</ol>`;
}

function distance(item) {
  return item.inside ? "区内" : `${Math.round(item.distance_m)} 米`;
}

export function createIncidentLayer(map, link) {
  if (!map.getPane(PANE)) map.createPane(PANE).style.zIndex = String(PANE_Z);
  const layer = L.layerGroup().addTo(map);
  const areas = new Map(); // id -> L.GeoJSON
  let focusedId = null;
  let before = null; // the map's view before the first focus: {center, zoom}

  function draw() {
    layer.clearLayers();
    areas.clear();
    for (const incident of link.incidents.values()) {
      if (incident.status !== "active" || !incident.geometry) continue;
      const area = L.geoJSON(incident.geometry, { style: () => AREA_STYLE, pane: PANE });
      area.bindTooltip(
        `<div class="zz-tip-kind">${esc(kind(incident).label)} <small>${esc(kind(incident).en)}</small></div>` +
          `<div class="zz-tip-name">${esc(incident.title)}</div>`,
        { sticky: true, className: "zz-tip", opacity: 1 },
      );
      area.on("click", (e) => {
        L.DomEvent.stopPropagation(e);
        link.focusIncident(incident.id);
      });
      area.addTo(layer);
      area.eachLayer((l) => {
        const el = l.getElement && l.getElement();
        if (el) el.dataset.incidentId = incident.id;
      });
      areas.set(incident.id, area);
    }
    if (focusedId && !areas.has(focusedId)) unfocus();
  }

  function unfocus() {
    focusedId = null;
    document.body.classList.remove("zw-incident-mode");
    delete document.body.dataset.wallIncident;
    const card = $("#zw-incident");
    if (card) card.hidden = true;
    const banner = $("#zw-incident-banner");
    if (banner) banner.remove();
  }

  async function focus(incident) {
    if (!focusedId && !before) before = { center: map.getCenter(), zoom: map.getZoom() };
    focusedId = incident.id;
    const area = areas.get(incident.id);
    // Fit the whole area, clear of the layer controls on the right.
    if (area) map.fitBounds(area.getBounds(), { paddingTopLeft: [40, 80], paddingBottomRight: [320, 60], animate: false });
    document.body.classList.add("zw-incident-mode");
    document.body.dataset.wallIncident = incident.id;
    if (!$("#zw-incident-banner")) {
      const banner = document.createElement("span");
      banner.id = "zw-incident-banner";
      banner.className = "zw-incident-banner";
      const wrap = $(".zz-map-wrap");
      if (wrap) wrap.append(banner);
    }
    $("#zw-incident-banner").textContent = `战时 · ${kind(incident).label} ${incident.title}`;
    await renderCard(incident.id);
  }

  async function renderCard(id) {
    let card = $("#zw-incident");
    if (!card) {
      card = document.createElement("section");
      card.id = "zw-incident";
      card.className = "zz-card zw-incident-card";
      const panel = $(".zz-panel");
      if (!panel) return;
      // Below the open incidents' list and the drawing card (incident-draw.js), else on top.
      const above = $("#zw-incident-draw") || $("#zw-incident-list");
      if (above) above.after(card);
      else panel.prepend(card);
    }
    const [incident, timeline] = await Promise.all([
      api(`/api/incidents/${encodeURIComponent(id)}`),
      api(`/api/incidents/${encodeURIComponent(id)}/timeline`),
    ]);
    const impact = incident.impact || {};
    const population = Number.isFinite(impact.population) ? impact.population.toLocaleString("zh-CN") : "—";
    card.hidden = false;
    card.dataset.incidentId = id;
    card.innerHTML =
      `<h2><span class="zw-incident-kind">${esc(kind(incident).label)}</span> ${esc(incident.title)}</h2>` +
      `<div class="zw-incident-stats">` +
      `<div><b data-field="population">${esc(population)}</b><span>受影响人口 <small>People</small></span></div>` +
      `<div><b data-field="grids">${(impact.grids || []).length}</b><span>网格 <small>Grids</small></span></div>` +
      `<div><b data-field="cameras">${(impact.cameras || []).length}</b><span>摄像头 <small>Cameras</small></span></div>` +
      `</div>` +
      `<h3>受影响镇村 <small>Towns and villages</small></h3>` +
      list(
        [...(impact.towns || []), ...(impact.villages || [])].slice(0, 12),
        (u) => `<li><span>${esc(u.name)}</span><b>${Math.round(100 * u.share)}%</b></li>`,
        "无 <span>None</span>",
      ) +
      `<h3>无人机 <small>Drones</small></h3>` +
      list(impact.drones, (d) => `<li><span>${esc(d.name || d.id)}</span><b>${esc(distance(d))}</b></li>`, "附近无可用无人机 <span>None near</span>") +
      `<h3>最近避难场所 <small>Nearest shelters</small></h3>` +
      list(
        impact.shelters,
        (s) => `<li><span>${esc(s.name)}</span><b>${esc(distance(s))}</b></li>`,
        "无 <span>None</span>",
      ) +
      `<h3>时间线 <small>Timeline</small></h3>` +
      `<ul class="zw-incident-timeline">${timeline
        .slice(-12)
        .reverse()
        .map((t) => `<li><b>${esc(fmtTime(t.ts))}</b> ${esc(timelineLine(t))}</li>`)
        .join("")}</ul>` +
      `<p class="zz-hint"><a href="/api/incidents/${encodeURIComponent(id)}/report.html" target="_blank" data-report>态势报告 <small>Situation report</small></a></p>`;
    // The report link needs the token: fetch it and open a blob, so the token never sits in a URL.
    const a = card.querySelector("[data-report]");
    a.addEventListener("click", async (e) => {
      e.preventDefault();
      const resp = await fetchWithToken(`/api/incidents/${encodeURIComponent(id)}/report.html`);
      if (!resp.ok) return;
      const url = URL.createObjectURL(await resp.blob());
      window.open(url, "_blank");
    });
  }

  link.addEventListener("snapshot", draw);
  link.addEventListener("incident", (e) => {
    const msg = e.detail;
    if (msg.event !== "timeline") draw();
    if (msg.id !== focusedId) return;
    const incident = link.incidents.get(msg.id);
    if (incident && incident.status !== "active") unfocus();
    else renderCard(msg.id).catch(() => {});
  });
  link.addEventListener("focus_incident", (e) => {
    const incident = e.detail.incident;
    if (!areas.has(incident.id)) {
      link.incidents.set(incident.id, incident);
      draw();
    }
    focus(incident).catch((err) => console.warn("incident:", err));
  });

  return {
    layer,
    areas,
    focused: () => focusedId,
    focus: (id) => link.focusIncident(id),
    unfocus,
    /** The view before the first focus (then forgotten: the next focus saves its own). */
    viewBefore: () => {
      const view = before;
      before = null;
      return view;
    },
  };
}
