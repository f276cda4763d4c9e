/* zhizhi 智治 — the wall screens' session: the login page's token and the console's API.
 *
 * The contract of the login page (console/static/login.js): POST /api/auth/login leaves the
 * token in sessionStorage "zhizhi.token" (this tab only) and the user in "zhizhi.user"; a page
 * without a token, or whose token the console refuses (HTTP 401, websocket close 4401), goes to
 * /login?next=<this page>, which comes back here afterwards. The same keys and the same way
 * back as the map page (map.js), so a wall screen and the map page share one login per tab.
 */

export const TOKEN_KEY = "zhizhi.token";
export const USER_KEY = "zhizhi.user";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function user() {
  try {
    return JSON.parse(sessionStorage.getItem(USER_KEY) || "{}") || {};
  } catch (_) {
    return {};
  }
}

/** To the login page, which returns to this very screen afterwards. */
export function toLogin() {
  sessionStorage.removeItem(TOKEN_KEY);
  const here = location.pathname + location.search + location.hash;
  location.replace(`/login?next=${encodeURIComponent(here)}`);
}

/** End the session on the console (the token and its tickets are revoked, its live
 *  connections closed), then log in again. */
export async function logout() {
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

// Tickets: the login's token never goes into a URL (URLs end up in logs and histories, and the
// console refuses a ?token=). What cannot send a header — the websocket, <img> video tiles —
// carries a short-lived ticket of POST /api/auth/ticket instead (a minute, for this session's
// /ws and camera video only, ended with the session). One ticket serves every URL of this tab
// while it has more than TICKET_MARGIN_MS to live; then a new one is fetched.
const TICKET_MARGIN_MS = 20_000;
let ticketHeld = null; // {value, expiresAt (ms), forToken}
let ticketAsked = null; // the pending request, shared by every caller

/** A ticket for this session's URLs (a Promise); a refused token leads to the login page. */
export async function ticket() {
  const t = token();
  if (ticketHeld && ticketHeld.forToken === t && ticketHeld.expiresAt - Date.now() > TICKET_MARGIN_MS) {
    return ticketHeld.value;
  }
  if (!ticketAsked) {
    ticketAsked = (async () => {
      let resp;
      try {
        resp = await fetch("/api/auth/ticket", {
          method: "POST",
          headers: { Accept: "application/json", Authorization: `Bearer ${t}` },
          cache: "no-store",
        });
      } catch (err) {
        throw new ApiError("/api/auth/ticket", 0, `网络错误 network error (${err.message})`);
      }
      if (resp.status === 401) {
        toLogin();
        throw new ApiError("/api/auth/ticket", 401, "请重新登录 log in again");
      }
      if (!resp.ok) throw new ApiError("/api/auth/ticket", resp.status, resp.statusText);
      const body = await resp.json();
      // expires_in (seconds) rather than expires_at: this PC's clock may differ from the console's.
      ticketHeld = { value: body.ticket, expiresAt: Date.now() + 1000 * Number(body.expires_in || 0), forToken: t };
      return body.ticket;
    })().finally(() => {
      ticketAsked = null;
    });
  }
  return ticketAsked;
}

/** ``url`` with a ticket as ?ticket= (a Promise): for the websocket and <img> video tiles. */
export async function withTicket(url) {
  return `${url}${url.includes("?") ? "&" : "?"}ticket=${encodeURIComponent(await ticket())}`;
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

/** A JSON call to the console with the bearer token; ApiError on failure; 401 -> login. */
export async function api(url, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json", Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(url, 0, `网络错误 network error (${err.message})`);
  }
  if (resp.status === 401) {
    toLogin();
    throw new ApiError(url, 401, "请重新登录 log in again");
  }
  let data = null;
  try {
    data = await resp.json();
  } catch (_) {
    data = null;
  }
  if (!resp.ok) {
    const d = data && data.detail !== undefined ? data.detail : resp.statusText;
    throw new ApiError(url, resp.status, typeof d === "string" ? d : JSON.stringify(d), data);
  }
  return data;
}
