/**
 * WebSocket close codes and reasons of Live sessions. A session the gateway ends is closed with 4000 + the HTTP
 * status the same refusal has on the REST routes (4402 budget spent, 4403 key revoked, 4429 tokens/min, ...), and
 * a reason that starts with the Gemini status name; a close by either peer is passed on to the other as it came.
 * A guardrail's block closes with 4451 (src/guardrails/live.ts `GUARDRAIL_CLOSE`), no refusal's status.
 */
import type { GatewayError } from "../gemini/errors";
import type { Outcome } from "../usage/row";

/** A close frame's reason is at most 123 bytes of UTF-8. */
const MAX_REASON_BYTES = 123;

export const NORMAL = 1000;
/** No close frame: the connection dropped. Never sent, only seen. */
export const ABNORMAL = 1006;
export const INTERNAL = 1011;

/** The code a close frame may carry (1005, 1006 and 1015 are only ever reported, never sent). */
export function sendable(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** How a peer's close is passed on: as it came, else normal (no status given) or internal error (dropped). */
export function passOn(code: number): number {
  if (sendable(code)) return code;
  return code === 1005 ? NORMAL : INTERNAL;
}

/** The close code of a gateway refusal: 4000 + its HTTP status. */
export const gatewayCode = (e: GatewayError) => 4000 + Math.min(Math.max(e.code, 400), 999);

export const gatewayReason = (e: GatewayError) => closeReason(`${e.status}: ${e.message}`);

/** `text` cut to what a close frame can carry, at a character boundary, with control characters removed. */
export function closeReason(text: string): string {
  // eslint-disable-next-line no-control-regex
  let s = text.replace(/[\u0000-\u001f\u007f]/g, " ");
  const enc = new TextEncoder();
  if (enc.encode(s).length <= MAX_REASON_BYTES) return s;
  s = s.slice(0, MAX_REASON_BYTES);
  while (enc.encode(s + "…").length > MAX_REASON_BYTES) s = s.slice(0, -1);
  // A lone high surrogate left at the end would not encode as itself.
  if (/[\ud800-\udbff]$/.test(s)) s = s.slice(0, -1);
  return s + "…";
}

/** The usage row's status and outcome for a session the upstream closed with `code`. */
export function upstreamEnd(code: number): { status: number; outcome: Outcome } {
  if (code === NORMAL || code === 1001) return { status: 200, outcome: "ok" };
  const status = code === 1007 ? 400 : code === 1008 ? 403 : code === 1013 ? 503 : 502;
  return { status, outcome: "error" };
}

/** The usage row's status and outcome for a session the client closed with `code`. */
export function clientEnd(code: number): { status: number; outcome: Outcome } {
  return code === ABNORMAL ? { status: 499, outcome: "aborted" } : { status: 200, outcome: "ok" };
}
