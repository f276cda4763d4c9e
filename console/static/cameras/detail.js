/* zhizhi 智治 — the cameras page's detail of one camera: its masks over its picture, its object filters.
 *
 * A click on a row of the table opens it, for every role. Masks: the camera-wide ones (drawn on
 * the calibration page), their count, and a drawing over the camera's newest frame
 * (GET /api/cameras/{id}/frame.jpg, fetched when the camera is opened while online and kept while
 * it stays open: a change of its filters restarts its analysis, and its frames with it) or,
 * without one, over an empty box of its frame size (the newest calibration's image size; else
 * 1920×1080, said so); each class's own masks are drawn dashed. Filters: filters.js's table, and
 * its editor for users with cameras.manage. Whether the camera is calibrated comes from
 * GET /api/cameras/{id}/calibration (ground sizes apply only then).
 *
 * Another module adds to the panel with ``addSection(render)``: ``render(camera, element, info)``
 * runs each time a camera is shown, with an element of its own at the panel's foot (``info``:
 * {calibrated, imageSize}).
 *
 * For tests: #zc-detail[data-camera] is the camera shown, [data-state] "loading" then "ready";
 * .zc-mask-view[data-source] is "live", "calibration" or "assumed".
 */

import { $, esc } from "../lib/dom.js";
import { CLASS } from "../lib/classes.js";
import { drawMasks } from "../lib/pixel-svg.js";
import { api, fetchWithToken } from "../lib/session.js";
import { filtersEditor, filtersTable } from "./filters.js";

const ASSUMED_SIZE = [1920, 1080];

/** The detail panel (#zc-detail). ``onSaved(camera)``: a change was stored here. */
export function createDetail({ canManage, onSaved, onClose }) {
  const panel = $("#zc-detail");
  const sections = [];
  let shown = null; // the camera shown
  let info = null;
  let editing = false;
  let seq = 0;
  let frame = null; // {id, url, size}: the shown camera's picture
  let note = ""; // said under the filters once after a save

  $("#zc-detail-close").addEventListener("click", () => {
    hide();
    onClose();
  });

  async function show(camera) {
    const mine = ++seq;
    if (!shown || shown.id !== camera.id) note = "";
    shown = camera;
    editing = false;
    panel.classList.remove("zc-editing");
    panel.hidden = false;
    panel.dataset.camera = camera.id;
    panel.dataset.state = "loading";
    $("#zc-detail-title").innerHTML =
      `${esc(camera.name)} <small><code>${esc(camera.id)}</code> · revision ${esc(camera.revision)}</small>`;
    renderFilters(camera, null);
    const kept = frame && frame.id === camera.id ? frame : null;
    const [calibration, picture] = await Promise.all([
      api(`/api/cameras/${encodeURIComponent(camera.id)}/calibration`).catch(() => null),
      kept || camera.status !== "online" ? kept : liveFrame(camera.id),
    ]);
    if (mine !== seq) {
      if (picture && picture !== kept) URL.revokeObjectURL(picture.url);
      return;
    }
    if (picture !== frame && frame) URL.revokeObjectURL(frame.url);
    frame = picture;
    const newest = calibration && calibration.calibration;
    info = { calibrated: Boolean(newest), imageSize: newest ? newest.image_size : null };
    renderMasks(camera);
    if (!editing) renderFilters(camera, info);
    const foot = $("#zc-detail-extra");
    foot.replaceChildren();
    for (const render of sections) {
      const el = document.createElement("div");
      foot.appendChild(el);
      render(camera, el, info);
    }
    panel.dataset.state = "ready";
  }

  function hide() {
    seq += 1;
    shown = null;
    editing = false;
    panel.hidden = true;
    delete panel.dataset.camera;
  }

  /** The camera's newest frame as a blob: URL with its size, or null (none yet). */
  async function liveFrame(id) {
    try {
      const resp = await fetchWithToken(`/api/cameras/${encodeURIComponent(id)}/frame.jpg`, { cache: "no-store" });
      if (!resp.ok) return null;
      const url = URL.createObjectURL(await resp.blob());
      const img = new Image();
      await new Promise((resolve, reject) => {
        img.onload = resolve;
        img.onerror = reject;
        img.src = url;
      });
      return { id, url, size: [img.naturalWidth, img.naturalHeight] };
    } catch {
      return null;
    }
  }

  function renderMasks(camera) {
    const size = frame ? frame.size : info.imageSize || ASSUMED_SIZE;
    const source = frame ? "live" : info.imageSize ? "calibration" : "assumed";
    const [w, h] = size;
    const masks = camera.masks || [];
    const own = Object.entries((camera.filters && camera.filters.classes) || {}).filter(([, f]) => (f.masks || []).length);
    const caption = {
      live: `实时画面 ${w}×${h} <small>Live frame</small>`,
      calibration: `无实时画面，按标定画面尺寸 ${w}×${h} 绘制 <small>No live frame: drawn on the calibrated frame size</small>`,
      assumed: `画面尺寸未知，按 ${w}×${h} 绘制 <small>Frame size unknown: drawn on ${w}×${h}</small>`,
    }[source];
    const calibrate = `/static/calibrate/index.html?camera=${encodeURIComponent(camera.id)}`;
    $("#zc-detail-masks").innerHTML = `
      <div class="zc-detail-head">
        <h3>屏蔽区 <small>Masks</small></h3>
        <span class="zc-mask-count" id="zc-mask-count" data-count="${masks.length}">${masks.length
          ? `${masks.length} 个遮罩 <small>masks</small>` : "无遮罩 <small>No masks</small>"}</span>
      </div>
      <div class="zc-mask-view" data-source="${source}">
        <div class="zc-mask-stage" style="aspect-ratio: ${w} / ${h}">
          ${frame ? `<img src="${frame.url}" alt="camera ${esc(camera.id)} frame">` : ""}
          <svg class="zc-mask-svg" viewBox="0 0 ${w} ${h}" preserveAspectRatio="none"></svg>
        </div>
      </div>
      <p class="zc-mask-caption">${caption}</p>
      <p class="zc-mask-caption"><a class="zc-calibrate" href="${calibrate}"
        title="Masks are drawn on the calibration page">在标定页绘制遮罩 <small>Draw masks</small></a></p>`;
    const svg = $("#zc-detail-masks .zc-mask-svg");
    const label = Math.max(16, w / 16); // about 1/20 of the box it is shown in
    drawMasks(svg, masks, { size: label, cls: "zc-mask" });
    for (const [cls, f] of own) {
      const name = cls === "*" ? "其他" : (CLASS[cls] || { label: cls }).label;
      drawMasks(svg, f.masks, { size: label * 0.8, cls: "zc-class-mask", label: () => `仅${name}` });
    }
  }

  function renderFilters(camera, known) {
    const head = `<div class="zc-detail-head">
        <h3>目标过滤 <small>Object filters</small></h3>
        ${canManage ? '<button type="button" id="zc-filters-edit">编辑过滤器 <small>Edit filters</small></button>' : ""}
      </div>`;
    $("#zc-detail-filters").innerHTML = `${head}<div id="zc-filters-body">${filtersTable(camera.filters,
      known ? known.calibrated : true)}</div><p class="zc-msg" id="zc-filters-note" data-kind="ok" role="status">${
      esc(note)}</p>`;
    const edit = $("#zc-filters-edit");
    if (!edit) return;
    edit.addEventListener("click", () => {
      editing = true;
      panel.classList.add("zc-editing"); // the editor takes the panel's width
      note = "";
      edit.hidden = true;
      $("#zc-filters-note").textContent = "";
      filtersEditor($("#zc-filters-body"), shown, {
        onSaved: (saved) => {
          editing = false;
          panel.classList.remove("zc-editing");
          note = `已保存 Saved · revision ${saved.revision}`;
          onSaved(saved);
          show(saved);
        },
        onClose: () => {
          editing = false;
          panel.classList.remove("zc-editing");
          renderFilters(shown, info);
        },
      });
    });
  }

  /** A newer copy of the camera shown (the table's refresh): shown again when it changed. */
  function refresh(camera) {
    if (!shown || camera.id !== shown.id || editing) return;
    if (camera.revision !== shown.revision) show(camera);
    else shown = camera;
  }

  return {
    show,
    hide,
    refresh,
    addSection: (render) => sections.push(render),
    get camera() {
      return shown;
    },
  };
}
