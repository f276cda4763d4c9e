/* zhizhi 智治 — a failure of the map's data: the banner says what failed, the status light
 * turns red (and stays so until the page is reloaded). */

import { fail } from "../lib/errors.js";
import { setStatus } from "../lib/header.js";

export function reportError(title, err) {
  fail(title, err);
  setStatus("error", "数据异常 Error");
}
