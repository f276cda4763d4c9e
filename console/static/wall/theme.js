/* zhizhi 智治 — the wall theme: what GET /api/config's "wall" says of every wall screen.
 *
 * - the smallest text (``min_text_px``, 28 px by default) as the CSS variable --zw-text, and the
 *   titles' size (--zw-title, at least 40 px): wall.css sizes every text from them, so a
 *   duty officer reads it at 5 m;
 * - the deployment's one time zone (``time_zone``): every time on the wall is formatted in it
 *   (lib/format.js), whatever zone the wall PC's browser is in;
 * - English glosses (``english_glosses``, off by default): body.zw-glosses shows the small
 *   English beside the Chinese labels, and vocabulary.js adds them to its texts.
 *
 * Loaded by each wall page (a module of its own); body[data-theme] becomes "ready" once applied.
 */

import { setTimeZone } from "../lib/format.js";
import { api, token } from "../lib/session.js";
import { setGlosses } from "./vocabulary.js";

export const TITLE_MIN_PX = 40;

/** Apply the wall settings ``wall`` ({time_zone, english_glosses, min_text_px}) to this page. */
export function applyWallTheme(wall = {}) {
  const root = document.documentElement;
  const px = Number.isFinite(Number(wall.min_text_px)) && Number(wall.min_text_px) > 0 ? Number(wall.min_text_px) : 28;
  root.style.setProperty("--zw-text", `${px}px`);
  root.style.setProperty("--zw-title", `${Math.max(TITLE_MIN_PX, Math.round(px * 1.45))}px`);
  if (wall.time_zone) setTimeZone(wall.time_zone);
  const glosses = Boolean(wall.english_glosses);
  setGlosses(glosses);
  document.body.classList.toggle("zw-glosses", glosses);
  document.body.classList.toggle("zw-no-glosses", !glosses);
  document.body.dataset.theme = "ready";
  document.dispatchEvent(new CustomEvent("zw-theme", { detail: { ...wall, min_text_px: px } }));
}

async function start() {
  document.body.classList.add("zw-no-glosses"); // the default until the console says otherwise
  if (!token()) {
    applyWallTheme({}); // the launcher, or a screen on its way to the login page
    return;
  }
  try {
    const config = await api("/api/config");
    applyWallTheme(config.wall || {});
  } catch (err) {
    console.warn("wall theme:", err);
    applyWallTheme({});
  }
}

start();
