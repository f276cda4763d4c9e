/* zhizhi 智治 — the jurisdictions admin page: /jurisdictions (district administrators).
 *
 * Shows the stored hierarchy (GET /api/jurisdictions: district, counts per level and grid kind,
 * imported or generated, when, from which files) and imports the county's own files through
 * POST /api/jurisdictions/import (multipart: towns, villages, grids, optional micro_grids, and the
 * form fields district, district_name, field (repeated), crs, encoding, tolerance_m, dry_run).
 *
 * "检查 Check" sends a dry run (nothing is stored) and shows its report: counts, gap and overlap
 * areas, errors (red) and warnings (amber) in a table, each issue's point on a small map (a row's
 * click pans to it). "导入 Import" opens only after a valid check of the very inputs now in the
 * form (files by name, size and time; every field): any change closes it again until the next
 * check. Importing asks for confirmation (it replaces the hierarchy of every console), then shows
 * the import's report and the new summary. A user the console refuses (403) sees who may use the
 * page instead of the form.
 *
 * For tests: window.zhizhiJurisdictions = {summary, report, status, checkedKey, map, markers};
 * body[data-ready] = "true" once the page has loaded (data-access "granted" or "denied");
 * #zj-report[data-state]: empty, checking, valid, refused, importing, imported, stale, failed.
 */

import { $, esc } from "../lib/dom.js";
import { fail } from "../lib/errors.js";
import { fmtInt, pad } from "../lib/format.js";
import { consolePagesHtml, mountHeader, showConfig, showUnavailable } from "../lib/header.js";
import { ApiError, api, fetchWithToken, toLogin, token } from "../lib/session.js";
import { loadBasemap } from "../map/basemap.js";

const PAGE_TITLE = "辖区层级导入 Jurisdictions";
const LEVEL_FILES = ["towns", "villages", "grids", "micro_grids"];
const FILE_INPUTS = { towns: "#zj-towns", villages: "#zj-villages", grids: "#zj-grids", micro_grids: "#zj-micro" };
const LEVEL_NAMES = {
  towns: "镇街 Towns",
  villages: "村社区 Villages",
  grids: "网格 Grids",
  micro_grids: "微网格 Micro-grids",
  district: "区县 District",
  fields: "字段 Fields",
  form: "表单 Form",
  layers: "图层 Layers",
  cameras: "摄像机 Cameras",
  users: "用户 Users",
};
const CODES_SHOWN = 4; // longer code lists collapse to the first three and a count

const zj = { summary: null, report: null, status: null, checkedKey: null, map: null, outline: null, markers: [] };
window.zhizhiJurisdictions = zj;

// ------------------------------------------------------------------------------- the summary

function fmtStamp(ts) {
  if (!Number.isFinite(ts)) return "";
  const d = new Date(ts * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function countItems(pairs) {
  return pairs
    .map(([label, value, key]) => `<div data-count="${key}"><dt>${label}</dt><dd>${fmtInt(value)}</dd></div>`)
    .join("");
}

function renderSummary(s) {
  zj.summary = s;
  $("#zj-district-name").textContent = s.district.name || "—";
  $("#zj-district-code").textContent = s.district.code;
  const origin = $("#zj-origin");
  if (s.imported) {
    origin.dataset.origin = "imported";
    origin.textContent = `县域导入 Imported${s.imported_at ? " · " + fmtStamp(s.imported_at) : ""}`;
  } else if (s.synthetic) {
    origin.dataset.origin = "synthetic";
    origin.textContent = "演示合成 Demo · synthetic";
  } else {
    origin.dataset.origin = "generated";
    origin.textContent = "程序生成 Generated";
  }
  $("#zj-counts").innerHTML = countItems([
    ["镇街 <small>Towns</small>", s.towns, "towns"],
    ["村社区 <small>Villages</small>", s.villages, "villages"],
    ["综合网格 <small>Grids</small>", s.grids, "grids"],
    ["专属网格 <small>Dedicated</small>", s.dedicated_grids, "dedicated_grids"],
    ["微网格 <small>Micro-grids</small>", s.micro_grids, "micro_grids"],
  ]);
  const sources = Object.entries(s.sources || {});
  $("#zj-sources").innerHTML = sources.length
    ? `<span>来源文件 Files</span> ` +
      sources.map(([level, name]) => `<b>${esc(LEVEL_NAMES[level] || level)}</b> <code>${esc(name)}</code>`).join(" · ")
    : "";
  if (!$("#zj-district").value) $("#zj-district").placeholder = `自动 auto (${s.district.code})`;
  $("#zj-district-name-input").placeholder = `不变：${s.district.name}`;
}

async function loadSummary() {
  renderSummary(await api("/api/jurisdictions"));
}

async function loadHeader() {
  try {
    showConfig(await api("/api/config"), PAGE_TITLE);
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) showUnavailable("辖区层级 Jurisdictions");
    else throw err;
  }
}

// ------------------------------------------------------------------------------------ the form

/** The inputs as one string: a check is valid for exactly these (files by name, size, time). */
function inputsKey() {
  const files = LEVEL_FILES.map((level) => {
    const f = $(FILE_INPUTS[level]).files[0];
    return f ? [f.name, f.size, f.lastModified] : null;
  });
  return JSON.stringify([files, fieldValues()]);
}

function crsValue() {
  const picked = $("#zj-crs").value;
  return picked === "other" ? $("#zj-crs-other").value.trim() : picked;
}

function fieldValues() {
  return {
    district: $("#zj-district").value.trim(),
    district_name: $("#zj-district-name-input").value.trim(),
    crs: crsValue(),
    encoding: $("#zj-encoding").value,
    tolerance_m: $("#zj-tolerance").value.trim(),
    field: $("#zj-field")
      .value.split("\n")
      .map((line) => line.trim())
      .filter(Boolean),
  };
}

/** What is wrong with the form before anything is sent (empty when nothing). */
function formProblems() {
  const problems = [];
  for (const level of ["towns", "villages", "grids"]) {
    if (!$(FILE_INPUTS[level]).files.length) problems.push(`缺少文件 missing file: ${LEVEL_NAMES[level]}`);
  }
  const v = fieldValues();
  if (v.district && !/^\d{6}$/.test(v.district)) problems.push("区县代码须为 6 位数字 district code: 6 digits");
  const tol = Number(v.tolerance_m);
  if (v.tolerance_m === "" || !Number.isFinite(tol) || tol < 0 || tol > 100) {
    problems.push("容差须在 0–100 米 tolerance: 0 to 100 m");
  }
  if ($("#zj-crs").value === "other" && !v.crs) problems.push("请填写坐标系 enter the CRS (e.g. EPSG:4527)");
  return problems;
}

function formData(dryRun) {
  const data = new FormData();
  for (const level of LEVEL_FILES) {
    const f = $(FILE_INPUTS[level]).files[0];
    if (f) data.append(level, f, f.name);
  }
  const v = fieldValues();
  for (const key of ["district", "district_name", "crs", "encoding", "tolerance_m"]) {
    if (v[key] !== "") data.append(key, v[key]);
  }
  for (const line of v.field) data.append("field", line);
  data.append("dry_run", dryRun ? "true" : "false");
  return data;
}

function setState(text, kind = "") {
  const el = $("#zj-state");
  el.textContent = text;
  el.dataset.kind = kind;
}

/** Import opens only after a valid check of the inputs now in the form. */
function updateImport() {
  const busy = zj.status === "checking" || zj.status === "importing";
  const fresh = zj.checkedKey !== null && zj.checkedKey === inputsKey();
  $("#zj-import").disabled = busy || !fresh || zj.status !== "valid";
  $("#zj-check").disabled = busy;
  if (busy || zj.checkedKey === null || !["valid", "refused"].includes(zj.status)) return;
  const shown = $("#zj-report").dataset.state;
  if (!fresh && shown !== "stale") {
    setReportState("stale");
    setState("输入已更改，请重新检查 · Inputs changed since the check: check again", "warn");
  } else if (fresh && shown === "stale") {
    showVerdict(zj.status); // back to the inputs that were checked
  }
}

function onInputChanged() {
  $("#zj-crs-other-label").hidden = $("#zj-crs").value !== "other";
  updateImport();
}

// ---------------------------------------------------------------------------------- the calls

/** POST the form; ``{status, report}`` (a report-shaped answer whatever the refusal). */
async function send(dryRun) {
  let resp;
  try {
    resp = await fetchWithToken("/api/jurisdictions/import", { method: "POST", body: formData(dryRun) });
  } catch (err) {
    throw new ApiError("/api/jurisdictions/import", 0, `网络错误 network error (${err.message})`);
  }
  if (resp.status === 401) {
    toLogin();
    throw new ApiError("/api/jurisdictions/import", 401, "请重新登录 log in again");
  }
  let body = null;
  try {
    body = await resp.json();
  } catch (_) {
    body = null;
  }
  if (resp.status === 403) return { status: 403, detail: body && body.detail };
  if (body && Array.isArray(body.errors)) return { status: resp.status, report: body };
  if (resp.status === 422 || resp.status === 413) {
    return { status: resp.status, report: refusalOf(body) };
  }
  const detail = body && body.detail !== undefined ? JSON.stringify(body.detail) : resp.statusText;
  throw new ApiError("/api/jurisdictions/import", resp.status, detail);
}

/** A validation answer ({detail: [...]}) as a report with one error per refused field. */
function refusalOf(body) {
  const detail = body && body.detail;
  const list = Array.isArray(detail) ? detail : [{ loc: ["form"], msg: String(detail || "refused") }];
  const errors = list.map((d) => {
    const loc = Array.isArray(d.loc) ? d.loc.filter((p) => p !== "body") : [];
    return { level: "form", codes: loc.map(String), reason: `${loc.join(".") || "form"}: ${d.msg}` };
  });
  return { towns: 0, villages: 0, grids: 0, errors, warnings: [], gap_m2: 0, overlap_m2: 0 };
}

async function check(event) {
  event.preventDefault();
  const problems = formProblems();
  if (problems.length) {
    setState(problems.join(" · "), "error");
    return;
  }
  const key = inputsKey();
  zj.status = "checking";
  zj.checkedKey = null;
  setReportState("checking");
  $("#zj-verdict").textContent = "正在检查… · Checking…";
  setState("正在检查，未做任何更改 · Checking; nothing is changed", "");
  updateImport();
  try {
    const answer = await send(true);
    if (answer.status === 403) return denied(answer.detail);
    zj.checkedKey = key;
    showReport(answer.report, answer.status === 200 ? "valid" : "refused");
  } catch (err) {
    zj.status = "failed";
    setReportState("failed");
    $("#zj-verdict").textContent = `检查失败 · The check failed: ${err.message}`;
    setState("检查失败 · The check failed", "error");
    fail("检查失败 The check failed", err);
  } finally {
    updateImport();
  }
}

function askToImport() {
  const s = zj.summary;
  const r = zj.report;
  const district = fieldValues().district || (s && s.district.code) || "";
  $("#zj-confirm-text").innerHTML =
    `当前 Now: <b>${esc(s ? s.district.name : "—")}</b> · ${fmtInt(s ? s.towns : NaN)} 镇街 · ` +
    `${fmtInt(s ? s.villages : NaN)} 村社区 · ${fmtInt(s ? s.grids : NaN)} 网格<br>` +
    `导入后 After: <b>${esc(fieldValues().district_name || district)}</b> · ${fmtInt(r.towns)} 镇街 · ` +
    `${fmtInt(r.villages)} 村社区 · ${fmtInt(r.grids)} 网格` +
    (Number.isFinite(r.micro_grids) ? ` · ${fmtInt(r.micro_grids)} 微网格` : "");
  $("#zj-confirm").showModal();
  $("#zj-confirm-cancel").focus();
}

async function importNow() {
  if (zj.checkedKey !== inputsKey()) return updateImport(); // changed while the dialog was open
  zj.status = "importing";
  setReportState("importing");
  $("#zj-verdict").textContent = "正在导入… · Importing…";
  setState("正在导入并替换辖区层级 · Importing: replacing the hierarchy", "");
  updateImport();
  try {
    const answer = await send(false);
    if (answer.status === 403) return denied(answer.detail);
    zj.checkedKey = null; // what is stored now is these files: a second import needs a new check
    if (answer.status === 200) {
      showReport(answer.report, "imported");
      await Promise.all([loadSummary(), loadHeader(), drawOutline()]);
      flashSummary();
    } else {
      showReport(answer.report, "refused");
    }
  } catch (err) {
    zj.status = "failed";
    setReportState("failed");
    $("#zj-verdict").textContent = `导入失败 · The import failed: ${err.message}`;
    setState("导入失败，请重新检查 · The import failed: check again", "error");
    fail("导入失败 The import failed", err);
  } finally {
    updateImport();
  }
}

function flashSummary() {
  const card = $("#zj-current");
  card.classList.remove("zj-flash");
  void card.offsetWidth; // restart the animation
  card.classList.add("zj-flash");
}

// -------------------------------------------------------------------------------- the report

function setReportState(state) {
  $("#zj-report").dataset.state = state;
}

const fmtArea = (m2) => (Number.isFinite(m2) && m2 > 0 ? fmtInt(m2) : "—");

function area(m2) {
  if (!Number.isFinite(m2) || m2 <= 0) return "0 m²";
  return m2 >= 1e6 ? `${(m2 / 1e6).toFixed(2)} km²` : `${fmtInt(m2)} m²`;
}

function codesHtml(codes) {
  if (!codes || !codes.length) return `<span class="zj-dim">—</span>`;
  const list = (items) => items.map((c) => `<code>${esc(c)}</code>`).join(" ");
  if (codes.length <= CODES_SHOWN) return list(codes);
  return (
    `${list(codes.slice(0, CODES_SHOWN - 1))} <details class="zj-more"><summary>+${fmtInt(codes.length - CODES_SHOWN + 1)} ` +
    `<small>共 ${fmtInt(codes.length)} 个 · of ${fmtInt(codes.length)}</small></summary>${list(codes.slice(CODES_SHOWN - 1))}</details>`
  );
}

function issueRow(issue, n, kind) {
  const p = Array.isArray(issue.point) && issue.point.length === 2 ? issue.point : null;
  const where = p
    ? `<button type="button" class="zj-goto" data-goto="${n}" title="在地图上查看 show on the map">` +
      `${p[0].toFixed(4)}<br>${p[1].toFixed(4)}</button>`
    : `<span class="zj-dim">—</span>`;
  return (
    `<tr class="zj-${kind}" data-issue="${n}" data-kind="${kind}"${p ? " data-point" : ""}>` +
    `<td class="zj-n">${n}</td><td class="zj-level">${esc(LEVEL_NAMES[issue.level] || issue.level)}</td>` +
    `<td class="zj-codes">${codesHtml(issue.codes)}</td><td class="zj-reason">${esc(issue.reason)}</td>` +
    `<td class="zj-num">${fmtArea(issue.area_m2)}</td><td>${where}</td></tr>`
  );
}

/** The verdict line and the state line of report state ``state`` (zj.report's). */
function showVerdict(state) {
  setReportState(state);
  const errors = zj.report.errors || [];
  const warnings = zj.report.warnings || [];
  const [zh, en] = {
    valid: [
      `✔ 检查通过，可以导入${warnings.length ? `（${warnings.length} 个提示）` : ""}`,
      `Valid: ready to import${warnings.length ? `, ${warnings.length} warning(s)` : ""}`,
    ],
    refused: [`✖ 拒绝导入：${errors.length} 个错误，未做更改`, `Refused: ${errors.length} error(s), nothing changed`],
    imported: ["✔ 已导入，所有控制台已更新", "Imported for every console"],
  }[state];
  $("#zj-verdict").innerHTML = `${esc(zh)} <small>${esc(en)}</small>`;
  setState(
    {
      valid: "检查通过 · Valid: Import is open for these inputs",
      refused: "请修正文件后重新检查 · Fix the files and check again",
      imported: "导入完成 · Imported",
    }[state],
    state === "refused" ? "error" : "ok",
  );
}

function showReport(report, state) {
  zj.report = report;
  zj.status = state;
  showVerdict(state);
  const errors = report.errors || [];
  const warnings = report.warnings || [];
  const items = [
    ["镇街 <small>Towns</small>", report.towns, "towns"],
    ["村社区 <small>Villages</small>", report.villages, "villages"],
    ["网格 <small>Grids</small>", report.grids, "grids"],
  ];
  if (Number.isFinite(report.micro_grids)) items.push(["微网格 <small>Micro</small>", report.micro_grids, "micro_grids"]);
  $("#zj-report-counts").innerHTML =
    countItems(items) +
    `<div data-count="gap"><dt>空隙 <small>Gaps</small></dt><dd>${area(report.gap_m2)}</dd></div>` +
    `<div data-count="overlap"><dt>重叠 <small>Overlaps</small></dt><dd>${area(report.overlap_m2)}</dd></div>`;
  const rows = [...errors.map((i) => [i, "error"]), ...warnings.map((i) => [i, "warning"])];
  $("#zj-issue-rows").innerHTML = rows.length
    ? rows.map(([issue, kind], k) => issueRow(issue, k + 1, kind)).join("")
    : `<tr class="zj-none"><td colspan="6">没有错误或提示 · No errors or warnings</td></tr>`;
  placeMarkers(rows);
}

// -------------------------------------------------------------------------------- the map

function createMap() {
  if (typeof window.L === "undefined") {
    fail("前端资源缺失 Leaflet not loaded (/static/vendor/leaflet/leaflet.js)", "run scripts/install_assets.sh");
    return null;
  }
  const map = L.map("zj-map", { zoomControl: true, attributionControl: true, minZoom: 5, maxZoom: 19 });
  map.attributionControl.setPrefix("Leaflet");
  L.control.scale({ position: "bottomleft", imperial: false, maxWidth: 160 }).addTo(map);
  map.setView([32.0, 121.0], 9);
  new ResizeObserver(() => map.invalidateSize()).observe(map.getContainer());
  zj.map = map;
  return map;
}

async function drawOutline() {
  if (!zj.map) return;
  const feature = await api("/api/wall/scope");
  if (zj.outline) zj.outline.remove();
  zj.outline = L.geoJSON(feature, {
    style: { color: "#4fc3f7", weight: 2, fill: true, fillOpacity: 0.04, interactive: false },
  }).addTo(zj.map);
  if (!zj.markers.length) zj.map.fitBounds(zj.outline.getBounds(), { padding: [12, 12] });
}

async function startMap(config) {
  const map = createMap();
  if (!map) return;
  const tiles = config && config.map && config.map.tile_url;
  if (tiles) {
    L.tileLayer(tiles, { attribution: config.map.tile_attribution || "", maxZoom: 19 }).addTo(map);
  } else {
    await loadBasemap({ map }).catch((err) => fail("底图加载失败 The basemap failed to load", err));
  }
  await drawOutline().catch((err) => fail("辖区轮廓加载失败 The district outline failed to load", err));
}

function placeMarkers(rows) {
  if (!zj.map) return;
  for (const m of zj.markers) m.remove();
  zj.markers = [];
  const points = [];
  rows.forEach(([issue, kind], k) => {
    if (!Array.isArray(issue.point) || issue.point.length !== 2) return;
    const n = k + 1;
    const latlng = [issue.point[1], issue.point[0]];
    const marker = L.marker(latlng, {
      icon: L.divIcon({ className: `zj-pin zj-pin-${kind}`, html: `<span>${n}</span>`, iconSize: [34, 34] }),
      title: `${n}: ${issue.reason}`,
      keyboard: false,
    }).addTo(zj.map);
    marker.on("click", () => select(n, false));
    marker.issue = n;
    zj.markers.push(marker);
    points.push(latlng);
  });
  zj.map.invalidateSize(); // the table above the map has just changed height
  if (points.length) zj.map.fitBounds(L.latLngBounds(points).pad(0.25), { maxZoom: 15, animate: false });
  else if (zj.outline) zj.map.fitBounds(zj.outline.getBounds(), { padding: [12, 12], animate: false });
}

/** Issue ``n`` selected: its row marked (scrolled to), its marker raised, the map panned to it. */
function select(n, pan) {
  for (const tr of document.querySelectorAll("#zj-issue-rows tr.zj-selected")) tr.classList.remove("zj-selected");
  const row = document.querySelector(`#zj-issue-rows tr[data-issue="${n}"]`);
  if (row) {
    row.classList.add("zj-selected");
    if (!pan) row.scrollIntoView({ block: "nearest" });
  }
  for (const m of zj.markers) {
    const el = m.getElement();
    if (el) el.classList.toggle("zj-pin-selected", m.issue === n);
    m.setZIndexOffset(m.issue === n ? 1000 : 0);
  }
  const marker = zj.markers.find((m) => m.issue === n);
  // Not animated: a move asked for during another's animation would be dropped.
  if (marker && pan) zj.map.setView(marker.getLatLng(), Math.max(zj.map.getZoom(), 15), { animate: false });
  zj.selected = n;
}

// ------------------------------------------------------------------------------- start-up

function denied(detail) {
  $("#zj-content").hidden = true;
  $("#zj-denied").hidden = false;
  $("#zj-denied-detail").textContent = detail ? `控制台答复 The console says: ${detail}` : "";
  document.body.dataset.access = "denied";
  document.body.dataset.ready = "true";
}

function wire() {
  $("#zj-form").addEventListener("submit", check);
  $("#zj-form").addEventListener("input", onInputChanged);
  $("#zj-form").addEventListener("change", onInputChanged);
  $("#zj-import").addEventListener("click", askToImport);
  $("#zj-confirm").addEventListener("close", () => {
    if ($("#zj-confirm").returnValue === "import") importNow();
  });
  $("#zj-issue-rows").addEventListener("click", (e) => {
    if (e.target.closest("details")) return; // opening a long code list
    const row = e.target.closest("tr[data-issue]");
    if (row) select(Number(row.dataset.issue), true);
  });
}

async function start() {
  if (!token()) {
    toLogin();
    return;
  }
  mountHeader({ subtitle: "辖区层级导入 <span>Jurisdictions</span>", nav: consolePagesHtml() });
  wire();
  let config = null;
  try {
    config = await api("/api/config");
    showConfig(config, PAGE_TITLE);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 403)) throw err;
    showUnavailable("辖区层级 Jurisdictions");
  }
  try {
    await loadSummary();
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) return denied(err.detail);
    throw err;
  }
  $("#zj-content").hidden = false;
  document.body.dataset.access = "granted";
  await startMap(config);
  document.body.dataset.ready = "true";
}

const run = () =>
  start().catch((err) => {
    fail("页面启动失败 The page failed to start", err);
    document.body.dataset.ready = "error";
  });
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run);
else run();
