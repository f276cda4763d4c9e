/* zhizhi 智治 — the session of every page: the login's token and calls to the console's API.
 *
 * The contract of the login page (login.js): POST /api/auth/login leaves the token in
 * sessionStorage "zhizhi.token" (this tab only) and the user in "zhizhi.user"; every API call
 * sends the token as "Authorization: Bearer TOKEN". A page without a token, or whose token the
 * console refuses (HTTP 401, websocket close 4401), goes to /login?next=<this page>, which comes
 * back here afterwards: one login per tab for the map, the wall screens and the analyst page.
 *
 * Tickets: the login's token never goes into a URL (URLs end up in logs and histories, and the
 * console refuses a ?token=). What cannot send a header — the websocket, <img> video tiles —
 * carries a short-lived ticket of POST /api/auth/ticket instead (a minute, for this session's
 * /ws and camera video only, ended with the session). One ticket serves every URL of this tab
 * while it has more than TICKET_MARGIN_MS to live; then a new one is fetched.
 *
 * Paired wall screens: a screen paired on /wall/pair keeps its device credential in
 * localStorage "zhizhi.device" ({token, wall, slot, url}: it survives reloads, restarts of the
 * browser and of the console, and never expires). Without a login in this tab, token() is that
 * credential, and a refusal (HTTP 401, close 4401: the device was revoked) leads to the pairing
 * page, never to the login page.
 */

export const TOKEN_KEY = "zhizhi.token";
export const USER_KEY = "zhizhi.user";
export const DEVICE_KEY = "zhizhi.device";

/** The paired screen's credential ({token, wall, slot, url}), or null. */
export function device() {
  try {
    const held = JSON.parse(localStorage.getItem(DEVICE_KEY) || "null");
    return held && typeof held.token === "string" && held.token ? held : null;
  } catch (_) {
    return null;
  }
}

/** Keep a paired screen's credential (the answer of POST /api/wall/pairings/claim). */
export function keepDevice({ token: value, wall, slot, url }) {
  localStorage.setItem(DEVICE_KEY, JSON.stringify({ token: value, wall, slot, url }));
}

export function forgetDevice() {
  localStorage.removeItem(DEVICE_KEY);
}

/** Whether this tab acts as a paired screen (no login in this tab, a device credential). */
export function asDevice() {
  return !sessionStorage.getItem(TOKEN_KEY) && device() !== null;
}

export function token() {
  const held = device();
  return sessionStorage.getItem(TOKEN_KEY) || (held ? held.token : "");
}

/** The logged-in user as the login page left it ({username, name, role, ...}; {} if none); a
 *  paired screen is {name: "大屏 WALL · SLOT", role: "wall_device"}. */
export function user() {
  if (asDevice()) {
    const held = device();
    return { name: `大屏 ${held.wall || ""} · ${held.slot || ""}`, role: "wall_device" };
  }
  try {
    return JSON.parse(sessionStorage.getItem(USER_KEY) || "{}") || {};
  } catch (_) {
    return {};
  }
}

let leaving = false;

/** To the login page, which returns to this very page afterwards (once, however many calls
 *  were refused); a paired screen whose credential was refused goes to the pairing page. */
export function toLogin() {
  if (asDevice()) {
    forgetDevice(); // revoked: it is paired again from the pairing page
    if (leaving) return;
    leaving = true;
    location.replace("/wall/pair");
    return;
  }
  sessionStorage.removeItem(TOKEN_KEY);
  if (leaving) return;
  leaving = true;
  const here = location.pathname + location.search + location.hash;
  location.replace(`/login?next=${encodeURIComponent(here)}`);
}

/** End the session on the console (the token and its tickets are revoked, its live
 *  connections closed), then log in again. */
export async function logout() {
  if (asDevice()) return; // a paired screen is revoked on the walls page, not logged out
  const t = token();
  if (t) {
    try {
      await fetch("/api/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${t}` } });
    } catch (_) {
      // offline: the token expires on its own
    }
  }
  sessionStorage.removeItem(USER_KEY);
  toLogin();
}

export class ApiError extends Error {
  constructor(url, status, detail, body) {
    super(`${url} → ${status ? "HTTP " + status : "no response"}${detail ? ": " + detail : ""}`);
    this.url = url;
    this.status = status;
    this.detail = detail;
    this.body = body;
  }
}

/** ``fetch`` with the bearer token (for files shown from a blob: URL: evidence, reports). */
export function fetchWithToken(url, init = {}) {
  return fetch(url, { ...init, headers: { ...(init.headers || {}), Authorization: `Bearer ${token()}` } });
}

/**
 * A JSON call to the console with the bearer token: the answer's JSON, or ApiError (its
 * ``detail`` from the answer; a 401 also leads to the login page). With ``allow404`` a 404 is
 * an answer: ``{notFound: true, detail}``.
 */
export async function api(url, { method = "GET", body, allow404 = false, timeoutMs = 0 } = {}) {
  const headers = { Accept: "application/json", Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  const abort = timeoutMs ? new AbortController() : null;
  const timer = abort ? setTimeout(() => abort.abort(), timeoutMs) : null;
  try {
    resp = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      signal: abort ? abort.signal : undefined,
    });
  } catch (err) {
    throw new ApiError(url, 0, `网络错误 network error (${err.message})`);
  } finally {
    clearTimeout(timer);
  }
  if (resp.status === 401) {
    toLogin();
    throw new ApiError(url, 401, "请重新登录 log in again");
  }
  let data = null;
  let parseError = null;
  try {
    data = await resp.json();
  } catch (err) {
    parseError = err;
  }
  if (resp.ok && parseError) {
    throw new ApiError(url, resp.status, `响应不是 JSON invalid JSON (${parseError.message})`);
  }
  if (resp.ok) return data;
  const d = data && data.detail !== undefined ? data.detail : data || resp.statusText;
  const detail = typeof d === "string" ? d : JSON.stringify(d);
  if (allow404 && resp.status === 404) return { notFound: true, detail };
  throw new ApiError(url, resp.status, detail, data);
}

const TICKET_MARGIN_MS = 20_000;
// A ticket request the console never answers (it went down mid-request) must not hold every
// later reconnect: it is given up after this long.
const TICKET_TIMEOUT_MS = 10_000;
let ticketHeld = null; // {value, expiresAt (ms), forToken}
let ticketAsked = null; // the pending request, shared by every caller

/** A ticket for this session's URLs (a Promise); a refused token leads to the login page. */
export async function ticket() {
  const t = token();
  if (ticketHeld && ticketHeld.forToken === t && ticketHeld.expiresAt - Date.now() > TICKET_MARGIN_MS) {
    return ticketHeld.value;
  }
  if (!ticketAsked) {
    ticketAsked = api("/api/auth/ticket", { method: "POST", timeoutMs: TICKET_TIMEOUT_MS })
      .then((answer) => {
        // expires_in (seconds) rather than expires_at: this PC's clock may differ from the console's.
        const expiresAt = Date.now() + 1000 * Number(answer.expires_in || 0);
        ticketHeld = { value: answer.ticket, expiresAt, forToken: t };
        return answer.ticket;
      })
      .finally(() => {
        ticketAsked = null;
      });
  }
  return ticketAsked;
}

/** Forget the ticket held (the console refused it): the next ticket() asks for a new one. */
export function dropTicket() {
  ticketHeld = null;
}

/** ``url`` with a ticket as ?ticket= (a Promise): for the websocket and <img> video tiles. */
export async function withTicket(url) {
  return `${url}${url.includes("?") ? "&" : "?"}ticket=${encodeURIComponent(await ticket())}`;
}
