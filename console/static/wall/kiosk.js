/* zhizhi 智治 — kiosk mode of a wall screen (?kiosk=1, or the slot's setting in the URL a
 * paired screen opens): the header keeps its title line only (no links, no user, no log-out),
 * the cursor hides after CURSOR_IDLE_MS without moving, and the first click or key asks for
 * fullscreen (browsers allow it only after a gesture; `chromium --kiosk` is fullscreen anyway).
 * A paired screen (lib/session.js) has no log-out either: it is revoked on the walls page. */

import { asDevice } from "../lib/session.js";

export const CURSOR_IDLE_MS = 3000;

/** Whether this screen runs in kiosk mode. */
export function kioskMode() {
  return new URLSearchParams(location.search).get("kiosk") === "1";
}

/** Hide the cursor after ``idleMs`` without pointer movement; it shows again when moved. */
export function hideIdleCursor(idleMs = CURSOR_IDLE_MS) {
  let timer = null;
  const arm = () => {
    document.body.classList.remove("zw-cursor-off");
    clearTimeout(timer);
    timer = setTimeout(() => document.body.classList.add("zw-cursor-off"), idleMs);
  };
  for (const type of ["pointermove", "pointerdown", "wheel"]) {
    document.addEventListener(type, arm, { passive: true });
  }
  arm();
}

/** Ask for fullscreen on the first click or key (a gesture is required). */
export function fullscreenOnFirstGesture() {
  const ask = () => {
    document.removeEventListener("pointerdown", ask, true);
    document.removeEventListener("keydown", ask, true);
    if (document.fullscreenElement || !document.documentElement.requestFullscreen) return;
    document.documentElement.requestFullscreen().catch(() => {
      // refused (an iframe, a policy): the screen works as it is
    });
  };
  document.addEventListener("pointerdown", ask, true);
  document.addEventListener("keydown", ask, true);
}

/** Apply kiosk mode and the paired screen's header to this page. */
export function applyKiosk() {
  const kiosk = kioskMode();
  document.body.classList.toggle("zw-kiosk", kiosk);
  document.body.classList.toggle("zw-device", asDevice());
  if (!kiosk) return;
  hideIdleCursor();
  fullscreenOnFirstGesture();
}
