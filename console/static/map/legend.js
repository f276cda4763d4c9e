/* zhizhi 智治 — the legend card of the side panel: zones by type, roads, cameras, shelters — those
 * the district has (a county's own import may have no zones or roads yet). */

import { $, esc } from "../lib/dom.js";
import { KIND_STYLE, ROAD_CLASSES, ZONE_COLORS } from "./style.js";

/** The legend of the layer kinds in ``kinds`` (a Set of the listed layers' kinds); cameras always. */
export function buildLegend(kinds) {
  const items = [];
  const line = (color, label, extra = "") =>
    items.push(`<li><i class="zz-swatch zz-swatch-line ${extra}" style="--c:${color}"></i>${esc(label)}</li>`);
  const area = (color, label, dashed = false) =>
    items.push(
      `<li><i class="zz-swatch zz-swatch-area${dashed ? " zz-dashed" : ""}" style="--c:${color};--f:${color}"></i>${esc(label)}</li>`,
    );
  if (kinds.has("zone")) for (const z of Object.values(ZONE_COLORS)) area(z.color, z.label, Boolean(z.dashArray));
  if (kinds.has("road")) {
    line(ROAD_CLASSES.expressway.color, ROAD_CLASSES.expressway.label, "zz-thick");
    line(KIND_STYLE.road.color, "干道 / 乡道");
  }
  items.push(
    `<li><i class="zz-swatch zz-swatch-fov" style="--c:${KIND_STYLE.camera.color}"></i>摄像头及视域 <small>Camera &amp; FOV</small></li>`,
  );
  if (kinds.has("shelter")) {
    items.push(
      `<li><i class="zz-swatch zz-swatch-point zz-ring" style="--c:${KIND_STYLE.shelter.color}"></i>避难场所 <small>Shelter</small></li>`,
    );
  }
  $("#zz-legend").innerHTML = items.join("");
}
