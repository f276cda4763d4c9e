/* zhizhi 智治 — the layers panel (top right): the offline basemap (if any), every drawn layer with
 * its swatch and feature count, the cameras' fields of view beside the cameras; name labels follow
 * their layer. */

import { esc } from "../lib/dom.js";
import { fmtInt } from "../lib/format.js";
import { KIND_ORDER, KIND_STYLE, baseStyle, geometryFamily } from "./style.js";

/** A layer's swatch, as in the legend (``info.kind`` "fov" for fields of view). */
export function swatchHtml(info, base) {
  const c = esc(base.color);
  if (info.kind === "fov") return `<i class="zz-swatch zz-swatch-fov" style="--c:${c}"></i>`;
  const fam = geometryFamily(info);
  if (fam === "point") return `<i class="zz-swatch zz-swatch-point" style="--c:${c}"></i>`;
  if (fam === "line") return `<i class="zz-swatch zz-swatch-line" style="--c:${c}"></i>`;
  const fill = base.fill === false ? "transparent" : base.fillColor || base.color;
  return `<i class="zz-swatch zz-swatch-area" style="--c:${c};--f:${esc(fill)}"></i>`;
}

function controlLabel(title, count, swatch) {
  return (
    `<span class="zz-lc">${swatch}<span class="zz-lc-title">${esc(title)}</span>` +
    `<span class="zz-lc-count">${esc(fmtInt(count))}</span></span>`
  );
}

const FOV_TITLE = "摄像头视域";

/** The layers panel for ``loaded`` ({info, layer, count} of loadLayer) and the fields of view. */
export function addLayerControl(view, loaded, cameraInfo) {
  const map = view.map;
  const fovLayer = view.fov;
  const control = L.control.layers(null, null, { collapsed: false, position: "topright", sortLayers: false });
  const rank = (info) => {
    const i = KIND_ORDER.indexOf(info.kind);
    return i < 0 ? KIND_ORDER.length : i;
  };
  const fovLabel = (base) => controlLabel(FOV_TITLE, fovLayer.getLayers().length, swatchHtml({ kind: "fov" }, base));
  loaded.sort((a, b) => rank(a.info) - rank(b.info));
  if (view.basemap) {
    const { info, layer } = view.basemap;
    const swatch = '<i class="zz-swatch zz-swatch-basemap"></i>';
    const label = `<span class="zz-lc">${swatch}<span class="zz-lc-title">底图 ${esc(info.name || "Basemap")}</span>` +
      `<span class="zz-lc-count">${esc(info.format)}</span></span>`;
    control.addOverlay(layer, label);
  }
  for (const { info, layer, count } of loaded) {
    if (info.kind === "camera" && fovLayer) control.addOverlay(fovLayer, fovLabel(baseStyle(cameraInfo || info)));
    control.addOverlay(layer, controlLabel(info.title || info.name, count, swatchHtml(info, baseStyle(info))));
  }
  if (fovLayer && !loaded.some((l) => l.info.kind === "camera")) control.addOverlay(fovLayer, fovLabel(KIND_STYLE.camera));
  control.addTo(map);
  const container = control.getContainer();
  container.classList.add("zz-layers");
  const head = L.DomUtil.create("div", "zz-layers-head");
  head.innerHTML = "图层 <small>Layers</small>"; // the gloss: a wall shows it only when asked
  container.querySelector(".leaflet-control-layers-list").prepend(head);

  // Name labels follow their layer on and off.
  const labelOwner = new Map();
  for (const [name, group] of Object.entries(view.labels)) labelOwner.set(view.layers[name], group);
  map.on("overlayadd", (e) => labelOwner.has(e.layer) && labelOwner.get(e.layer).addTo(map));
  map.on("overlayremove", (e) => labelOwner.has(e.layer) && map.removeLayer(labelOwner.get(e.layer)));
  return control;
}
