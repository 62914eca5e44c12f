/** The rate window and the calendar of budget periods (UTC), shared by the Governor and the admin API. */
import type { Budget } from "../keys/key-record";

export const WINDOW_MS = 60_000;
export const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Start of the budget period holding `now` (UTC calendar: hour, day, ISO week from Monday, month); 0 = lifetime. */
export function periodStart(period: Budget["period"], now: number): number {
  const d = new Date(now);
  switch (period) {
    case "1h":
      return now - (now % HOUR_MS);
    case "1d":
      return now - (now % DAY_MS);
    case "1w":
      return now - (now % DAY_MS) - ((d.getUTCDay() + 6) % 7) * DAY_MS;
    case "1mo":
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
    default:
      return 0;
  }
}

/** When the period holding `now` ends; undefined for a lifetime budget. */
export function periodEnd(period: Budget["period"], now: number): number | undefined {
  const d = new Date(now);
  switch (period) {
    case "1h":
      return periodStart("1h", now) + HOUR_MS;
    case "1d":
      return periodStart("1d", now) + DAY_MS;
    case "1w":
      return periodStart("1w", now) + 7 * DAY_MS;
    case "1mo":
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    default:
      return undefined;
  }
}

export const hourOf = (ts: number) => Math.floor(ts / HOUR_MS);

