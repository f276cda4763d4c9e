/* zhizhi 智治 — the board's bulk actions on a group of alerts, and the small dialog that asks
 * for their note.
 *
 * POST /api/alerts/bulk {ids, action, note, duplicate_of}: each id handled as the single-alert
 * endpoints would; the answer is {done: [alert messages], failed: [{id, status, detail}]}.
 * Actions: "acknowledge", "close_duplicate" (the others closed as duplicates of duplicate_of,
 * which stays open), "close_false_alarm" (a note is required: the console refuses without one,
 * and so does the dialog, before anything is sent).
 */

import { $ } from "../lib/dom.js";
import { api } from "../lib/session.js";

/** One bulk call; the console's answer ({done, failed}). */
export function bulkAct(ids, action, { note = "", duplicateOf = null } = {}) {
  const body = { ids, action, note };
  if (duplicateOf) body.duplicate_of = duplicateOf;
  return api("/api/alerts/bulk", { method: "POST", body });
}

let pending = null; // the open dialog's resolve

/**
 * Ask for the note of a bulk action in the board's dialog (#zw-bulk-dialog); resolves to the
 * note ("" allowed unless ``required``), or null when cancelled. ``summary`` (HTML) says what
 * will happen to which alerts.
 */
export function askNote({ title, titleEn, summary, required, confirm, confirmEn, action }) {
  const dialog = $("#zw-bulk-dialog");
  const note = $("#zw-bulk-note");
  const error = $("#zw-bulk-error");
  if (pending) pending(null);
  dialog.dataset.action = action;
  dialog.dataset.required = String(Boolean(required));
  $("#zw-bulk-title").innerHTML = `${title} <small></small>`;
  $("#zw-bulk-title small").textContent = titleEn;
  $("#zw-bulk-summary").innerHTML = summary;
  note.value = "";
  note.placeholder = required
    ? "误报原因（必填）· Why it is a false alarm (required)"
    : "说明（可选）· Note (optional)";
  error.textContent = "";
  $("#zw-bulk-confirm").innerHTML = `${confirm} <small></small>`;
  $("#zw-bulk-confirm small").textContent = confirmEn;
  return new Promise((resolve) => {
    const finish = (value) => {
      pending = null;
      $("#zw-bulk-confirm").onclick = null;
      $("#zw-bulk-cancel").onclick = null;
      dialog.oncancel = null;
      if (dialog.open) dialog.close();
      resolve(value);
    };
    pending = finish;
    $("#zw-bulk-confirm").onclick = () => {
      const text = note.value.trim();
      if (required && !text) {
        error.textContent = "必须填写误报说明 · A note is required to close as a false alarm";
        dialog.dataset.refused = String(Number(dialog.dataset.refused || 0) + 1);
        note.focus();
        return;
      }
      finish(text);
    };
    $("#zw-bulk-cancel").onclick = () => finish(null);
    dialog.oncancel = (e) => {
      e.preventDefault();
      finish(null);
    };
    dialog.showModal();
    note.focus();
  });
}
