/** Form pieces keys and teams share: rate limits, budgets, and running one admin write at a time. */
import { useEffect, useState } from "preact/hooks";
import type { KeyRecord } from "../api";
import { ErrorNote } from "./dialog";

/** Where the API's field paths (`budget.max_usd: …`) are entered in the console's forms. */
const FIELD_INPUT: Record<string, string> = {
  name: "name", team_id: "team_id", models: "models", providers: "providers", fallbacks: "fallbacks", expires_at: "expires_at",
  rate_limit: "rpm", "rate_limit.rpm": "rpm", "rate_limit.tpm": "tpm", budget: "max_usd", "budget.max_usd": "max_usd", "budget.period": "period",
};

/** The form field an API refusal concerns (its message names the field's path first), if any. */
export function fieldOf(error: Error | undefined): string | undefined {
  if (!error) return undefined;
  const m = /(?:^|: |; )(name|team_id|models|providers|fallbacks|expires_at|rate_limit(?:\.rpm|\.tpm)?|budget(?:\.max_usd|\.period)?)\b/.exec(error.message);
  return m ? FIELD_INPUT[m[1]!] : undefined;
}

/** A refusal shown beside the field it concerns; that field is marked invalid and given focus. */
export function FieldError({ name, error }: { name: string; error?: Error }) {
  const mine = !!error && fieldOf(error) === name;
  useEffect(() => {
    const el = document.querySelector<HTMLElement>(`dialog [name="${name}"]`);
    if (!el) return;
    if (mine) {
      el.setAttribute("aria-invalid", "true");
      el.setAttribute("aria-errormessage", `${name}-error`);
      el.focus();
    } else {
      el.removeAttribute("aria-invalid");
      el.removeAttribute("aria-errormessage");
    }
  }, [mine, error, name]);
  const code = (error as { code?: number } | undefined)?.code;
  // Phrasing content, so it may sit inside the field's <label>.
  return mine ? (
    <span id={`${name}-error`} class="error field-error" role="alert">
      <span class="message">{error!.message}</span>
      {code ? <span class="muted"> (HTTP {code})</span> : null}
    </span>
  ) : null;
}

/** A refusal that concerns no one field: shown at the foot of the form. */
export const FormError = ({ error }: { error?: Error }) => (error && !fieldOf(error) ? <ErrorNote error={error} /> : null);

export function LimitFields({ value, error }: { value: KeyRecord["rate_limit"]; error?: Error }) {
  return (
    <>
      <label>
        Requests per minute
        <input name="rpm" type="number" min={1} step={1} inputMode="numeric" defaultValue={value?.rpm ?? ""} placeholder="no limit" />
        <FieldError name="rpm" error={error} />
      </label>
      <label>
        Tokens per minute
        <input name="tpm" type="number" min={1} step={1} inputMode="numeric" defaultValue={value?.tpm ?? ""} placeholder="no limit" />
        <FieldError name="tpm" error={error} />
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
export function BudgetFields({ value, error }: { value: KeyRecord["budget"]; error?: Error }) {
  return (
    <>
      <label>
        Budget (USD)
        <input name="max_usd" type="number" min={0} step="any" inputMode="decimal" defaultValue={value?.max_usd ?? ""} placeholder="no budget" />
        <FieldError name="max_usd" error={error} />
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
        <FieldError name="period" error={error} />
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
/**
 * `log_bodies`: store each call's request and answer, redacted (the LOG_BUCKET binding; docs/observability.md).
 * Sent when checked, or when unchecking a record that had it (a new record without it stays without the field).
 */
export function LogBodiesField({ value, team }: { value?: boolean | null; team?: boolean }) {
  return (
    <label class="check wide">
      <input name="log_bodies" type="checkbox" defaultChecked={!!value} /> Store request and answer bodies for debugging
      {team ? " (every key of the team)" : ""}: redacted, in the LOG_BUCKET bucket, shown in a call's detail on Logs
    </label>
  );
}

export function logBodiesFrom(f: FormData, had: boolean | null | undefined): { log_bodies?: boolean } {
  if (f.get("log_bodies") === "on") return { log_bodies: true };
  return had ? { log_bodies: false } : {};
}

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

