/* zhizhi 智治 — the calibration page's frame: the camera's picture with the pairs and masks drawn
 * over it in the picture's own pixels.
 *
 * The picture is the camera's newest frame (GET /api/cameras/{id}/frame.jpg, fetched with the
 * bearer header and shown from a blob: URL) or a still the user uploads. An SVG overlay with the
 * picture's size as its viewBox sits exactly on it, so a click's position converts to picture
 * pixels whatever size the picture is shown at, and markers drawn in picture pixels stay on
 * their spot when the window changes. */

import { $ } from "../lib/dom.js";
import { drawMasks, svgEl as el, svgText as text } from "../lib/pixel-svg.js";
import { fetchWithToken } from "../lib/session.js";

/** Pair colours: distinct on a dark picture and on the dark map, by pair number. */
export const COLORS = ["#ff5252", "#40c4ff", "#ffd740", "#69f0ae", "#e040fb", "#ff9100", "#18ffff", "#b2ff59",
  "#ff80ab", "#8c9eff"];
export const colorOf = (n) => COLORS[(n - 1) % COLORS.length];

/** The frame pane: ``onClick(x, y)`` gets picture pixels; ``size()`` is [w, h] or null. */
export function createFrame({ onClick }) {
  const stage = $("#zk-stage");
  const img = $("#zk-image");
  const svg = $("#zk-overlay");
  const box = $("#zk-frame");
  let url = null;
  let dims = null;

  function fit() {
    if (!dims) return;
    const [w, h] = dims;
    const scale = Math.min(box.clientWidth / w, box.clientHeight / h);
    stage.style.width = `${Math.floor(w * scale)}px`;
    stage.style.height = `${Math.floor(h * scale)}px`;
  }
  new ResizeObserver(fit).observe(box);

  /** Show a picture (a Blob); resolves with its [width, height]. */
  function show(blob, source) {
    return new Promise((resolve, reject) => {
      const next = URL.createObjectURL(blob);
      img.onload = () => {
        if (url) URL.revokeObjectURL(url);
        url = next;
        dims = [img.naturalWidth, img.naturalHeight];
        svg.setAttribute("viewBox", `0 0 ${dims[0]} ${dims[1]}`);
        stage.hidden = false;
        $("#zk-noframe").hidden = true;
        box.dataset.source = source;
        fit();
        resolve(dims);
      };
      img.onerror = () => {
        URL.revokeObjectURL(next);
        reject(new Error("不是可显示的图片 not a picture the browser can show"));
      };
      img.src = next;
    });
  }

  /** The camera's newest frame; resolves with its size, or null when it has none yet. */
  async function loadLive(cameraId) {
    const resp = await fetchWithToken(`/api/cameras/${encodeURIComponent(cameraId)}/frame.jpg`, { cache: "no-store" });
    if (!resp.ok) return null;
    return show(await resp.blob(), "live");
  }

  svg.addEventListener("click", (e) => {
    if (!dims) return;
    const rect = svg.getBoundingClientRect();
    const x = ((e.clientX - rect.left) * dims[0]) / rect.width;
    const y = ((e.clientY - rect.top) * dims[1]) / rect.height;
    onClick(Math.round(x * 10) / 10, Math.round(y * 10) / 10, e);
  });

  /** Draw the pairs ({n, px}), the saved masks and the one being drawn. */
  function draw(pairs, masks, draft) {
    if (!dims) return;
    const r = Math.max(8, dims[0] / 64);
    svg.replaceChildren();
    drawMasks(svg, masks, { size: r * 1.5, cls: "zk-mask" });
    if (draft.length) {
      svg.appendChild(el("polyline", { points: draft.map((p) => p.join(",")).join(" "), class: "zk-draft" }));
      draft.forEach(([x, y], i) => svg.appendChild(el("circle", { cx: x, cy: y, r: i === 0 ? r * 0.8 : r * 0.5,
        class: i === 0 ? "zk-draft-first" : "zk-draft-vertex" })));
    }
    for (const pair of pairs) {
      const [x, y] = pair.px;
      const g = el("g", { class: `zk-pin${pair.lonlat ? "" : " zk-pin-open"}`, "data-n": pair.n });
      g.appendChild(el("line", { x1: x - r * 2.2, y1: y, x2: x + r * 2.2, y2: y, class: "zk-cross" }));
      g.appendChild(el("line", { x1: x, y1: y - r * 2.2, x2: x, y2: y + r * 2.2, class: "zk-cross" }));
      g.appendChild(el("circle", { cx: x, cy: y, r, fill: colorOf(pair.n), class: "zk-dot" }));
      g.appendChild(text(x, y + r * 0.05, String(pair.n), r * 1.35, "zk-num"));
      svg.appendChild(g);
    }
  }

  /** Picture pixels of a click within ``tolerance`` display pixels of ``point``. */
  function near(point, x, y, tolerance = 14) {
    if (!dims) return false;
    const scale = svg.getBoundingClientRect().width / dims[0];
    return Math.hypot((point[0] - x) * scale, (point[1] - y) * scale) <= tolerance;
  }

  return { show, loadLive, draw, near, size: () => dims };
}
