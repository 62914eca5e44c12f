/**
 * Admission: before a call's first upstream attempt, ask the key's and its team's Governors (in parallel, one
 * round trip) whether it may go. Both must admit; when one refuses, the request slot the other took is given
 * back. A refusal is the key's or team's, not the target's, so it is answered rather than tried on a fallback.
 */
import { GatewayError } from "../gemini/errors";
import type { CallContext } from "../pipeline/context";
import { governor } from "./client";
import type { Decision } from "./governor";
import { keyPolicy } from "./policy";

/** Resolves when the call may go; otherwise rejects with the GatewayError to answer (never anything else). */
export async function admit(ctx: CallContext): Promise<void> {
  // Later attempts (fallbacks) of an admitted call take no other request slot.
  if (ctx.admission.metered) return;
  try {
    await decide(ctx);
  } catch (e) {
    if (e instanceof GatewayError) throw e;
    // A Governor could not be reached: refuse (fail closed) rather than let spend and revocation go unchecked.
    console.error("governor unavailable", ctx.requestId, String(e));
    throw new GatewayError(503, "governance unavailable, try again");
  }
}

async function decide(ctx: CallContext): Promise<void> {
  const { key, env } = ctx;
  const keyGov = governor(env, "key", key.id);
  const teamGov = key.team_id ? governor(env, "team", key.team_id) : undefined;
  const [k, t] = await Promise.allSettled([
    keyGov.admit({ fallback: keyPolicy(key), rotations: key.rotations ?? 0 }),
    teamGov ? teamGov.admit({}) : Promise.resolve<Decision>({ ok: true }),
  ]);
  const kd = k.status === "fulfilled" ? k.value : undefined;
  const td = t.status === "fulfilled" ? t.value : undefined;
  if (kd?.ok && td?.ok) {
    ctx.admission.metered = { key: !!kd.meter, team: !!(teamGov && td.meter) };
    return;
  }
  // Give back the slot the admitting side took before answering, so a refused call never counts against the other.
  await Promise.all([
    kd?.ok && kd.ticket ? keyGov.release(kd.ticket) : undefined,
    td?.ok && td.ticket && teamGov ? teamGov.release(td.ticket) : undefined,
  ]).catch((e) => console.error("governor release failed", ctx.requestId, String(e)));
  const refusals = [kd, td].filter((d): d is Extract<Decision, { ok: false }> => !!d && !d.ok);
  if (!refusals.length) throw ([k, t].find((r) => r.status === "rejected") as PromiseRejectedResult).reason;
  throw toError(refusals.sort(severity)[0]!);
}

/** Status refusals first (401/403), then budget (402), then the rate limit that frees last. */
const RANK: Record<number, number> = { 401: 0, 403: 1, 402: 2, 429: 3 };
function severity(a: Extract<Decision, { ok: false }>, b: Extract<Decision, { ok: false }>): number {
  return RANK[a.code]! - RANK[b.code]! || (b.retryAfter ?? 0) - (a.retryAfter ?? 0);
}

function toError(d: Extract<Decision, { ok: false }>): GatewayError {
  const headers = d.retryAfter ? { "retry-after": String(d.retryAfter) } : undefined;
  return new GatewayError(d.code, d.message, { headers });
}
