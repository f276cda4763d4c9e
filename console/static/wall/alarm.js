/* zhizhi 智治 — the wall's alarm: a sound per severity for new red and orange alerts, repeated
 * until someone acknowledges the alert or the wall is silenced.
 *
 * - Which screens ring, how often the sound repeats, how long a silence lasts and the sounds'
 *   URLs come from GET /api/wall/alarm?wall=NAME (settings.alarm); so does the wall's silence.
 * - An alert rings from its "new" message (or its upgrade from yellow or blue) while its status
 *   stays "new": red plays the urgent two-tone (alarm-red.wav), orange the softer chime
 *   (alarm-orange.wav); the loudest ringing alert chooses. Any other status — an acknowledgement from any screen or user, arriving as
 *   the alert's update on the websocket — ends its ringing; a snapshot drops what is gone.
 * - The 静音 button (POST /api/wall/alarm/silence) silences every screen of the wall for
 *   settings.alarm.silence_minutes: the console keeps the silence and tells the wall's screens
 *   ({"type": "wall", "action": "silence"}); "恢复声音" ends it.
 * - Browsers refuse to play before a user gesture: a kiosk runs Chromium with
 *   --autoplay-policy=no-user-gesture-required (docs/wall.md); elsewhere a refused play() shows a
 *   large "点击启用声音" button whose click (a gesture) plays and unlocks the sound.
 *
 * For tests: window.zhizhiAlarm = {ringing, plays, severity, silencedUntil, blocked, audio}.
 */

import { esc } from "../lib/dom.js";
import { api } from "../lib/session.js";

const RINGS = { red: 0, orange: 1 }; // severities that ring, loudest first
// Drawn marks (the wall PCs have no emoji font): a bell, and a speaker struck through.
const BELL_SVG =
  `<svg class="zw-alarm-mark" viewBox="0 0 20 20" aria-hidden="true"><path d="M10 2a5 5 0 0 0-5 5v4l-2 3h14l-2-3V7a5 5 0 0 0-5-5z"/>` +
  `<circle cx="10" cy="16.5" r="2"/></svg>`;
const MUTE_SVG =
  `<svg class="zw-alarm-mark" viewBox="0 0 20 20" aria-hidden="true"><path d="M3 7h3l5-4v14l-5-4H3z"/>` +
  `<path d="M13 7l5 6M18 7l-5 6" stroke="currentColor" stroke-width="2" fill="none"/></svg>`;
const TICK_MS = 250;

/**
 * Ring on this screen (``screen``: alerts, map or video) of the wall of ``link`` (live.js) if the
 * settings say so; ``board``: the alert board, which always shows the silence button.
 */
export async function mountAlarm(link, screen, { board = false } = {}) {
  const config = await api(`/api/wall/alarm?wall=${encodeURIComponent(link.wall)}`);
  const rings = config.screens.includes(screen);
  if (!rings && !board) return null;
  const alarm = {
    config,
    rings,
    ringing: new Map(), // alert id -> severity
    plays: 0,
    severity: null, // the sound playing (or last played) now
    silencedUntil: config.silenced_until ? config.silenced_until * 1000 : 0,
    silencedBy: config.silenced_by || "",
    blocked: false,
    nextAt: 0,
    audio: document.createElement("audio"),
  };
  window.zhizhiAlarm = alarm;
  alarm.audio.id = "zw-alarm-audio";
  alarm.audio.preload = "auto";
  document.body.append(alarm.audio);
  const control = mountControl(alarm, link);

  const heard = new Map(); // alert id -> the severity it had when last heard of
  const follow = (a) => {
    if (!a || !a.id) return;
    const raised = heard.has(a.id) && !(heard.get(a.id) in RINGS); // e.g. yellow upgraded to red
    if (a.severity) heard.set(a.id, a.severity);
    if (a.status === "new" && a.severity in RINGS && (a.event === "new" || raised || alarm.ringing.has(a.id))) {
      alarm.ringing.set(a.id, a.severity);
    } else {
      alarm.ringing.delete(a.id);
    }
  };
  link.addEventListener("alert", (e) => follow(e.detail));
  link.addEventListener("snapshot", () => {
    for (const [id, a] of link.alerts) if (a.severity) heard.set(id, a.severity);
    for (const id of [...alarm.ringing.keys()]) follow(Object.assign({}, link.alerts.get(id) || { id }, { event: "" }));
    refresh(alarm, link); // a silence set or ended while this screen was away
  });
  link.addEventListener("silence", (e) => applySilence(alarm, e.detail));
  setInterval(() => tick(alarm, control), TICK_MS);
  tick(alarm, control);
  return alarm;
}

function applySilence(alarm, m) {
  alarm.silencedUntil = m.silenced_until ? m.silenced_until * 1000 : 0;
  alarm.silencedBy = m.silenced_by || "";
}

async function refresh(alarm, link) {
  try {
    applySilence(alarm, await api(`/api/wall/alarm?wall=${encodeURIComponent(link.wall)}`));
  } catch (_) {
    // the link's own light shows a console that cannot be reached
  }
}

/** The loudest severity ringing now, or null. */
function loudest(alarm) {
  let best = null;
  for (const sev of alarm.ringing.values()) if (best === null || RINGS[sev] < RINGS[best]) best = sev;
  return best;
}

const silenced = (alarm) => alarm.silencedUntil > Date.now();

function tick(alarm, control) {
  const sev = alarm.rings ? loudest(alarm) : null;
  if (!sev || silenced(alarm)) {
    stop(alarm);
  } else if (Date.now() >= alarm.nextAt || sev !== alarm.severity) {
    play(alarm, sev);
  }
  control.render();
}

function play(alarm, sev) {
  const audio = alarm.audio;
  const src = alarm.config.sounds[sev];
  if (alarm.severity !== sev || !audio.src.endsWith(src)) {
    audio.src = src;
    audio.dataset.severity = sev;
  }
  alarm.severity = sev;
  alarm.nextAt = Date.now() + alarm.config.repeat_s * 1000;
  audio.currentTime = 0;
  const started = audio.play();
  if (started && typeof started.then === "function") {
    started.then(
      () => {
        alarm.plays += 1;
        alarm.blocked = false;
        audio.dataset.plays = String(alarm.plays);
      },
      (err) => {
        if (err && err.name === "NotAllowedError") alarm.blocked = true; // no gesture yet: ask for one
        alarm.nextAt = Date.now() + 1000;
      },
    );
  }
}

function stop(alarm) {
  if (!alarm.audio.paused) alarm.audio.pause();
  alarm.severity = null;
  alarm.nextAt = 0;
}

/** The header's alarm item: ringing count, the 静音 button and its state; the enable-sound prompt. */
function mountControl(alarm, link) {
  const item = document.createElement("div");
  item.className = "zw-alarm";
  item.id = "zw-alarm";
  item.innerHTML =
    `<span class="zw-alarm-bell" id="zw-alarm-bell" aria-live="polite"></span>` +
    `<button type="button" class="zw-alarm-silence" id="zw-alarm-silence"></button>`;
  const header = document.querySelector(".zz-header");
  const spacer = header && header.querySelector(".zz-header-spacer");
  if (spacer) spacer.after(item);
  else document.body.append(item);
  const prompt = document.createElement("button");
  prompt.type = "button";
  prompt.className = "zw-alarm-enable";
  prompt.id = "zw-alarm-enable";
  prompt.hidden = true;
  prompt.innerHTML = `${BELL_SVG} 点击启用声音 <small>Click to enable the alarm sound</small>`;
  prompt.addEventListener("click", () => {
    alarm.blocked = false;
    alarm.nextAt = 0; // play now, inside this gesture
    const sev = loudest(alarm);
    if (sev && !silenced(alarm)) play(alarm, sev);
    else alarm.audio.play().then(() => alarm.audio.pause(), () => {}); // unlock for later
  });
  document.body.append(prompt);
  const button = item.querySelector("#zw-alarm-silence");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const minutes = silenced(alarm) ? 0 : alarm.config.silence_minutes;
      applySilence(alarm, await api("/api/wall/alarm/silence", { method: "POST", body: { wall: link.wall, minutes } }));
    } catch (err) {
      button.title = `未完成 Refused: ${err.detail || err.message}`;
    } finally {
      button.disabled = false;
    }
  });
  const bell = item.querySelector("#zw-alarm-bell");
  let last = "";
  return {
    render() {
      const quiet = silenced(alarm);
      const sev = loudest(alarm);
      const left = quiet ? Math.ceil((alarm.silencedUntil - Date.now()) / 1000) : 0;
      const key = `${quiet}|${left}|${sev}|${alarm.ringing.size}|${alarm.blocked}`;
      if (key === last) return;
      last = key;
      item.dataset.silenced = String(quiet);
      item.dataset.ringing = sev || "";
      bell.innerHTML = sev
        ? `${BELL_SVG} 告警音 <b>${alarm.ringing.size}</b>`
        : `${BELL_SVG} 无响铃`;
      bell.title = sev ? "新的红色、橙色告警在确认前持续响铃 · ringing until acknowledged" : "";
      button.dataset.silenced = String(quiet);
      button.innerHTML = quiet
        ? `${MUTE_SVG} 已静音 ${esc(fmtLeft(left))} · 恢复声音`
        : `${MUTE_SVG} 静音 ${esc(String(alarm.config.silence_minutes))} 分钟`;
      button.title = quiet ? `由 ${alarm.silencedBy} 静音 · silenced for the whole wall` : "整面大屏静音 · silence the whole wall";
      prompt.hidden = !(alarm.blocked && sev && !quiet);
    },
  };
}

function fmtLeft(seconds) {
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return `${m}:${String(s).padStart(2, "0")}`;
}
