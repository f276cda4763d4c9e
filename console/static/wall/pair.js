/* zhizhi 智治 — the pairing page of an unpaired wall screen (/wall/pair, no login).
 *
 * The console's contract (console/api/wall.py): POST /api/wall/pairings draws a code and a
 * secret claim; POST /api/wall/pairings/claim {claim} answers "waiting" until an admin has
 * entered the code on the walls page, then once "paired" with the device credential and the
 * slot's URL; 404 when the code expired (a new one is drawn). The credential goes to
 * localStorage (lib/session.js) and the screen opens its slot. A screen paired already goes
 * straight to its slot (GET /api/wall/device); one whose credential was revoked pairs again.
 * The code and claim stay in sessionStorage, so a reload shows the same code while it lives.
 */

import { $ } from "../lib/dom.js";
import { device, forgetDevice, keepDevice } from "../lib/session.js";

const PENDING_KEY = "zhizhi.pairing";
const POLL_MS = 2000;
const RETRY_MS = 5000;

let pending = null; // {code, claim, expiresAt (ms)}

function setState(state, text) {
  document.body.dataset.state = state;
  $("#zw-pair-state").textContent = text;
}

function showCode(code) {
  const box = $("#zw-pair-code");
  box.textContent = "";
  box.append(code.slice(0, 3));
  box.appendChild(document.createElement("span")).className = "zw-pair-gap";
  box.append(code.slice(3));
  box.dataset.code = code;
}

function tick() {
  if (!pending) return;
  const left = Math.max(0, Math.round((pending.expiresAt - Date.now()) / 1000));
  $("#zw-pair-left").textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
}

async function post(url, body) {
  return fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
}

/** A screen paired already goes to its slot; false when it is not (or no longer) paired. */
async function alreadyPaired() {
  const held = device();
  if (!held) return false;
  const resp = await fetch("/api/wall/device", {
    headers: { Authorization: `Bearer ${held.token}`, Accept: "application/json" },
    cache: "no-store",
  });
  if (resp.status === 401 || resp.status === 404) {
    forgetDevice();
    return false;
  }
  if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
  const info = await resp.json();
  keepDevice({ token: held.token, wall: info.wall, slot: info.slot.name, url: info.url });
  location.replace(info.url);
  return true;
}

async function draw() {
  const kept = JSON.parse(sessionStorage.getItem(PENDING_KEY) || "null");
  if (kept && kept.expiresAt - Date.now() > POLL_MS) {
    pending = kept;
  } else {
    const resp = await post("/api/wall/pairings");
    if (resp.status === 429) {
      const wait = Number(resp.headers.get("Retry-After") || 60);
      setState("error", `请求过于频繁，${wait} 秒后重试`);
      setTimeout(run, wait * 1000);
      return false;
    }
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    const answer = await resp.json();
    pending = { code: answer.code, claim: answer.claim, expiresAt: Date.now() + 1000 * answer.expires_in };
    sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  }
  showCode(pending.code);
  setState("waiting", "等待管理员输入配对码…");
  tick();
  return true;
}

async function poll() {
  let resp;
  try {
    resp = await post("/api/wall/pairings/claim", { claim: pending.claim });
  } catch (_) {
    setState("error", "重新连接中…");
    setTimeout(poll, RETRY_MS);
    return;
  }
  if (resp.status === 404 || resp.status === 422) {
    sessionStorage.removeItem(PENDING_KEY); // expired: a new code
    run();
    return;
  }
  if (!resp.ok) {
    setState("error", `重新连接中… (HTTP ${resp.status})`);
    setTimeout(poll, RETRY_MS);
    return;
  }
  const answer = await resp.json();
  if (answer.status === "paired") {
    sessionStorage.removeItem(PENDING_KEY);
    keepDevice(answer);
    setState("paired", `已配对：${answer.wall} · ${answer.slot}`);
    location.replace(answer.url);
    return;
  }
  setState("waiting", "等待管理员输入配对码…");
  setTimeout(poll, POLL_MS);
}

async function run() {
  try {
    if (await alreadyPaired()) return;
    if (await draw()) poll();
  } catch (err) {
    setState("error", `重新连接中… (${err.message})`);
    setTimeout(run, RETRY_MS);
  } finally {
    document.body.dataset.ready = "true";
  }
}

setInterval(tick, 1000);
run();
