/* zhizhi 智治 — a camera's object filters on the cameras page: a table per class, and its editor.
 *
 * The filters are the camera record's ``filters`` (layers/camera_filters.py, Frigate-style): per
 * class (or "*" for every class without its own) a minimum detection score, a threshold on the
 * median score of a track's history, box area and width/height ratio ranges, a ground-width range
 * in metres (applied only once the camera is calibrated) and masks of that class. The editor
 * changes them with PATCH /api/cameras/{id} {filters, revision}; the class's own masks are kept as
 * they are. Values are sent as typed: the console refuses a bad one (422), and its message is
 * shown, naming the class and the field, with the input or row marked. */

import { esc } from "../lib/dom.js";
import { CLASS } from "../lib/classes.js";
import { fmtInt } from "../lib/format.js";
import { ApiError, api } from "../lib/session.js";

/** Every class a filter may name, in the order rows are shown: the detector's, then "*". */
export const FILTER_CLASSES = [...Object.keys(CLASS), "*"];
const SCORES = ["min_score", "threshold"];
const RANGES = [
  ["min_area", "max_area"],
  ["min_ratio", "max_ratio"],
  ["min_size_m", "max_size_m"],
];
const NUMERIC = [...SCORES, ...RANGES.flat()];
/** Chinese first, as the columns say them. */
export const FIELD_LABEL = {
  min_score: "最低分",
  threshold: "轨迹中位分阈值",
  min_area: "最小面积",
  max_area: "最大面积",
  min_ratio: "最小宽高比",
  max_ratio: "最大宽高比",
  min_size_m: "最小地面尺寸",
  max_size_m: "最大地面尺寸",
  masks: "屏蔽区",
};
const HEAD = `<tr>
  <th>类别<br><small>Class</small></th>
  <th>最低分<br><small>Min score</small></th>
  <th>轨迹中位分阈值<br><small>Track median</small></th>
  <th>面积<br><small>Box area px²</small></th>
  <th>宽高比<br><small>Width / height</small></th>
  <th>地面尺寸<br><small>Ground width m</small></th>
  <th>屏蔽区<br><small>Masks</small></th>`;

/** "危化品车 hazmat_tanker"; "*": every other class. */
export function classLabel(cls) {
  if (cls === "*") return "其他类别 <small>* others</small>";
  const c = CLASS[cls];
  return c ? `${esc(c.label)} <small>${esc(cls)}</small>` : esc(cls);
}

/** The same on two lines (a table's class cell). */
function classCell(cls) {
  return classLabel(cls).replace(" <small>", "<br><small>");
}

function num(v) {
  if (v == null) return "";
  return Math.abs(v) >= 1000 ? fmtInt(v) : String(v);
}

function range(lo, hi) {
  if (lo == null && hi == null) return "—";
  if (lo != null && hi != null) return `${num(lo)} – ${num(hi)}`;
  return lo != null ? `≥ ${num(lo)}` : `≤ ${num(hi)}`;
}

function rowsOf(filters) {
  const classes = (filters && filters.classes) || {};
  return FILTER_CLASSES.filter((c) => c in classes).concat(Object.keys(classes).filter((c) => !FILTER_CLASSES.includes(c)))
    .map((cls) => [cls, classes[cls]]);
}

/** The read-only table (HTML) of ``filters``; ``calibrated``: whether ground sizes apply. */
export function filtersTable(filters, calibrated) {
  const rows = rowsOf(filters);
  if (!rows.length) {
    return `<p class="zc-none" data-filters="none">未设置过滤器：所有检测都保留 <small>No filters: every detection is kept</small></p>`;
  }
  const body = rows.map(([cls, f]) => {
    const sized = f.min_size_m != null || f.max_size_m != null;
    const needs = sized && !calibrated
      ? ' <span class="zc-tag-warn" title="not applied until the camera is calibrated">需标定</span>' : "";
    const masks = (f.masks || []).length;
    return `<tr data-cls="${esc(cls)}">
      <td class="zc-cls">${classCell(cls)}</td>
      <td class="zc-num" data-field="min_score">${f.min_score == null ? "—" : num(f.min_score)}</td>
      <td class="zc-num" data-field="threshold">${f.threshold == null ? "—" : num(f.threshold)}</td>
      <td class="zc-num" data-field="area">${range(f.min_area, f.max_area)}</td>
      <td class="zc-num" data-field="ratio">${range(f.min_ratio, f.max_ratio)}</td>
      <td class="zc-num" data-field="size_m">${range(f.min_size_m, f.max_size_m)}${needs}</td>
      <td class="zc-num" data-field="masks">${masks ? `${masks} 个` : "—"}</td>
    </tr>`;
  });
  return `<table class="zc-table zc-filters-table"><thead>${HEAD}</tr></thead><tbody>${body.join("")}</tbody></table>`;
}

function input(cls, field, value) {
  const v = value == null ? "" : String(value);
  return `<input data-cls="${esc(cls)}" data-field="${field}" value="${esc(v)}" inputmode="decimal" placeholder="—"
    aria-label="${esc(cls)} ${FIELD_LABEL[field]} ${field}" title="${field}" autocomplete="off">`;
}

function editorRow(cls, f) {
  const pair = ([lo, hi]) => `<td><span class="zc-pair">${input(cls, lo, f[lo])}<span>–</span>${input(cls, hi, f[hi])}</span></td>`;
  const masks = (f.masks || []).length;
  return `<tr data-cls="${esc(cls)}">
    <td class="zc-cls">${classCell(cls)}</td>
    ${SCORES.map((field) => `<td>${input(cls, field, f[field])}</td>`).join("")}
    ${RANGES.map(pair).join("")}
    <td class="zc-num" title="edited on the calibration page's frame">${masks ? `${masks} 个` : "—"}</td>
    <td><button type="button" class="zc-remove" data-cls="${esc(cls)}" title="删除该类别 remove this class">✕</button></td>
  </tr>`;
}

/** The editor of one camera's filters, mounted in ``root``; ``onSaved(camera)`` after a save,
 * ``onClose()`` when it closes (saved or cancelled). */
export function filtersEditor(root, camera, { onSaved, onClose }) {
  // the rows as edited: [cls, {field: value}] (the class's masks kept)
  let rows = rowsOf(camera.filters).map(([cls, f]) => [cls, { ...f }]);

  function render() {
    const present = new Set(rows.map(([cls]) => cls));
    const free = FILTER_CLASSES.filter((c) => !present.has(c));
    root.innerHTML = `<form class="zc-filters-form" id="zc-filters-form" novalidate>
      <div class="zc-filters-wrap">
        <table class="zc-table zc-filters-table zc-filters-edit"><thead>${HEAD}<th></th></tr></thead>
          <tbody>${rows.map(([cls, f]) => editorRow(cls, f)).join("")}</tbody></table>
        ${rows.length ? "" : '<p class="zc-none">没有过滤器 <small>No filters: add a class</small></p>'}
      </div>
      <p class="zc-hint">面积：像素²（分析画面）· 宽高比：宽 / 高 · 地面尺寸：米（需标定）· 空 = 不限 <small>blank: no limit</small></p>
      <div class="zc-actions">
        <select id="zc-filter-class" aria-label="类别 Class"${free.length ? "" : " disabled"}>
          ${free.map((c) => `<option value="${esc(c)}">${classLabel(c).replace(/<\/?small>/g, "")}</option>`).join("")}
        </select>
        <button type="button" id="zc-filter-add"${free.length ? "" : " disabled"}>＋ 添加类别 <small>Add class</small></button>
        <button type="submit" id="zc-filters-save" class="zc-primary">保存过滤器 <small>Save filters</small></button>
        <button type="button" id="zc-filters-cancel">取消 <small>Cancel</small></button>
      </div>
      <p class="zc-msg" id="zc-filters-msg" role="status"></p>
    </form>`;
    root.querySelector("#zc-filter-add").addEventListener("click", () => {
      collect();
      rows.push([root.querySelector("#zc-filter-class").value, {}]);
      render();
    });
    root.querySelector("tbody").addEventListener("click", (e) => {
      const b = e.target.closest(".zc-remove");
      if (!b) return;
      collect();
      rows = rows.filter(([cls]) => cls !== b.dataset.cls);
      render();
    });
    root.querySelector("#zc-filters-cancel").addEventListener("click", onClose);
    root.querySelector("#zc-filters-form").addEventListener("submit", save);
  }

  /** The inputs' text into ``rows`` (numbers as numbers; other text as typed, for the console to name). */
  function collect() {
    for (const el of root.querySelectorAll("input[data-field]")) {
      const row = rows.find(([cls]) => cls === el.dataset.cls);
      if (!row) continue;
      const text = el.value.trim().replace(/,/g, "");
      const value = text === "" ? null : Number(text);
      row[1][el.dataset.field] = text === "" ? null : Number.isFinite(value) ? value : text;
    }
  }

  function body() {
    const classes = {};
    for (const [cls, f] of rows) {
      const out = {};
      for (const field of NUMERIC) if (f[field] != null) out[field] = f[field];
      if ((f.masks || []).length) out.masks = f.masks;
      classes[cls] = out;
    }
    return { classes };
  }

  function say(kind, text) {
    const msg = root.querySelector("#zc-filters-msg");
    msg.dataset.kind = kind;
    msg.textContent = text;
  }

  async function save(event) {
    event.preventDefault();
    collect();
    for (const el of root.querySelectorAll(".zc-invalid")) el.classList.remove("zc-invalid");
    say("busy", "保存中… Saving");
    try {
      const saved = await api(`/api/cameras/${encodeURIComponent(camera.id)}`, {
        method: "PATCH", body: { filters: body(), revision: camera.revision },
      });
      onSaved(saved);
    } catch (err) {
      showErrors(err);
    }
  }

  function showErrors(err) {
    const detail = err instanceof ApiError && err.body ? err.body.detail : null;
    const lines = [];
    if (Array.isArray(detail)) {
      for (const e of detail) {
        const loc = (e.loc || []).filter((p) => p !== "body");
        const [, , cls, field] = loc; // ["filters", "classes", cls, field]
        const row = cls != null ? root.querySelector(`tr[data-cls="${CSS.escape(String(cls))}"]`) : null;
        const cell = row && field ? row.querySelector(`input[data-field="${CSS.escape(String(field))}"]`) : null;
        // a fault of the class's pair (min over max) names its fields in the message: mark those
        const named = row && !cell ? [...String(e.msg).matchAll(/\b(?:min|max)_[a-z_]+\b/g)]
          .map((m) => row.querySelector(`input[data-field="${m[0]}"]`)).filter(Boolean) : [];
        for (const marked of cell ? [cell] : named.length ? named : row ? [row] : []) marked.classList.add("zc-invalid");
        if (row) row.querySelector(".zc-cls").classList.add("zc-invalid");
        const where = cls != null
          ? `${classLabel(String(cls)).replace(/<\/?small>/g, "")}${field ? ` · ${FIELD_LABEL[field] || ""} ${field}` : ""}`
          : loc.join(".");
        lines.push(`${where}: ${String(e.msg).replace(/^Value error, /, "")}`);
      }
    } else {
      lines.push(typeof detail === "string" ? detail : err.message);
    }
    const status = err instanceof ApiError && err.status ? `HTTP ${err.status} · ` : "";
    say("error", `${status}${lines.join("；")}`);
  }

  render();
}
