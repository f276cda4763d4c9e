/* zhizhi 智治 — the standard operating procedure (处置规程) in the board's alert detail, and the
 * notices of alerts resolved with required steps skipped.
 *
 * The checklist is GET /api/alerts/{id}/procedure: the steps of the procedure version the alert
 * follows (the one in force when it was raised), each ticked or not, by whom and when. A click
 * on a step ticks or unticks it (POST .../procedure/steps/{no}); the console records who and
 * when and publishes the alert's update, on which every screen reloads the checklist. While
 * required steps are unticked, resolving needs a note (the board asks for it; the console
 * answers 422 without one) and the unit above is told: its boards show a notice for each such
 * resolution ("alert" messages with event "sop_skipped" and "sop").
 */

import { esc } from "../lib/dom.js";
import { fmtTime } from "../lib/format.js";
import { api } from "../lib/session.js";

/**
 * The checklist of the board's selected alert in ``box``; ``changed()`` is called when it was
 * (re)loaded, so that the board redraws what depends on it (the resolve button's note).
 */
export function createChecklist(box, { changed = () => {} } = {}) {
  let alert = null;
  let loadedFor = ""; // `${id}|${updated_ts}` of the checklist shown
  let checklist = null;
  let mayAct = true;
  let seq = 0;

  async function load() {
    const id = alert.id;
    const mine = ++seq;
    let answer;
    try {
      answer = await api(`/api/alerts/${encodeURIComponent(id)}/procedure`);
    } catch (err) {
      if (mine === seq) box.innerHTML = `<div class="zw-sop-error">处置规程加载失败 · ${esc(err.detail || err.message)}</div>`;
      return;
    }
    if (mine !== seq || !alert || alert.id !== id) return;
    checklist = answer;
    render();
    changed();
  }

  async function tick(no, done) {
    const id = alert.id;
    box.dataset.state = "sending";
    try {
      const answer = await api(`/api/alerts/${encodeURIComponent(id)}/procedure/steps/${no}`, {
        method: "POST", body: { done },
      });
      if (alert && alert.id === id) {
        checklist = answer;
        render();
        changed();
      }
    } catch (err) {
      box.querySelector(".zw-sop-msg").textContent = `未完成 Refused (HTTP ${err.status}): ${err.detail || err.message}`;
    } finally {
      box.dataset.state = "ready";
    }
  }

  function render() {
    const c = checklist;
    box.hidden = false;
    box.dataset.alertId = c.alert_id;
    box.dataset.version = String(c.version ?? "");
    if (!c.steps.length) {
      box.innerHTML = `<h3>处置规程 <small>SOP</small></h3><div class="zw-sop-none">此类告警暂无处置规程</div>`;
      box.dataset.left = "0";
      return;
    }
    const open = !["resolved", "closed"].includes(alert.status);
    const left = c.required_left || [];
    box.dataset.left = String(left.length);
    box.innerHTML =
      `<h3>处置规程 <small>SOP</small> <span class="zw-sop-title">${esc(c.title)}</span>` +
      ` <span class="zw-sop-version">第 ${esc(c.version)} 版</span></h3>` +
      `<ol class="zw-sop-steps"></ol>` +
      `<div class="zw-sop-left${left.length ? " zw-sop-warn" : ""}">` +
      (left.length
        ? `必做步骤未完成 <b>${left.length}</b> 项：办结需填写说明，并通报上级`
        : `必做步骤已全部完成`) +
      `</div><div class="zw-sop-msg" role="status"></div>`;
    const list = box.querySelector(".zw-sop-steps");
    for (const s of c.steps) {
      const li = document.createElement("li");
      li.className = "zw-sop-step";
      li.dataset.step = String(s.no);
      li.dataset.done = String(s.done);
      li.dataset.required = String(s.required);
      const who = s.actor
        ? `<span class="zw-sop-who">${s.done ? "" : "已取消 "}${esc(s.actor)} · ${esc(fmtTime(s.ts))}</span>`
        : "";
      const mark = mayAct // read only (readonly.js): the tick is shown, not offered
        ? `<button type="button" class="zw-sop-box" aria-pressed="${s.done}"${open ? "" : " disabled"}` +
          ` title="${s.done ? "取消勾选" : "勾选完成"}">${s.done ? "✔" : ""}</button>`
        : `<span class="zw-sop-box" aria-pressed="${s.done}">${s.done ? "✔" : ""}</span>`;
      li.innerHTML =
        mark +
        `<span class="zw-sop-text"><b>${esc(s.no)}.</b> ${esc(s.text)}` +
        `${s.required ? ` <span class="zw-sop-req">必做</span>` : ` <span class="zw-sop-opt">选做</span>`}</span>${who}`;
      if (mayAct) li.querySelector("button").addEventListener("click", () => tick(s.no, !s.done));
      list.append(li);
    }
  }

  return {
    /** Show the checklist of alert ``a`` (reloaded when the alert changed). */
    show(a, canAct = true) {
      mayAct = canAct;
      const key = `${a.id}|${a.updated_ts}|${a.status}`;
      const other = !alert || alert.id !== a.id;
      alert = a;
      if (other) {
        checklist = null;
        box.hidden = false;
        box.innerHTML = `<h3>处置规程 <small>SOP</small></h3><div class="zw-sop-none">加载中…</div>`;
        box.dataset.left = "";
      }
      if (key !== loadedFor) {
        loadedFor = key;
        load();
      } else if (checklist) {
        render();
      }
    },
    /** The numbers of the required steps unticked on alert ``id`` (empty when unknown). */
    requiredLeft(id) {
      return checklist && checklist.alert_id === id ? checklist.required_left || [] : [];
    },
    get current() {
      return checklist;
    },
  };
}

/**
 * The notices of alerts resolved below with required steps skipped, in ``box`` (newest first,
 * each dismissed by its "知道了" button); ``unitName(code)`` and ``ruleName(alert)`` name them.
 */
export function watchSkips(link, box, { unitName = (c) => c, ruleName = (a) => a.category } = {}) {
  const notices = [];
  const render = () => {
    box.hidden = !notices.length;
    box.replaceChildren(...notices.map((m) => {
      const div = document.createElement("div");
      div.className = "zw-sop-notice";
      div.dataset.alertId = m.id;
      const sop = m.sop || {};
      const steps = (sop.steps || []).map((s) => `${s.no}. ${s.text}`).join("；");
      const why = String(sop.note || "").split("说明：").pop();
      div.innerHTML =
        `<div class="zw-sop-notice-head">⚠ 跳步办结通报 <b>${esc(unitName(sop.from_unit || m.assignee_unit))}</b>` +
        ` · ${esc(ruleName(m))} · ${esc(sop.by || "")} ${esc(fmtTime(sop.ts))}</div>` +
        `<div>未完成必做步骤：${esc(steps)}</div><div>说明：${esc(why)}</div>` +
        `<button type="button" class="zw-sop-notice-ok">知道了</button>`;
      div.querySelector("button").addEventListener("click", () => {
        notices.splice(notices.indexOf(m), 1);
        render();
      });
      return div;
    }));
  };
  link.addEventListener("alert", (e) => {
    const m = e.detail;
    if (!m || m.event !== "sop_skipped" || !m.sop) return;
    const at = notices.findIndex((n) => n.id === m.id);
    if (at >= 0) notices.splice(at, 1);
    notices.unshift(m);
    render();
  });
  render();
  return { notices };
}
