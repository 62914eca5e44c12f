/** Form pieces keys and teams share: rate limits, budgets, and running one admin write at a time. */
import { useState } from "preact/hooks";
import type { KeyRecord } from "../api";

export function LimitFields({ value }: { value: KeyRecord["rate_limit"] }) {
  return (
    <>
      <label>
        Requests per minute
        <input name="rpm" type="number" min={1} step={1} inputMode="numeric" defaultValue={value?.rpm ?? ""} placeholder="no limit" />
      </label>
      <label>
        Tokens per minute
        <input name="tpm" type="number" min={1} step={1} inputMode="numeric" defaultValue={value?.tpm ?? ""} placeholder="no limit" />
      </label>
    </>
  );
}

const PERIODS = [
  ["", "lifetime"],
  ["1h", "hour (UTC)"],
  ["1d", "day (UTC)"],
  ["1w", "week (from Monday, UTC)"],
  ["1mo", "month (UTC)"],
] as const;

// Uncontrolled <select>s take their starting value from `selected` options: Preact has no `defaultValue` for a
// select, and a `value` prop would be re-applied (undoing the operator's choice) on every re-render.
export function BudgetFields({ value }: { value: KeyRecord["budget"] }) {
  return (
    <>
      <label>
        Budget (USD)
        <input name="max_usd" type="number" min={0} step="any" inputMode="decimal" defaultValue={value?.max_usd ?? ""} placeholder="no budget" />
      </label>
      <label>
        Budget period
        <select name="period">
          {PERIODS.map(([v, label]) => (
            <option value={v} selected={v === (value?.period ?? "")}>
              {label}
            </option>
          ))}
        </select>
      </label>
    </>
  );
}

const num = (f: FormData, n: string) => {
  const s = String(f.get(n) ?? "").trim();
  return s === "" ? null : Number(s);
};

export function rateLimitFrom(f: FormData): KeyRecord["rate_limit"] {
  const rpm = num(f, "rpm");
  const tpm = num(f, "tpm");
  return rpm === null && tpm === null ? null : { rpm, tpm };
}

export function budgetFrom(f: FormData): KeyRecord["budget"] {
  const max = num(f, "max_usd");
  if (max === null) return null;
  const period = String(f.get("period") ?? "");
  return { max_usd: max, period: period ? (period as "1h" | "1d" | "1w" | "1mo") : null };
}

/** One admin write at a time: busy while it runs, the API's error kept to show, `done` with its answer. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const run = async <T,>(f: () => Promise<T>, done: (v: T) => void) => {
    setBusy(true);
    setError(undefined);
    try {
      const v = await f();
      setBusy(false);
      done(v);
    } catch (e) {
      setBusy(false);
      setError(e instanceof Error ? e : new Error(String(e)));
    }
  };
  return { busy, error, run };
}
