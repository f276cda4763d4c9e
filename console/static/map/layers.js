/* zhizhi 智治 — the map's layers: one Leaflet layer per layer of GET /api/layers (its features
 * from /api/layers/{name}/features, by view and zoom: map/detail.js), the cameras' fields of view (/api/cameras/fov), name
 * labels for towns and villages, tooltips and popups. Indexes what other parts look up: the
 * units by code (names, outlines) and the camera markers by id. */

import { esc } from "../lib/dom.js";
import { fmtInt } from "../lib/format.js";
import { ApiError, api } from "../lib/session.js";
import {
  CAMERA_STATUS,
  KIND_LABEL,
  KIND_PANE,
  KIND_STYLE,
  ROAD_CLASSES,
  ZONE_COLORS,
  baseStyle,
  cameraStatus,
  featureStyle,
  geometryFamily,
  pointStyle,
} from "./style.js";

/** The name of the unit ``code`` (a town, village or grid drawn on the map), or "". */
export function unitName(view, code) {
  const u = code && view.units.get(code);
  return u ? u.name : "";
}

/** The outline of unit ``code`` as a new, non-interactive layer in ``pane`` (null if unknown). */
export function outlineOf(view, code, pane, style) {
  const u = view.units.get(code);
  if (!u || !u.layer.feature) return null;
  return L.geoJSON(u.layer.feature.geometry, { pane, interactive: false, style: () => style });
}

function tooltipHtml(view, info, props) {
  const kind = KIND_LABEL[info.kind] || esc(info.title || info.name);
  const code = props.code || props.id || "";
  let extra = "";
  if (info.kind === "grid") {
    const up = [unitName(view, props.village), unitName(view, props.town)].filter(Boolean).join(" · ");
    if (up) extra = `<div class="zz-tip-extra">${esc(up)}</div>`;
  } else if (info.kind === "zone" && ZONE_COLORS[props.zone_type]) {
    extra = `<div class="zz-tip-extra">${esc(ZONE_COLORS[props.zone_type].label)}</div>`;
  } else if (info.kind === "road" && ROAD_CLASSES[props.road_class]) {
    extra = `<div class="zz-tip-extra">${esc(ROAD_CLASSES[props.road_class].label)}</div>`;
  } else if (info.kind === "shelter" && props.capacity != null) {
    extra = `<div class="zz-tip-extra">容纳 ${esc(fmtInt(Number(props.capacity)))} 人</div>`;
  } else if (info.kind === "camera") {
    extra = `<div class="zz-tip-extra">${esc(props.id || "")}</div>`;
  }
  return (
    `<div class="zz-tip-kind">${esc(kind)}</div>` +
    `<div class="zz-tip-name">${esc(props.name || props.id || "—")}</div>` +
    (code && info.kind !== "camera" ? `<div class="zz-tip-code">${esc(code)}</div>` : "") +
    extra
  );
}

function popupHtml(info, props) {
  const rows = [];
  const row = (k, v) => {
    if (v !== undefined && v !== null && v !== "") rows.push(`<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`);
  };
  if (info.kind === "camera") {
    const st = CAMERA_STATUS[String(props.status || "unknown").toLowerCase()];
    row("编号 ID", props.id);
    row("状态 Status", st ? `${st.label} ${props.status}` : props.status);
    row("朝向 Heading", props.heading_deg != null ? `${Number(props.heading_deg).toFixed(1)}°` : null);
    row("视场角 HFOV", props.hfov_deg != null ? `${Number(props.hfov_deg).toFixed(0)}°` : null);
    row("视距 Range", props.range_m != null ? `${fmtInt(Number(props.range_m))} m` : null);
    row("网格 Grid", props.grid || props.code);
  } else if (info.kind === "shelter") {
    row("编号 ID", props.id);
    row("容纳 Capacity", props.capacity != null ? `${fmtInt(Number(props.capacity))} 人` : null);
    row("网格 Grid", props.code);
  } else {
    row("编码 Code", props.code);
    row("编号 ID", props.id);
  }
  return (
    `<div class="zz-pop-kind">${esc(KIND_LABEL[info.kind] || info.title || info.name)}</div>` +
    `<div class="zz-pop-name">${esc(props.name || props.id || "—")}</div>` +
    `<table class="zz-pop-table">${rows.join("")}</table>`
  );
}

function buildLayer(view, info, fc) {
  const base = baseStyle(info);
  const family = geometryFamily(info);
  const pane = KIND_PANE[info.kind] || (family === "point" ? "zz-points" : family === "line" ? "zz-lines" : "zz-zones");
  const cls = `zz-f zz-f-${info.name}`;
  const classOf = (props) =>
    info.kind === "road" && props.road_class ? `${cls} zz-road-${String(props.road_class).replace(/[^\w-]/g, "")}` : cls;
  const layer = L.geoJSON(fc, {
    pane,
    style: (f) => Object.assign(featureStyle(info, base, f.properties || {}), { className: classOf(f.properties || {}) }),
    pointToLayer: (f, latlng) =>
      L.circleMarker(
        latlng,
        Object.assign(pointStyle(info, base, f.properties || {}), {
          pane,
          className: cls,
          bubblingMouseEvents: false, // a click on a camera opens it, and does not locate
        }),
      ),
    onEachFeature: (f, lyr) => {
      const props = f.properties || {};
      const isPoint = f.geometry && /Point/.test(f.geometry.type);
      lyr.bindTooltip(() => tooltipHtml(view, info, props), {
        sticky: !isPoint,
        direction: "top",
        offset: isPoint ? [0, -8] : [0, -12],
        className: "zz-tip",
        opacity: 1,
      });
      if (isPoint) lyr.bindPopup(() => popupHtml(info, props), { className: "zz-pop", maxWidth: 360 });
      if (["town", "village", "grid"].includes(info.kind) && props.code) {
        view.units.set(props.code, { name: props.name, level: info.kind, layer: lyr });
      }
      if (info.kind === "camera" && props.id) view.camerasById.set(String(props.id), lyr);
      if (!isPoint && info.kind !== "town" && info.kind !== "village") {
        lyr.on("mouseover", () => {
          lyr.setStyle({ weight: (lyr.options.weight || 1) + 1.5, opacity: 1 });
        });
        lyr.on("mouseout", () => layer.resetStyle(lyr));
      }
    },
  });
  layer.addTo(view.map);
  return layer;
}

function addLabel(group, lyr, cls) {
  const props = (lyr.feature && lyr.feature.properties) || {};
  if (!props.name || typeof lyr.getCenter !== "function") return;
  let at;
  try {
    at = lyr.getCenter();
  } catch (_) {
    return;
  }
  L.marker(at, {
    pane: "zz-labels",
    interactive: false,
    keyboard: false,
    icon: L.divIcon({ className: `zz-label ${cls}`, html: `<span>${esc(props.name)}</span>`, iconSize: null }),
  }).addTo(group);
}

function buildLabels(view, name, layer, cls) {
  const group = L.layerGroup();
  layer.eachLayer((lyr) => addLabel(group, lyr, cls));
  group.addTo(view.map);
  view.labels[name] = group;
  return group;
}

const LABEL_CLASS = { town: "zz-label-town", village: "zz-label-village" };

/** Fetch and draw one layer of GET /api/layers; {info, layer, count}. By the map's view and
 *  zoom (map/detail.js) when the view has a detail tracker, else whole. */
export async function loadLayer(view, info) {
  const url = `/api/layers/${encodeURIComponent(info.name)}/features`;
  const first = view.detail ? view.detail.first(url) : { url };
  const fc = await api(first.url);
  if (!fc || !Array.isArray(fc.features)) {
    throw new ApiError(url, 200, "不是 GeoJSON FeatureCollection");
  }
  const layer = buildLayer(view, info, fc);
  view.layers[info.name] = layer;
  const cls = LABEL_CLASS[info.kind];
  if (cls) buildLabels(view, info.name, layer, cls);
  if (view.detail) {
    const onAdd = cls ? (lyr) => addLabel(view.labels[info.name], lyr, cls) : null;
    view.detail.track(info.name, url, layer, first, onAdd);
  }
  return { info, layer, count: fc.features.length };
}

/** Fetch and draw the cameras' fields of view, coloured as their camera (``cameraInfo``). */
export async function loadFov(view, cameraInfo) {
  const url = "/api/cameras/fov";
  const first = view.detail ? view.detail.first(url) : { url };
  const fc = await api(first.url);
  const base = cameraInfo ? baseStyle(cameraInfo) : KIND_STYLE.camera;
  const layer = L.geoJSON(fc, {
    pane: "zz-fov",
    style: (f) => {
      const c = cameraStatus(f.properties || {}).color || base.color;
      return { color: c, weight: 1, opacity: 0.6, fillColor: c, fillOpacity: 0.18, className: "zz-fov" };
    },
    onEachFeature: (f, lyr) => {
      const p = f.properties || {};
      lyr.bindTooltip(
        `<div class="zz-tip-kind">摄像头视域 Camera FOV</div><div class="zz-tip-name">${esc(p.name || p.id)}</div>` +
          `<div class="zz-tip-extra">${esc(p.id || "")}</div>`,
        { sticky: true, direction: "top", offset: [0, -12], className: "zz-tip", opacity: 1 },
      );
    },
  });
  layer.addTo(view.map);
  view.fov = layer;
  if (view.detail) view.detail.track("fov", url, layer, first, null);
  return layer;
}
