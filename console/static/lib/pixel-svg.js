/* zhizhi 智治 — drawing in a picture's own pixels: an SVG overlay whose viewBox is the picture's size
 * sits on the picture, so what is drawn in picture pixels stays on its spot at any display size.
 * The calibration page's frame (calibrate/frame.js) and the cameras page's mask preview
 * (cameras/detail.js) draw a camera's masks with it. */

export const SVG = "http://www.w3.org/2000/svg";

/** An SVG element with attributes. */
export function svgEl(name, attrs) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** A centred SVG text of ``size`` picture pixels. */
export function svgText(x, y, value, size, cls) {
  const t = svgEl("text", { x, y, class: cls, "font-size": size.toFixed(1), "text-anchor": "middle",
    "dominant-baseline": "central" });
  t.textContent = value;
  return t;
}

/** The mean of a ring's vertices (where its label goes). */
export function centroid(ring) {
  const n = ring.length;
  return [ring.reduce((s, p) => s + p[0], 0) / n, ring.reduce((s, p) => s + p[1], 0) / n];
}

/** Append masks (rings of [x, y] picture pixels) to ``svg``, each a polygon labelled "遮罩 n";
 * ``size``: the label's height in picture pixels; ``cls``: the polygon's class (the label's is
 * ``cls + "-label"``). */
export function drawMasks(svg, masks, { size, cls = "zk-mask", label = (i) => `遮罩 ${i + 1}` }) {
  masks.forEach((ring, i) => {
    svg.appendChild(svgEl("polygon", { points: ring.map((p) => p.join(",")).join(" "), class: cls }));
    const [cx, cy] = centroid(ring);
    svg.appendChild(svgText(cx, cy, label(i), size, `${cls}-label`));
  });
}
