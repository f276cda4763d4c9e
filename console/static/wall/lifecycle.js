/* zhizhi 智治 — the alert lifecycle, as the console states it (GET /api/alerts/lifecycle, from
 * alerts/lifecycle.py): which statuses are open, which status may follow which, and which moves
 * need a note. Loaded once per page (loadLifecycle) before anything asks. */

import { api } from "../lib/session.js";

const table = { open: new Set(), transitions: {}, noteRequired: new Set() };
let loading = null;

/** Fetch the lifecycle (once; later calls share the answer). */
export function loadLifecycle() {
  if (!loading) {
    loading = api("/api/alerts/lifecycle").then((answer) => {
      table.open = new Set(answer.open);
      table.transitions = answer.transitions;
      table.noteRequired = new Set(answer.note_required.map(([from, to]) => `${from}>${to}`));
      return table;
    });
    loading.catch(() => {
      loading = null; // ask again next time
    });
  }
  return loading;
}

/** Whether an alert in ``status`` is still being worked on. */
export const isOpen = (status) => table.open.has(status);

/** The statuses an alert in ``status`` may move to. */
export const targets = (status) => table.transitions[status] || [];

/** Whether the move ``from`` -> ``to`` must say why in its note. */
export const needsNote = (from, to) => table.noteRequired.has(`${from}>${to}`);
