/* zhizhi 智治 — the analyst workbench: /analyst.
 *
 * Warning-model versions of the store (GET /api/models?kind=warning), a diff between two
 * (GET /api/models/warning/{name}/diff?a=&b=), backtests run in the background
 * (POST /api/backtests, polled at GET /api/backtests/{id} with their progress), their scores
 * per rule side by side with a bar chart of F1, and promotion of a version
 * (POST /api/models/warning/{name}/{version}/promote) with a reason. A finished backtest's
 * "导出 CSV" downloads its scores (GET /api/backtests/{id}/result.csv, with a ticket: a link
 * carries no header; docs/exports.md).
 *
 * For tests: window.zhizhiAnalyst = {models, jobs, results}; body[data-ready] = "true".
 */

import { $, esc } from "../lib/dom.js";
import { api, toLogin, token, user, withTicket } from "../lib/session.js";

const POLL_MS = 1000;
const pct = (x) => (x === null || x === undefined ? "—" : `${(100 * x).toFixed(1)}%`);
const secs = (x) => (x === null || x === undefined ? "—" : `${x.toFixed(1)} s`);

const za = { models: [], jobs: new Map(), results: { a: null, b: null }, pick: { a: null, b: null } };
window.zhizhiAnalyst = za;

function label(m) {
  return `${m.name}@${m.version}`;
}

function message(sel, text, error = false) {
  const el = $(sel);
  el.textContent = text;
  el.classList.toggle("error", error);
}

// --------------------------------------------------------------------------------- models

async function loadModels() {
  za.models = (await api("/api/models?kind=warning")).sort((x, y) => y.version - x.version);
  const production = za.models.find((m) => m.status === "production");
  za.pick.a = za.pick.a || (production && label(production)) || (za.models[0] && label(za.models[0]));
  za.pick.b = za.pick.b || (za.models.find((m) => label(m) !== za.pick.a) ? label(za.models.find((m) => label(m) !== za.pick.a)) : null);
  $("#an-model-rows").innerHTML = za.models
    .map((m) => {
      const id = label(m);
      return (
        `<tr data-model="${esc(id)}">` +
        `<td><input type="radio" name="an-a" value="${esc(id)}" ${id === za.pick.a ? "checked" : ""}></td>` +
        `<td><input type="radio" name="an-b" value="${esc(id)}" ${id === za.pick.b ? "checked" : ""}></td>` +
        `<td><b>${esc(id)}</b></td>` +
        `<td><span class="an-status ${esc(m.status)}">${esc(m.status)}${m.running ? " · 运行中 running" : ""}</span></td>` +
        `<td>${esc(m.author)}</td><td>${esc(m.reason)}</td>` +
        `<td>${m.status === "production" ? "" : `<button type="button" data-promote="${esc(id)}">上线 Promote</button>`}</td>` +
        `</tr>`
      );
    })
    .join("");
}

function modelRef(id) {
  const at = id.lastIndexOf("@");
  return { name: id.slice(0, at), version: Number(id.slice(at + 1)) };
}

async function showDiff() {
  if (!za.pick.a || !za.pick.b) return message("#an-model-msg", "选两个版本 pick A and B", true);
  const a = modelRef(za.pick.a);
  const b = modelRef(za.pick.b);
  if (a.name !== b.name) return message("#an-model-msg", "同名模型才能比较 same model name only", true);
  const d = await api(`/api/models/warning/${encodeURIComponent(a.name)}/diff?a=${a.version}&b=${b.version}`);
  const out = $("#an-diff-out");
  out.hidden = false;
  const changes = (d.changes || []).map((c) => `${c.path}: ${JSON.stringify(c.old)} → ${JSON.stringify(c.new)}`);
  out.innerHTML =
    (changes.length ? changes.map((c) => `<b>${esc(c)}</b>`).join("\n") + "\n\n" : "") +
    (d.unified || "")
      .split("\n")
      .map((l) => (l.startsWith("+") ? `<span class="add">${esc(l)}</span>` : l.startsWith("-") ? `<span class="del">${esc(l)}</span>` : esc(l)))
      .join("\n");
  message("#an-model-msg", `${changes.length} 处改动 change(s)`);
}

async function promote(id) {
  const reason = window.prompt(`上线 ${id} 的理由 · Why promote ${id}?`, "");
  if (!reason) return;
  const { name, version } = modelRef(id);
  try {
    await api(`/api/models/warning/${encodeURIComponent(name)}/${version}/promote`, { method: "POST", body: { reason } });
    message("#an-model-msg", `${id} 已上线 promoted: the running warning model switches now`);
    await loadModels();
  } catch (err) {
    message("#an-model-msg", err.detail || err.message, true);
  }
}

// ------------------------------------------------------------------------------- backtests

async function loadDatasets() {
  const list = await api("/api/datasets");
  $("#an-dataset").innerHTML = list
    .map((d) => `<option value="${esc(d.name)}">${esc(d.name)} · ${datasetNote(d)}</option>`)
    .join("");
  if (!list.length) message("#an-run-msg", "没有数据集 no datasets in data_dir/datasets", true);
}

/** A folder: its clips; a labels dataset (labels:…): the caller's false alarms and confirmed events. */
function datasetNote(d) {
  if (d.false_alarms !== undefined) return `${d.false_alarms} 误报 false alarms · ${d.confirmed} 确认 confirmed (30 d)`;
  return `${d.clips} clips${d.with_truth ? "" : " · no truth"}`;
}

async function start(slot) {
  const id = za.pick[slot];
  const dataset = $("#an-dataset").value;
  if (!id || !dataset) return message("#an-run-msg", "选模型版本和数据集 pick a version and a dataset", true);
  try {
    const job = await api("/api/backtests", {
      method: "POST",
      body: { model: modelRef(id), dataset, truth: $("#an-truth").checked },
    });
    za.jobs.set(job.id, { job, slot, model: id });
    za.results[slot] = null;
    message("#an-run-msg", "");
    renderJobs();
    poll(job.id);
  } catch (err) {
    message("#an-run-msg", err.detail || err.message, true);
  }
}

async function poll(jobId) {
  const entry = za.jobs.get(jobId);
  entry.job = await api(`/api/backtests/${encodeURIComponent(jobId)}`);
  renderJobs();
  if (entry.job.status === "finished") {
    za.results[entry.slot] = { model: entry.model, result: entry.job.result };
    renderResults();
  } else if (entry.job.status !== "failed") {
    setTimeout(() => poll(jobId).catch((err) => message("#an-run-msg", err.message, true)), POLL_MS);
  }
}

function renderJobs() {
  $("#an-jobs").innerHTML = [...za.jobs.values()]
    .reverse()
    .map(({ job, slot, model }) => {
      const share = job.total ? (100 * job.done) / job.total : job.status === "finished" ? 100 : 0;
      return (
        `<li data-job="${esc(job.id)}" data-status="${esc(job.status)}"><span><b class="an-${slot}">${slot.toUpperCase()}</b> ${esc(model)} · ${esc(job.params.dataset)}` +
        (job.error ? ` <span class="failed">${esc(job.error)}</span>` : "") +
        `</span><span class="an-bar"><i style="width:${share.toFixed(0)}%"></i></span>` +
        `<span class="${esc(job.status)}">${esc(job.status)} ${job.total ? `${job.done}/${job.total}` : ""}` +
        (job.status === "finished" ? ` <button type="button" class="an-csv" data-csv="${esc(job.id)}">导出 CSV</button>` : "") +
        `</span></li>`
      );
    })
    .join("");
}

/** Download a finished backtest's scores as a CSV for Excel. */
async function downloadCsv(jobId) {
  const a = document.createElement("a");
  a.href = await withTicket(`/api/backtests/${encodeURIComponent(jobId)}/result.csv`);
  a.download = "";
  document.body.appendChild(a);
  a.click();
  a.remove();
}

function renderResults() {
  const { a, b } = za.results;
  const cols = [a, b].filter(Boolean);
  if (!cols.length) return;
  const rules = [...new Set(cols.flatMap((c) => Object.keys(c.result.rules)))];
  const cell = (c, rule, key, fmt) => {
    const s = rule === "totals" ? c.result.totals : c.result.rules[rule];
    return `<td class="num">${s ? fmt(s[key]) : "—"}</td>`;
  };
  const head = cols.map((c) => `<th colspan="4" class="an-${c === a ? "a" : "b"}">${esc(c.model)} · ${esc(c.result.dataset.split("/").pop())}</th>`).join("");
  const sub = cols.map(() => `<th>precision</th><th>recall</th><th>f1</th><th>mean_delay_s</th>`).join("");
  const rows = [...rules, "totals"]
    .map((rule) => {
      const kind = rule === "totals" ? "" : ((a || b).result.rules[rule] || {}).rule || "";
      return (
        `<tr data-rule="${esc(rule)}"><td><b>${esc(rule)}</b> <small>${esc(kind)}</small></td>` +
        cols.map((c) => cell(c, rule, "precision", pct) + cell(c, rule, "recall", pct) + cell(c, rule, "f1", pct) + cell(c, rule, "mean_delay_s", secs)).join("") +
        `</tr>`
      );
    })
    .join("");
  const labels = cols
    .filter((c) => c.result.labels)
    .map((c) => {
      const l = c.result.labels;
      return `<p class="an-labels" data-slot="${c === a ? "a" : "b"}"><b class="an-${c === a ? "a" : "b"}">${esc(c.model)}</b> ` +
        `误报仍触发 false alarms still firing <b>${l.still_firing}</b> / ${l.false_alarms} · ` +
        `真实事件仍捕获 true events still caught <b>${l.caught}</b> / ${l.confirmed}` +
        (Object.keys(l.skipped || {}).length ? ` · 未回放 skipped ${Object.values(l.skipped).reduce((x, y) => x + y, 0)}` : "") +
        `</p>`;
    })
    .join("");
  $("#an-result-body").className = "";
  $("#an-result-body").innerHTML = `${labels}<table class="an-table"><thead><tr><th>规则 Rule</th>${head}</tr><tr><th></th>${sub}</tr></thead><tbody>${rows}</tbody></table>`;
  renderChart(cols, [...rules, "totals"]);
}

/** F1 per rule, A and B side by side (an inline SVG: no chart library needed). */
function renderChart(cols, rules) {
  const w = 900;
  const rowH = 34;
  const left = 220;
  const h = rules.length * rowH + 30;
  const bars = rules
    .map((rule, i) =>
      cols
        .map((c, j) => {
          const s = rule === "totals" ? c.result.totals : c.result.rules[rule];
          const f1 = s && s.f1 !== null && s.f1 !== undefined ? s.f1 : 0;
          const y = 10 + i * rowH + j * 14;
          const color = c === za.results.a ? "var(--a)" : "var(--b)";
          return `<rect x="${left}" y="${y}" width="${((w - left - 70) * f1).toFixed(1)}" height="12" fill="${color}"></rect>` +
            `<text x="${left + (w - left - 70) * f1 + 6}" y="${y + 11}">${(100 * f1).toFixed(0)}%</text>`;
        })
        .join("") + `<text x="0" y="${10 + i * rowH + 16}">${esc(rule)}</text>`,
    )
    .join("");
  $("#an-chart").innerHTML = `<svg viewBox="0 0 ${w} ${h}" role="img" aria-label="F1 per rule">${bars}</svg>`;
}

// ----------------------------------------------------------------------------------- start

async function main() {
  if (!token()) return toLogin();
  $("#an-user").textContent = user().username || user().name || "—";
  document.addEventListener("change", (e) => {
    if (e.target.name === "an-a") za.pick.a = e.target.value;
    if (e.target.name === "an-b") za.pick.b = e.target.value;
  });
  document.addEventListener("click", (e) => {
    const id = e.target.dataset && e.target.dataset.promote;
    if (id) promote(id);
    const csv = e.target.dataset && e.target.dataset.csv;
    if (csv) downloadCsv(csv).catch((err) => message("#an-run-msg", err.detail || err.message, true));
  });
  $("#an-diff").addEventListener("click", () => showDiff().catch((err) => message("#an-model-msg", err.detail || err.message, true)));
  $("#an-run-a").addEventListener("click", () => start("a"));
  $("#an-run-ab").addEventListener("click", async () => {
    await start("a");
    if (za.pick.b) await start("b");
  });
  await Promise.all([loadModels(), loadDatasets()]);
  document.body.dataset.ready = "true";
}

main().catch((err) => {
  document.body.dataset.ready = "error";
  message("#an-run-msg", err.message || String(err), true);
});
