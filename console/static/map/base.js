/* zhizhi 智治 — the base map: Leaflet's map with the panes, controls and read-out of the console,
 * the district's view (its bounds, or the caller's jurisdiction), and an optional tile server of
 * the center's own network (none by default: the map draws vector layers only). */

import { $, esc } from "../lib/dom.js";
import { assetsFailed, fail } from "../lib/errors.js";
import { PANES, geometryFamily } from "./style.js";

const INSTALL_HINT = "运行 scripts/install_assets.sh 安装前端资源 (run scripts/install_assets.sh, or make setup)";

/** True (and reported) when Leaflet's script or stylesheet is missing. */
export function leafletMissing() {
  if (assetsFailed()) return true;
  if (typeof window.L === "undefined" || typeof L.map !== "function") {
    fail("前端资源缺失 Leaflet not loaded (/static/vendor/leaflet/leaflet.js)", INSTALL_HINT);
    return true;
  }
  // leaflet.css missing would leave tiles and panes unpositioned: check that it applies.
  const probe = document.createElement("div");
  probe.className = "leaflet-pane";
  document.body.appendChild(probe);
  const positioned = getComputedStyle(probe).position === "absolute";
  probe.remove();
  if (!positioned) {
    fail("前端资源缺失 Leaflet stylesheet not applied (/static/vendor/leaflet/leaflet.css)", INSTALL_HINT);
    return true;
  }
  return false;
}

/** [minlon, minlat, maxlon, maxlat] -> L.LatLngBounds (null if it is not such a box). */
export function boundsOf(b) {
  if (!Array.isArray(b) || b.length !== 4 || !b.every(Number.isFinite)) return null;
  return L.latLngBounds([b[1], b[0]], [b[3], b[2]]);
}

/** Resolves at the map's next "moveend", or after ``timeoutMs`` whatever happens. */
export function whenMoved(map, timeoutMs = 3000) {
  return new Promise((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    function done() {
      clearTimeout(timer);
      map.off("moveend", done);
      resolve();
    }
    map.once("moveend", done);
  });
}

/** The Leaflet map in #map, with the console's panes, zoom, scale and read-out controls. */
export function createMap(view) {
  const map = L.map("map", {
    zoomControl: false,
    attributionControl: true,
    minZoom: 6,
    maxZoom: 19,
    zoomSnap: 0.25,
    zoomDelta: 0.5,
    wheelPxPerZoomLevel: 90,
  });
  map.attributionControl.setPrefix("Leaflet");
  for (const [name, z] of Object.entries(PANES)) {
    const pane = map.createPane(name);
    pane.style.zIndex = String(z);
    if (name === "zz-labels") pane.style.pointerEvents = "none";
  }
  L.control.zoom({ position: "bottomright", zoomInTitle: "放大 Zoom in", zoomOutTitle: "缩小 Zoom out" }).addTo(map);
  L.control.scale({ position: "bottomleft", imperial: false, maxWidth: 160 }).addTo(map);
  readoutControl().addTo(map);
  map.on("zoomend", () => updateZoomClasses(view));
  view.map = map;
  return map;
}

/** Zoom classes on the map's container (labels, details) and point symbols sized to the zoom. */
export function updateZoomClasses(view) {
  const map = view.map;
  const z = map.getZoom();
  const el = map.getContainer();
  el.classList.toggle("zz-z-villages", z >= 12);
  el.classList.toggle("zz-z-streets", z >= 14);
  el.classList.toggle("zz-z-detail", z >= 15);
  const r = $("#zz-readout-zoom");
  if (r) r.textContent = z.toFixed(1);
  // Point symbols grow at street zooms, where there is room for them.
  const scale = z >= 16 ? 1.8 : z >= 14 ? 1.35 : 1;
  for (const name of Object.keys(view.layers)) {
    const info = view.layerInfo[name];
    if (!info || geometryFamily(info) !== "point") continue;
    view.layers[name].eachLayer((lyr) => {
      if (typeof lyr.setRadius !== "function") return;
      if (lyr.options.zzRadius == null) lyr.options.zzRadius = lyr.getRadius();
      lyr.setRadius(lyr.options.zzRadius * scale);
    });
  }
}

function readoutControl() {
  const Readout = L.Control.extend({
    options: { position: "bottomleft" },
    onAdd(map) {
      const div = L.DomUtil.create("div", "zz-readout");
      div.innerHTML =
        '<span>经纬度 <b id="zz-readout-pos">—</b></span>' +
        '<span>缩放 <b id="zz-readout-zoom">—</b></span>' +
        '<span>要素 <b id="zz-readout-features">—</b></span>';
      L.DomEvent.disableClickPropagation(div);
      const show = (ll) => {
        div.querySelector("#zz-readout-pos").textContent = `${ll.lng.toFixed(5)}, ${ll.lat.toFixed(5)}`;
      };
      map.whenReady(() => show(map.getCenter()));
      map.on("mousemove", (e) => show(e.latlng));
      return div;
    },
  });
  return new Readout();
}

/** The number of features drawn, in the read-out. */
export function showFeatureCount(text) {
  const el = $("#zz-readout-features");
  if (el) el.textContent = text;
}

/**
 * Apply GET /api/config to the map: a tile server if one is configured, the view of the
 * district (or its centre). False when the configuration has no place to show.
 */
export function applyConfig(view, config) {
  const map = view.map;
  view.config = config;
  const district = config.district || {};
  const mapCfg = config.map || {};
  if (mapCfg.tile_url) {
    // Only a tile server configured for the center's own network; there is none by default.
    L.tileLayer(mapCfg.tile_url, {
      attribution: mapCfg.tile_attribution || "",
      maxZoom: 19,
      className: "zz-tiles",
    }).addTo(map);
    map.getContainer().classList.add("zz-has-tiles");
  } else if (mapCfg.tile_attribution) {
    map.attributionControl.addAttribution(esc(mapCfg.tile_attribution));
  }

  let placed = true;
  const bounds = boundsOf(district.bounds);
  if (bounds && bounds.isValid()) {
    fitDistrict(view);
    map.setMaxBounds(bounds.pad(1.5));
  } else if (Array.isArray(district.center)) {
    map.setView([district.center[1], district.center[0]], 11, { animate: false });
  } else {
    map.setView([32.0, 121.0], 10, { animate: false });
    placed = false;
  }
  updateZoomClasses(view);
  return placed;
}

/** Show the caller's own jurisdiction (a town sees its town, else the whole district), clear
 *  of the layer control in the top-right corner. */
export function fitDistrict(view, options = {}) {
  const map = view.map;
  const cfg = view.config;
  const bounds = cfg && boundsOf((cfg.scope && cfg.scope.bounds) || cfg.district.bounds);
  if (!map || !bounds || !bounds.isValid()) return Promise.resolve();
  const moved = options.animate ? whenMoved(map) : Promise.resolve();
  map.fitBounds(bounds, Object.assign(viewPadding(view, 28), { animate: false }, options));
  return moved;
}

/** Padding that keeps a fitted area clear of the layer control (top right). */
export function viewPadding(view, pad) {
  const control = view.map && view.map.getContainer().querySelector(".zz-layers");
  const right = control ? control.offsetWidth + pad : pad;
  return { paddingTopLeft: [pad, pad], paddingBottomRight: [right, pad] };
}
