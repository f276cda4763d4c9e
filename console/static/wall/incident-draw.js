/* zhizhi 智治 — opening an incident from the wall's map: a duty officer with the incident
 * permission draws a point, a circle or a polygon on the map (Leaflet-Geoman, served from
 * /static/vendor/leaflet-geoman/ and loaded when the card is first opened: geoman.js; the
 * drawing buttons wait for it) or takes the alert selected on the wall, chooses the kind
 * (fire, chemical leak, typhoon, ...) and, for a leak, the wind (from where, how strong), and
 * opens it (POST /api/incidents). The console's rule then switches the whole wall to the
 * incident (presets.js); a refusal (an area outside the user's jurisdiction: 403) is shown.
 *
 * createIncidentDraw(map, link, {onOpened}) returns {element, draft(), open()};
 * mountIncidentTools(map, link, incidents) puts it, the open incidents' list and the presets on
 * the map screen.
 */

import { esc } from "../lib/dom.js";
import { api } from "../lib/session.js";
import { loadGeoman } from "./geoman.js";
import { createIncidentList } from "./incident-list.js";
import { installMapPresets } from "./presets.js";
import { INCIDENT } from "./vocabulary.js";

const KINDS = ["fire", "chemical_leak", "typhoon", "flood", "rainstorm", "other"];
const WINDS = [
  [0, "北风"], [45, "东北风"], [90, "东风"], [135, "东南风"],
  [180, "南风"], [225, "西南风"], [270, "西风"], [315, "西北风"],
];
const DRAFT_STYLE = { color: "#ffd600", weight: 4, fillColor: "#ffd600", fillOpacity: 0.18, dashArray: "8 6" };
const SHAPE_NAME = { point: "点", circle: "圆", polygon: "多边形", alert: "告警位置" };

function hhmm() {
  const d = new Date();
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

export function createIncidentDraw(map, link, { onOpened = () => {} } = {}) {
  const box = document.createElement("details");
  box.className = "zz-card zw-draw-card";
  box.id = "zw-incident-draw";
  box.innerHTML =
    `<summary>开设事件 <small>Open an incident</small></summary>` +
    `<label class="zw-draw-row">类型 <select id="zw-draw-type">${KINDS.map(
      (k) => `<option value="${k}">${esc(INCIDENT[k].label)}</option>`,
    ).join("")}</select></label>` +
    `<label class="zw-draw-row">名称 <input id="zw-draw-title" maxlength="200" placeholder="事件名称"></label>` +
    `<div class="zw-draw-row zw-draw-shapes" role="group" aria-label="画范围">` +
    `<button type="button" data-shape="point" data-geoman disabled>画点</button>` +
    `<button type="button" data-shape="circle" data-geoman disabled>画圆</button>` +
    `<button type="button" data-shape="polygon" data-geoman disabled>多边形</button>` +
    `<button type="button" data-shape="alert" id="zw-draw-alert">选中告警</button></div>` +
    `<label class="zw-draw-row" id="zw-draw-radius-row">半径（米）<input id="zw-draw-radius" type="number" min="10" max="100000" step="10" value="500"></label>` +
    `<div class="zw-draw-row zw-draw-wind" id="zw-draw-wind" hidden>` +
    `<label>风向 <select id="zw-draw-wind-from">${WINDS.map(([d, n]) => `<option value="${d}">${n}</option>`).join("")}</select></label>` +
    `<label>风速（米/秒）<input id="zw-draw-wind-speed" type="number" min="0.1" max="75" step="0.1" value="2"></label></div>` +
    `<div class="zw-draw-what" id="zw-draw-what">未画范围：选择一种画法，在地图上点击</div>` +
    `<div class="zw-draw-row"><button type="button" class="zw-draw-open" id="zw-draw-open" disabled>启动事件</button>` +
    `<button type="button" id="zw-draw-clear">清除</button></div>` +
    `<div class="zw-draw-msg" id="zw-draw-msg" role="status"></div>`;

  const $b = (sel) => box.querySelector(sel);
  const draftLayer = L.layerGroup().addTo(map);
  let draft = null; // {shape, point: [lon, lat], radius_m?, polygon?, alertId?}

  let geoman = null; // Leaflet-Geoman, asked for when the card is first opened
  function prepareDrawing() {
    if (!geoman) {
      geoman = loadGeoman(map).then((pm) => {
        pm.setLang("zh"); // the drawing's hints ("单击放置首个顶点") in Chinese
        pm.setGlobalOptions({ pathOptions: DRAFT_STYLE, templineStyle: { color: "#ffd600" },
          hintlineStyle: { color: "#ffd600", dashArray: "5 5" }, snappable: false, continueDrawing: false });
        for (const b of box.querySelectorAll("[data-geoman]")) b.disabled = false;
        box.dataset.geoman = "ready";
      });
      geoman.catch((err) => {
        box.dataset.geoman = "error";
        say(`无法加载绘图工具 The drawing tool did not load: ${err.message}`, "error");
      });
    }
    return geoman;
  }
  box.addEventListener("toggle", () => box.open && prepareDrawing());
  const stopDrawing = () => map.pm && map.pm.disableDraw();

  const kind = () => $b("#zw-draw-type").value;
  const isLeak = () => kind() === "chemical_leak";

  function say(text, state = "") {
    $b("#zw-draw-msg").textContent = text;
    $b("#zw-draw-msg").dataset.state = state;
  }

  function describe() {
    const what = $b("#zw-draw-what");
    $b("#zw-draw-open").disabled = !draft;
    box.dataset.draft = draft ? draft.shape : "";
    if (!draft) {
      what.textContent = "未画范围：选择一种画法，在地图上点击";
      return;
    }
    let text = `已画${SHAPE_NAME[draft.shape]}`;
    if (isLeak()) text += " · 泄漏点，按风向推算下风向扩散区";
    else if (draft.radius_m) text += ` · 半径 ${Math.round(draft.radius_m)} 米`;
    else if (draft.polygon) text += ` · ${draft.polygon.coordinates[0].length - 1} 个顶点`;
    what.textContent = text;
  }

  function setDraft(next, layer) {
    draftLayer.clearLayers();
    draft = next;
    if (layer) {
      if (layer.setStyle) layer.setStyle(DRAFT_STYLE);
      draftLayer.addLayer(layer);
    } else if (next && next.point) {
      const [lon, lat] = next.point;
      draftLayer.addLayer(L.circle([lat, lon], { radius: next.radius_m || 50, ...DRAFT_STYLE }));
    }
    describe();
  }

  function showKind() {
    $b("#zw-draw-wind").hidden = !isLeak();
    $b("#zw-draw-radius-row").hidden = isLeak();
    if (!$b("#zw-draw-title").dataset.typed) $b("#zw-draw-title").value = `${INCIDENT[kind()].label}事件 ${hhmm()}`;
    describe();
  }

  function startDrawing(shape) {
    stopDrawing();
    say("");
    if (shape === "alert") {
      const sel = link.selection && link.selection.alert;
      if (!sel || !Number.isFinite(sel.lon)) {
        say("请先在地图或告警看板上选中一条告警", "error");
        return;
      }
      setDraft({ shape: "alert", point: [sel.lon, sel.lat], radius_m: Number($b("#zw-draw-radius").value) || 500,
        alertId: sel.id });
      return;
    }
    document.body.classList.add("zw-drawing");
    box.dataset.drawing = shape;
    const mode = { point: "CircleMarker", circle: "Circle", polygon: "Polygon" }[shape];
    map.pm.enableDraw(mode, { pathOptions: DRAFT_STYLE, finishOn: null });
  }

  map.on("pm:drawend", () => {
    document.body.classList.remove("zw-drawing");
    delete box.dataset.drawing;
  });
  map.on("pm:create", (e) => {
    const shape = box.dataset.drawing || "point";
    const layer = e.layer;
    map.removeLayer(layer);
    if (e.shape === "Polygon") {
      const polygon = layer.toGeoJSON().geometry;
      setDraft({ shape: "polygon", polygon, point: polygon.coordinates[0][0] }, layer);
    } else if (e.shape === "Circle") {
      const c = layer.getLatLng();
      setDraft({ shape: "circle", point: [c.lng, c.lat], radius_m: layer.getRadius() }, layer);
    } else {
      const c = layer.getLatLng();
      setDraft({ shape, point: [c.lng, c.lat], radius_m: Number($b("#zw-draw-radius").value) || 500 });
    }
  });

  function area() {
    if (isLeak()) {
      return {
        point: draft.point,
        wind_from_deg: Number($b("#zw-draw-wind-from").value),
        wind_speed_ms: Number($b("#zw-draw-wind-speed").value),
      };
    }
    if (draft.polygon) return { polygon: draft.polygon };
    return { point: draft.point, radius_m: draft.radius_m || Number($b("#zw-draw-radius").value) || 500 };
  }

  async function open() {
    if (!draft) return null;
    const title = $b("#zw-draw-title").value.trim() || `${INCIDENT[kind()].label}事件 ${hhmm()}`;
    const body = { type: kind(), title, area: area() };
    if (draft.alertId) body.note = `由告警 ${draft.alertId} 开设`;
    $b("#zw-draw-open").disabled = true;
    say("启动中…");
    try {
      const incident = await api("/api/incidents", { method: "POST", body });
      setDraft(null);
      delete $b("#zw-draw-title").dataset.typed;
      say(`已启动：${incident.title}`, "ok");
      box.open = false;
      onOpened(incident);
      return incident;
    } catch (err) {
      $b("#zw-draw-open").disabled = false;
      const why = err.status === 403 ? "范围不在本辖区内，不能开设" : err.detail || err.message;
      say(`未能启动事件：${why}`, "error");
      box.dataset.refused = String(err.status || "");
      return null;
    }
  }

  $b("#zw-draw-type").addEventListener("change", showKind);
  $b("#zw-draw-title").addEventListener("input", () => ($b("#zw-draw-title").dataset.typed = "1"));
  $b("#zw-draw-radius").addEventListener("change", () => {
    if (draft && draft.shape !== "circle" && draft.shape !== "polygon") {
      setDraft({ ...draft, radius_m: Number($b("#zw-draw-radius").value) || 500 });
    }
  });
  for (const b of box.querySelectorAll("[data-shape]")) {
    b.addEventListener("click", () => startDrawing(b.dataset.shape));
  }
  $b("#zw-draw-open").addEventListener("click", open);
  $b("#zw-draw-clear").addEventListener("click", () => {
    stopDrawing();
    setDraft(null);
    say("");
  });
  showKind();
  return { element: box, draft: () => draft, open };
}

/**
 * The map screen's incident tools: the open incidents' list and (with the incident permission)
 * the drawing card at the top of the side panel, and the wall's presets (presets.js).
 */
export async function mountIncidentTools(map, link, incidents) {
  installMapPresets(link, map, incidents);
  const me = await api("/api/auth/me").catch(() => null);
  const canManage = Boolean(me && Array.isArray(me.permissions) && me.permissions.includes("incidents.manage"));
  const panel = document.querySelector(".zz-panel");
  if (!panel) return;
  const list = createIncidentList(link, { canManage, onError: (text) => console.warn(text) });
  panel.prepend(list.element);
  if (canManage) list.element.after(createIncidentDraw(map, link).element);
  document.body.dataset.incidentTools = canManage ? "manage" : "read";
}
