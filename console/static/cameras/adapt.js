/* zhizhi 智治 — a camera's site adaptation on the cameras page ("现场自适应 Adapt to site").
 *
 * A section of the camera's detail panel (detail.addSection). Users with cameras.manage start
 * one for a camera with a main stream: POST /api/cameras/{id}/adapt {minutes} records that many
 * minutes of its stream, mines labels, fine-tunes the camera's detector on the CPU and evaluates
 * it on a held-out slice (console/site_adapt.py, a background job). The newest job of the camera
 * (GET /api/cameras/{id}/adapt) is shown for every role: while it runs its stage and progress
 * (polled), then the false boxes before and after on the held-out slice, the kept positives, the
 * registered draft version (promoted as any other version, by an analyst or admin) and the
 * report's figure (GET .../adapt/{job}/figure.png); or why it failed.
 *
 * For tests: #zc-adapt[data-state] is "idle" (no job), "running", "finished" or "failed";
 * [data-job] the job shown; #zc-adapt-start the button.
 */

import { $, esc } from "../lib/dom.js";
import { ApiError, api, fetchWithToken } from "../lib/session.js";

const POLL_MS = 1500;
const STAGES = {
  record: "录制 <small>Recording</small>",
  mine: "挖掘样本 <small>Mining labels</small>",
  train: "训练 <small>Fine-tuning</small>",
  evaluate: "评估 <small>Evaluating</small>",
};
const ROWS = [
  ["on_background", "静止背景上的误检框", "false boxes on the static background"],
  ["vehicles", "车辆类框", "vehicle boxes"],
  ["positives_found", "仍检出的运动目标", "moving objects still found"],
];

/** The section's render function for detail.addSection. */
export function adaptSection({ canManage }) {
  let shownCamera = null; // the camera id the section shows; a poll for another one stops
  let figureUrl = null;

  return function render(camera, el) {
    shownCamera = camera.id;
    el.id = "zc-adapt";
    el.className = "zc-adapt";
    el.dataset.state = "idle";
    const canStart = canManage && camera.stream_main && camera.kind !== "drone";
    el.innerHTML = `
      <div class="zc-detail-head">
        <h3>现场自适应 <small>Adapt to site</small></h3>
        ${canStart ? `<label class="zc-adapt-minutes">录制 <input id="zc-adapt-minutes" type="number" min="0.1"
            max="60" step="0.5" value="5"> 分钟 <small>minutes</small></label>
          <button type="button" id="zc-adapt-start">现场自适应 / Adapt to site</button>` : ""}
      </div>
      <p class="zc-hint">录制本摄像机画面，以运动目标为正样本、静止误检为负样本，在 CPU 上微调检测模型并在留出片段上评估。
        <small>Records this camera, mines moving objects and still false detections, fine-tunes the detector on
        the CPU and evaluates it on a held-out slice.</small></p>
      <div id="zc-adapt-body"></div>
      <p class="zc-msg" id="zc-adapt-msg" role="status"></p>`;
    const start = $("#zc-adapt-start", el);
    if (start) start.addEventListener("click", () => begin(camera, el));
    load(camera, el);
  };

  function url(camera, tail = "") {
    return `/api/cameras/${encodeURIComponent(camera.id)}/adapt${tail}`;
  }

  async function load(camera, el) {
    let jobs;
    try {
      jobs = await api(url(camera));
    } catch (err) {
      if (shownCamera === camera.id) message(el, "error", `读取失败 Cannot read adaptations: ${detailOf(err)}`);
      return;
    } finally {
      el.dataset.loaded = "true"; // its read answered (tests wait for it)
    }
    if (shownCamera !== camera.id) return;
    if (jobs.length) show(camera, el, jobs[0]);
  }

  async function begin(camera, el) {
    const minutes = Number($("#zc-adapt-minutes", el).value);
    const button = $("#zc-adapt-start", el);
    button.disabled = true;
    message(el, "busy", "正在提交… Starting…");
    try {
      const job = await api(url(camera), { method: "POST", body: { minutes } });
      message(el, "", "");
      show(camera, el, job);
    } catch (err) {
      button.disabled = false;
      message(el, "error", `无法开始 Cannot start: ${detailOf(err)}`);
    }
  }

  function show(camera, el, job) {
    if (shownCamera !== camera.id) return;
    const running = job.status === "queued" || job.status === "running";
    el.dataset.state = running ? "running" : job.status;
    el.dataset.job = job.id;
    const button = $("#zc-adapt-start", el);
    if (button) button.disabled = running;
    const body = $("#zc-adapt-body", el);
    if (running) {
      const stage = job.status === "queued" ? "排队中 <small>Queued</small>" : STAGES[job.stage] || "准备 <small>Starting</small>";
      body.innerHTML = `<div class="zc-adapt-progress">
          <progress id="zc-adapt-progress" max="100" value="${Number(job.done) || 0}"></progress>
          <span>${stage} · ${Number(job.done) || 0}%</span></div>
        <p class="zc-hint">${esc(job.params.minutes)} 分钟录制 · 由 ${esc(job.owner)} 开始 <small>started by
          ${esc(job.owner)}</small></p>`;
      setTimeout(() => poll(camera, el, job.id), POLL_MS);
      return;
    }
    if (job.status === "failed") {
      body.innerHTML = "";
      message(el, "error", `自适应失败 Adaptation failed: ${job.error || ""}`);
      return;
    }
    result(camera, el, job);
  }

  async function poll(camera, el, jobId) {
    if (shownCamera !== camera.id || el.dataset.job !== jobId) return;
    try {
      show(camera, el, await api(url(camera, `/${encodeURIComponent(jobId)}`)));
    } catch (err) {
      message(el, "error", `进度读取失败 Cannot read progress: ${detailOf(err)}`);
    }
  }

  function result(camera, el, job) {
    const r = job.result;
    const rows = ROWS.map(([key, zh, en]) => {
      const extra = key === "positives_found" ? ` <small>(共 ${esc(r.before.positives)})</small>` : "";
      return `<tr><th>${zh}${extra}<br><small>${en}</small></th><td>${esc(r.before[key])}</td>
        <td data-key="${key}">${esc(r.after[key])}</td></tr>`;
    }).join("");
    const v = r.version;
    const version = v
      ? `已登记为 <code id="zc-adapt-version">${esc(v.label)}</code>（${v.status === "draft" ? "草稿" : esc(v.status)}），
         经分析员或管理员发布后本摄像机即使用该模型。<small>Registered as a draft version of this camera; promoted
         like any model version, it becomes this camera's detector.</small>`
      : "未登记 <small>Not registered</small>";
    const sim = r.simulator_map50 && r.simulator_map50.after != null
      ? `<p class="zc-hint">仿真留出集 mAP50 <small>simulator held-out</small> ${fmt(r.simulator_map50.before)} →
         ${fmt(r.simulator_map50.after)}</p>` : "";
    $("#zc-adapt-body", el).innerHTML = `
      <table class="zc-adapt-result">
        <thead><tr><th>留出片段 ${esc(r.before.frames)} 帧 <small>held-out frames</small></th>
          <th>之前<br><small>${esc(r.started_from)}</small></th><th>之后<br><small>adapted</small></th></tr></thead>
        <tbody>${rows}</tbody>
      </table>${sim}
      <p class="zc-hint">${version}</p>
      ${(r.warnings || []).length ? `<ul class="zc-adapt-warnings" id="zc-adapt-warnings">${r.warnings.map((w) =>
        `<li>发布前请核查 <small>Check before promoting:</small> ${esc(w)}</li>`).join("")}</ul>` : ""}
      <p class="zc-hint">录制 ${fmt(r.recording.seconds)} 秒，${esc(r.train_frames.mined)} 帧训练，用时 ${fmt(r.seconds.total)} 秒
        <small>recorded, frames trained on, seconds</small></p>
      <img class="zc-adapt-figure" id="zc-adapt-figure" alt="false boxes before and after" hidden>`;
    figure(camera, el, job.id);
  }

  async function figure(camera, el, jobId) {
    try {
      const resp = await fetchWithToken(url(camera, `/${encodeURIComponent(jobId)}/figure.png`));
      if (!resp.ok || shownCamera !== camera.id) return;
      if (figureUrl) URL.revokeObjectURL(figureUrl);
      figureUrl = URL.createObjectURL(await resp.blob());
      const img = $("#zc-adapt-figure", el);
      if (img) {
        img.src = figureUrl;
        img.hidden = false;
      }
    } catch {
      // the table says it all; the figure is a picture of it
    }
  }
}

function fmt(v) {
  return v == null ? "—" : Number(v).toFixed(Number(v) < 10 ? 3 : 0);
}

function message(el, kind, text) {
  const msg = $("#zc-adapt-msg", el);
  msg.dataset.kind = kind;
  msg.textContent = text;
}

function detailOf(err) {
  return err instanceof ApiError ? err.detail || `HTTP ${err.status}` : err.message;
}
