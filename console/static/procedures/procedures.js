/* zhizhi 智治 — the standard operating procedures admin page: /procedures.
 *
 * Lists the alert categories with a procedure (GET /api/procedures: the newest version of
 * each), shows the chosen one's steps in an editor and its versions (GET /api/procedures/{c}),
 * and saves the edited checklist as the category's next version (PUT /api/procedures/{c}:
 * district administrators only; others read). A version's click shows its steps.
 *
 * For tests: window.zhizhiProcedures = {current, versions, category}; body[data-ready].
 */

import { $, esc } from "../lib/dom.js";
import { fail } from "../lib/errors.js";
import { fmtTime } from "../lib/format.js";
import { consolePagesHtml, mountHeader, showConfig } from "../lib/header.js";
import { api, toLogin, token, user } from "../lib/session.js";

const zp = { current: [], versions: [], category: null, mayEdit: false };
window.zhizhiProcedures = zp;

function renderCategories() {
  $("#zp-categories").replaceChildren(...zp.current.map((p) => {
    const li = document.createElement("li");
    li.dataset.category = p.category;
    li.classList.toggle("zp-active", p.category === zp.category);
    li.innerHTML = `<b>${esc(p.title)}</b> <span class="zp-v">第 ${esc(p.version)} 版 · ${p.steps.length} 步</span>`;
    li.addEventListener("click", () => choose(p.category));
    return li;
  }));
}

function stepRow(step = { text: "", required: true }) {
  const li = document.createElement("li");
  li.className = "zp-step";
  li.innerHTML =
    `<input type="text" class="zp-step-text" maxlength="300" value="${esc(step.text)}" aria-label="步骤内容">` +
    `<label class="zp-req"><input type="checkbox" class="zp-step-required"${step.required ? " checked" : ""}> 必做</label>` +
    `<button type="button" class="zp-up" title="上移 move up">↑</button>` +
    `<button type="button" class="zp-remove" title="删除 remove">✕</button>`;
  li.querySelector(".zp-up").addEventListener("click", () => li.previousElementSibling && li.previousElementSibling.before(li));
  li.querySelector(".zp-remove").addEventListener("click", () => li.remove());
  for (const input of li.querySelectorAll("input, button")) input.disabled = !zp.mayEdit;
  return li;
}

function showProcedure(p, label) {
  $("#zp-heading").textContent = p.title;
  $("#zp-heading-version").textContent = label;
  $("#zp-title").value = p.title;
  $("#zp-steps").replaceChildren(...p.steps.map((s) => stepRow(s)));
  $("#zp-note").value = "";
}

function renderVersions() {
  $("#zp-versions").replaceChildren(...zp.versions.map((v, i) => {
    const li = document.createElement("li");
    li.dataset.version = String(v.version);
    const who = v.author === "system" ? "系统预置" : v.author;
    li.innerHTML =
      `<b>第 ${esc(v.version)} 版</b>${i === 0 ? ` <span class="zp-now">现行</span>` : ""} · ${esc(who)} · ${esc(fmtTime(v.ts))}` +
      `<div class="zp-vnote">${esc(v.note || "")}</div>` +
      `<ol class="zp-vsteps">${v.steps.map((s) => `<li>${esc(s.text)}${s.required ? " <b>必做</b>" : ""}</li>`).join("")}</ol>`;
    return li;
  }));
}

async function choose(category) {
  zp.category = category;
  renderCategories();
  zp.versions = await api(`/api/procedures/${encodeURIComponent(category)}`);
  const now = zp.versions[0];
  showProcedure(now, `第 ${now.version} 版`);
  renderVersions();
  $("#zp-editor").hidden = false;
  $("#zp-versions-card").hidden = false;
  $("#zp-editor").dataset.category = category;
}

async function save() {
  const steps = [...document.querySelectorAll("#zp-steps .zp-step")].map((li) => ({
    text: li.querySelector(".zp-step-text").value.trim(),
    required: li.querySelector(".zp-step-required").checked,
  }));
  const state = $("#zp-state");
  if (!steps.length || steps.some((s) => !s.text)) {
    state.textContent = "每个步骤都需填写内容，且至少一步";
    state.dataset.kind = "error";
    return;
  }
  state.textContent = "保存中…";
  state.dataset.kind = "";
  try {
    const saved = await api(`/api/procedures/${encodeURIComponent(zp.category)}`, {
      method: "PUT", body: { title: $("#zp-title").value.trim(), steps, note: $("#zp-note").value.trim() },
    });
    state.textContent = `已保存为第 ${saved.version} 版`;
    state.dataset.kind = "ok";
    zp.current = await api("/api/procedures");
    await choose(zp.category);
  } catch (err) {
    state.textContent = `未保存 (HTTP ${err.status}): ${err.detail || err.message}`;
    state.dataset.kind = "error";
  }
}

async function start() {
  if (!token()) {
    toLogin();
    return;
  }
  mountHeader({ subtitle: "处置规程 <span>Standard operating procedures</span>", nav: consolePagesHtml() });
  const config = await api("/api/config");
  showConfig(config, "处置规程 SOPs");
  const me = user();
  zp.mayEdit = me.role === "admin" && config.scope && config.district && config.scope.code === config.district.code;
  $("#zp-readonly").hidden = zp.mayEdit;
  for (const el of ["#zp-title", "#zp-note", "#zp-add", "#zp-save"]) $(el).disabled = !zp.mayEdit;
  $("#zp-add").addEventListener("click", () => $("#zp-steps").append(stepRow()));
  $("#zp-save").addEventListener("click", save);
  zp.current = await api("/api/procedures");
  renderCategories();
  if (zp.current.length) await choose(zp.current[0].category);
  document.body.dataset.ready = "true";
}

start().catch((err) => {
  fail("处置规程页面启动失败 The procedures page failed to start", err);
  document.body.dataset.ready = "error";
});
