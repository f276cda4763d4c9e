/* zhizhi 智治 — numbers, times and ages as the pages show them. */

export const pad = (n) => String(n).padStart(2, "0");

/** 12345.6 -> "12,346" (zh-CN grouping); "—" when not a number. */
export const fmtInt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString("zh-CN") : "—");

/** Epoch seconds -> "14:03:27" today, "06-01 14:03" on other days. */
export function fmtTime(ts) {
  if (!Number.isFinite(ts)) return "—";
  const d = new Date(ts * 1000);
  const now = new Date();
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (d.toDateString() === now.toDateString()) return time;
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time.slice(0, 5)}`;
}

/** "3 分钟前" style age of an epoch-seconds time. */
export function fmtAge(ts) {
  if (!Number.isFinite(ts)) return "";
  const s = Math.max(0, Date.now() / 1000 - ts);
  if (s < 60) return `${Math.floor(s)} 秒前`;
  if (s < 3600) return `${Math.floor(s / 60)} 分钟前`;
  if (s < 86400) return `${Math.floor(s / 3600)} 小时前`;
  return `${Math.floor(s / 86400)} 天前`;
}

const DAYS = ["日", "一", "二", "三", "四", "五", "六"];

/** The header clock's two lines: ["14:03:27", "2026-06-01 星期一"]. */
export function clockText(now = new Date()) {
  return [
    `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`,
    `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())} 星期${DAYS[now.getDay()]}`,
  ];
}

/** Names of the jurisdiction levels. */
export const LEVEL = { district: "区县", town: "镇街", village: "村社区", grid: "网格" };
