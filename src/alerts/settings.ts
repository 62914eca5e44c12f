/**
 * Alert settings from the vars (README, "Alerts"): where deliveries go, how they are signed and shaped, and the
 * budget thresholds. With no ALERT_WEBHOOK_URL alerts are off, and every check of them is one property read.
 */
import type { Env } from "../env";

declare module "../env" {
  interface Env {
    /** Where alert deliveries are POSTed (a Slack incoming-webhook URL is a secret); unset: alerts off. */
    ALERT_WEBHOOK_URL?: string;
    /** Signs each delivery: `x-edgeway-signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`. */
    ALERT_WEBHOOK_SECRET?: string;
    /** `json` (default) or `slack` (a Slack-compatible `{text, blocks}` message). */
    ALERT_FORMAT?: string;
    /** Budget percentages that alert once per budget period (default `50,80,100`). */
    ALERT_BUDGET_THRESHOLDS?: string;
    /**
     * `on` lets deliveries go to private, loopback and link-local addresses and plain http (local development and
     * tests with a receiver on this machine); off by default, so a webhook URL cannot reach the internal network.
     */
    ALERT_ALLOW_PRIVATE?: string;
  }
}

export interface AlertSettings {
  url: string;
  secret: string | undefined;
  format: "json" | "slack";
  /** Ascending percentages. */
  thresholds: number[];
  allowPrivate: boolean;
}

const DEFAULT_THRESHOLDS = [50, 80, 100];

let last: { key: string; settings: AlertSettings } | undefined;

/** The settings, or null when alerts are off. Parsed once per distinct set of vars. */
export function alertSettings(env: Env): AlertSettings | null {
  const url = env.ALERT_WEBHOOK_URL;
  if (!url) return null;
  const key = [url, env.ALERT_WEBHOOK_SECRET, env.ALERT_FORMAT, env.ALERT_BUDGET_THRESHOLDS, env.ALERT_ALLOW_PRIVATE].join("\n");
  if (last?.key !== key) last = { key, settings: parse(env, url) };
  return last.settings;
}

function parse(env: Env, url: string): AlertSettings {
  const parsed = (env.ALERT_BUDGET_THRESHOLDS ?? "").split(",").map((s) => Number(s.trim())).filter((n) => Number.isFinite(n) && n > 0);
  if (env.ALERT_BUDGET_THRESHOLDS && !parsed.length) console.error(`ALERT_BUDGET_THRESHOLDS "${env.ALERT_BUDGET_THRESHOLDS}" names no percentage; using 50,80,100`);
  return {
    url,
    secret: env.ALERT_WEBHOOK_SECRET || undefined,
    format: env.ALERT_FORMAT === "slack" ? "slack" : "json",
    thresholds: [...new Set(parsed.length ? parsed : DEFAULT_THRESHOLDS)].sort((a, b) => a - b),
    allowPrivate: env.ALERT_ALLOW_PRIVATE === "on",
  };
}
