/**
 * One delivery of an alert to the webhook: signed, shaped (JSON or Slack), never following a redirect, bounded in
 * time, and never to a private, loopback or link-local address unless ALERT_ALLOW_PRIVATE=on (local development).
 */
import type { AlertSettings } from "./settings";

export interface AlertEvent {
  id: string;
  type: "budget.threshold" | "key.expiring" | "credential.cooled";
  /** ISO time the event happened. */
  at: string;
  subject: { kind: "key" | "team" | "credential"; id: string; name: string };
  data: Record<string, unknown>;
}

export type SendResult = { ok: true; status: number } | { ok: false; status: number | null; error: string };

export const SEND_TIMEOUT_MS = 10_000;

const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");

/** `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` under `secret`. */
export async function signature(secret: string, timestamp: string, body: string): Promise<string> {
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return `sha256=${hex(await crypto.subtle.sign("HMAC", key, enc.encode(`${timestamp}.${body}`)))}`;
}

/** Why `url` may not receive deliveries, or undefined when it may. */
export function refusedUrl(url: string, allowPrivate: boolean): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return "ALERT_WEBHOOK_URL is not a URL";
  }
  if (allowPrivate) return u.protocol === "https:" || u.protocol === "http:" ? undefined : `ALERT_WEBHOOK_URL scheme ${u.protocol} is not http(s)`;
  if (u.protocol !== "https:") return "ALERT_WEBHOOK_URL must be https (ALERT_ALLOW_PRIVATE=on allows http for local development)";
  // The URL parser has already turned decimal, hex and octal IPv4 forms into dotted quads.
  const host = u.hostname.toLowerCase().replace(/^\[|\]$/g, "");
  if (isPrivateHost(host)) return `ALERT_WEBHOOK_URL host ${host} is a private, loopback or link-local address`;
  return undefined;
}

function isPrivateHost(host: string): boolean {
  if (host === "localhost" || /\.(localhost|local|internal|home\.arpa)$/.test(host)) return true;
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 0 || a === 10 || a === 127 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127) || a >= 224;
  }
  if (host.includes(":")) {
    if (host === "::" || host === "::1") return true;
    const mapped = /^::ffff:(.+)$/.exec(host);
    if (mapped) return mapped[1]!.includes(".") ? isPrivateHost(mapped[1]!) : true; // ::ffff:7f00:1 and kin: refuse
    return /^f[cd]/.test(host) || /^fe[89ab]/.test(host);
  }
  return false;
}

/** A Slack incoming-webhook message for the event (`text` is what notifications show). */
export function slackMessage(e: AlertEvent): { text: string } {
  const d = e.data as Record<string, any>;
  const who = `${e.subject.kind} "${e.subject.name}"`;
  let text: string;
  switch (e.type) {
    case "budget.threshold":
      text = `:warning: edgeway: ${who} has spent ${d.threshold_percent}% of its ${d.period} budget ($${d.spent_usd} of $${d.budget_usd})`;
      break;
    case "key.expiring":
      text = `:hourglass: edgeway: ${who} expires at ${d.expires_at}`;
      break;
    default:
      text = `:snowflake: edgeway: ${d.provider} credential "${d.credential}" cooled down (${d.reason}) until ${d.until}`;
  }
  return { text: `${text} (alert ${e.id})` };
}

/** POSTs one event; a 2xx answer is a delivery, anything else (a redirect included) is a failure to retry. */
export async function sendAlert(s: AlertSettings, e: AlertEvent, timeoutMs = SEND_TIMEOUT_MS, now = Date.now()): Promise<SendResult> {
  const refused = refusedUrl(s.url, s.allowPrivate);
  if (refused) return { ok: false, status: null, error: refused };
  const body = JSON.stringify(s.format === "slack" ? slackMessage(e) : e);
  const timestamp = String(Math.floor(now / 1000));
  const headers: Record<string, string> = { "content-type": "application/json", "user-agent": "edgeway-alerts", "x-edgeway-timestamp": timestamp, "x-edgeway-event": e.type };
  if (s.secret) headers["x-edgeway-signature"] = await signature(s.secret, timestamp, body);
  try {
    const res = await fetch(s.url, { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel().catch(() => {});
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
    const error = res.status >= 300 && res.status < 400 ? `redirect to ${res.headers.get("location")?.slice(0, 200) ?? "?"} not followed` : `receiver answered ${res.status}`;
    return { ok: false, status: res.status, error };
  } catch (err) {
    const name = (err as Error)?.name;
    return { ok: false, status: null, error: name === "TimeoutError" || name === "AbortError" ? `no answer within ${timeoutMs} ms` : `fetch failed: ${String(err).slice(0, 200)}` };
  }
}
