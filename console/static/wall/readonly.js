/* zhizhi 智治 — read-only wall screens.
 *
 * A paired screen (role wall_device: GET /api/auth/me answers permissions ["read"]) and any user
 * without alerts.act read the alerts, their checklist and the map, and select on the wall, but
 * are offered no button the console would refuse with 403: no acknowledge, dispatch, escalate or
 * hand-down, no bulk action, no false-alarm close, no SOP tick. The page says so with
 * body[data-read-only="true"] (class zw-read-only).
 */

import { asDevice } from "../lib/session.js";

/** Whether the caller may act on alerts; ``me``: GET /api/auth/me's answer (null: unknown). */
export function mayActOnAlerts(me) {
  if (asDevice()) return false; // a paired screen never acts, whatever the console answered
  if (me && me.user && me.user.role === "wall_device") return false;
  return !me || !Array.isArray(me.permissions) || me.permissions.includes("alerts.act");
}

/** Mark the page read only (or not). */
export function markReadOnly(readOnly) {
  document.body.classList.toggle("zw-read-only", readOnly);
  document.body.dataset.readOnly = String(readOnly);
}
