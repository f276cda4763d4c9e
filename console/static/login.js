/* zhizhi 智治 — the login page.
 *
 * POST /api/auth/login; the token goes to sessionStorage ("zhizhi.token", this tab only) and
 * every page of the console sends it as "Authorization: Bearer TOKEN" (lib/session.js).
 * Afterwards the page returns to ?next= (a path of this console only) or to the map.
 */

import { $ } from "./lib/dom.js";
import { TOKEN_KEY, USER_KEY } from "./lib/session.js";

function nextPath() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  // Only a path of this console: never another origin ("//host", "https://...", "/\\host").
  return /^\/(?![/\\])/.test(next) && !next.startsWith("/login") ? next : "/";
}

function showError(text) {
  const box = $("#zz-login-error");
  box.textContent = text;
  box.hidden = !text;
  document.body.dataset.state = text ? "error" : "";
}

async function submit(event) {
  event.preventDefault();
  const username = $("#zz-username").value.trim();
  const password = $("#zz-password").value;
  if (!username || !password) {
    showError("请输入用户名和密码 · Enter your username and password");
    return;
  }
  const button = $("#zz-login-submit");
  button.disabled = true;
  showError("");
  try {
    const resp = await fetch("/api/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ username, password }),
      cache: "no-store",
    });
    if (resp.ok) {
      const body = await resp.json();
      sessionStorage.setItem(TOKEN_KEY, body.token);
      sessionStorage.setItem(USER_KEY, JSON.stringify(body.user || {}));
      location.replace(nextPath());
      return;
    }
    if (resp.status === 429) {
      const wait = resp.headers.get("Retry-After") || "?";
      showError(`尝试次数过多，请 ${wait} 秒后再试 · Too many attempts: try again in ${wait} s`);
    } else if (resp.status === 401 || resp.status === 422) {
      showError("用户名或密码错误 · Invalid username or password");
      $("#zz-password").select();
    } else {
      showError(`登录失败 Login failed (HTTP ${resp.status})`);
    }
  } catch (err) {
    showError(`无法连接控制台 · The console cannot be reached (${err.message})`);
  } finally {
    button.disabled = false;
  }
}

$("#zz-login-form").addEventListener("submit", submit);
