/* zhizhi 智治 — numbers, times and ages as the pages show them.
 *
 * Times are shown in one time zone for the whole deployment (settings.wall.time_zone, sent by
 * GET /api/config; Asia/Shanghai until a page says otherwise with setTimeZone), never in the
 * zone of the browser that happens to show them: a wall PC set to another zone still shows the
 * district's clock. */

export const pad = (n) => String(n).padStart(2, "0");

export const DEFAULT_TIME_ZONE = "Asia/Shanghai";

let zone = DEFAULT_TIME_ZONE;
let parts = null; // an Intl.DateTimeFormat of the zone, made once per zone

/** Show every time in ``timeZone`` (an IANA name); an unknown name keeps the current zone. */
export function setTimeZone(timeZone) {
  try {
    const fmt = new Intl.DateTimeFormat("en-GB", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      weekday: "short",
    });
    zone = timeZone;
    parts = fmt;
  } catch (err) {
    console.warn(`unknown time zone ${timeZone}:`, err);
  }
  return zone;
}

/** The zone times are shown in. */
export const timeZone = () => zone;

const WEEKDAY = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

/** The wall clock's reading of ``date`` in the zone: {year, month, day, hour, minute, second, weekday}. */
export function zoned(date) {
  if (!parts) setTimeZone(zone);
  const out = {};
  for (const p of parts.formatToParts(date)) out[p.type] = p.value;
  return {
    year: out.year,
    month: out.month,
    day: out.day,
    hour: out.hour,
    minute: out.minute,
    second: out.second,
    weekday: WEEKDAY[out.weekday] ?? 0,
  };
}

/** 12345.6 -> "12,346" (zh-CN grouping); "—" when not a number. */
export const fmtInt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString("zh-CN") : "—");

/** Epoch seconds -> "14:03:27" today, "06-01 14:03" on other days (both in the zone). */
export function fmtTime(ts) {
  if (!Number.isFinite(ts)) return "—";
  const d = zoned(new Date(ts * 1000));
  const now = zoned(new Date());
  const time = `${d.hour}:${d.minute}:${d.second}`;
  if (d.year === now.year && d.month === now.month && d.day === now.day) return time;
  return `${d.month}-${d.day} ${d.hour}:${d.minute}`;
}

/** Epoch seconds -> "2026-06-01 14:03:27" in the zone; "—" when not a number. */
export function fmtDateTime(ts) {
  if (!Number.isFinite(ts)) return "—";
  const d = zoned(new Date(ts * 1000));
  return `${d.year}-${d.month}-${d.day} ${d.hour}:${d.minute}:${d.second}`;
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

/** The header clock's two lines in the zone: ["14:03:27", "2026-06-01 星期一"]. */
export function clockText(now = new Date()) {
  const d = zoned(now);
  return [`${d.hour}:${d.minute}:${d.second}`, `${d.year}-${d.month}-${d.day} 星期${DAYS[d.weekday]}`];
}

/** Names of the jurisdiction levels. */
export const LEVEL = { district: "区县", town: "镇街", village: "村社区", grid: "网格" };
