/** How figures and times read in the console. Times are UTC, like budget periods and the usage log's day buckets. */
const int = new Intl.NumberFormat("en-US");
const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

export const fmtInt = (n: number) => int.format(n);
export const fmtCompact = (n: number) => (Math.abs(n) < 10_000 ? int.format(n) : compact.format(n));

/** USD with enough digits to see a single cheap call ($0.000012), and cents for larger sums. */
export function fmtUsd(n: number): string {
  if (n === 0) return "$0";
  const abs = Math.abs(n);
  const digits = abs >= 100 ? 2 : abs >= 1 ? 4 : abs >= 0.01 ? 4 : 6;
  return `$${n.toFixed(digits).replace(/(\.\d*?[1-9])0+$|\.0+$/, "$1")}`;
}

export const fmtMs = (n: number | null | undefined) => (n === null || n === undefined ? "—" : n < 1000 ? `${n} ms` : `${(n / 1000).toFixed(2)} s`);

const pad = (n: number) => String(n).padStart(2, "0");

/** `2026-05-04 13:07:22 UTC` (seconds optional). */
export function fmtTime(t: number | string | null | undefined, seconds = true): string {
  if (t === null || t === undefined) return "—";
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  const base = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  return `${seconds ? `${base}:${pad(d.getUTCSeconds())}` : base} UTC`;
}

/** Value for an <input type="datetime-local"> showing the UTC wall time of `t`. */
export function toLocalInput(t: number | string | null | undefined): string {
  if (t === null || t === undefined || t === "") return "";
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return "";
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

/** An <input type="datetime-local"> value read as UTC; undefined when empty. */
export function fromLocalInput(v: string): number | undefined {
  if (!v) return undefined;
  const t = Date.parse(`${v}Z`);
  return Number.isFinite(t) ? t : undefined;
}

/** A comma- or newline-separated list from a text field. */
export const splitList = (s: string) =>
  s
    .split(/[\n,]/)
    .map((x) => x.trim())
    .filter(Boolean);

/** A guardrail's entity counts, by name: `credit_card × 1, email × 2` (never the matched text, which no row holds). */
export const entityList = (entities: Record<string, number>) =>
  Object.entries(entities).sort(([a], [b]) => (a < b ? -1 : 1)).map(([e, n]) => `${e} × ${fmtInt(n)}`).join(", ") || "nothing";
