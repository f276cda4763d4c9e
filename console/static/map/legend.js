/* zhizhi 智治 — the legend card of the side panel: zones by type, roads, cameras, shelters. */

import { $, esc } from "../lib/dom.js";
import { KIND_STYLE, ROAD_CLASSES, ZONE_COLORS } from "./style.js";

export function buildLegend() {
  const items = [];
  const line = (color, label, extra = "") =>
    items.push(`<li><i class="zz-swatch zz-swatch-line ${extra}" style="--c:${color}"></i>${esc(label)}</li>`);
  const area = (color, label, dashed = false) =>
    items.push(
      `<li><i class="zz-swatch zz-swatch-area${dashed ? " zz-dashed" : ""}" style="--c:${color};--f:${color}"></i>${esc(label)}</li>`,
    );
  for (const z of Object.values(ZONE_COLORS)) area(z.color, z.label, Boolean(z.dashArray));
  line(ROAD_CLASSES.expressway.color, ROAD_CLASSES.expressway.label, "zz-thick");
  line(KIND_STYLE.road.color, "干道 / 乡道 Roads");
  items.push(
    `<li><i class="zz-swatch zz-swatch-fov" style="--c:${KIND_STYLE.camera.color}"></i>摄像头及视域 Camera &amp; FOV</li>`,
  );
  items.push(
    `<li><i class="zz-swatch zz-swatch-point zz-ring" style="--c:${KIND_STYLE.shelter.color}"></i>避难场所 Shelter</li>`,
  );
  $("#zz-legend").innerHTML = items.join("");
}
