/**
 * GET /genai/edgeway/key: the calling virtual key's own limits, budget spent and left (with when its period resets)
 * and the current 60 s window's counts, from the key's Governor — what a job needs to stop before a 402 or a 429.
 * Only the caller's own key: no secret, no hash, nothing of any other key or of its team. The key's status comes
 * from its Governor, as for a call: a revoked, inactive or expired key gets 403, a rotated-away secret 401. It takes
 * no request slot (asking must not change the answer).
 */
import type { Context } from "hono";
import { inGrace, keyUnusableReason, type KeyRecord } from "../keys/key-record";
import type { AppEnv } from "../env";
import { GatewayError } from "../gemini/errors";
import { identify } from "../http/identify";
import { governor } from "../lib/governors";
import { clock } from "../governance/clock";
import { reportLease } from "../governance/lease";
import { periodEnd, WINDOW_MS } from "../governance/policy";

export async function selfKeyRoute(c: Context<AppEnv>): Promise<Response> {
  const presented = (await identify(c)).key;
  const gov = governor(c.env, "key", presented.id);
  const key: KeyRecord = (await gov.readKey()) ?? presented;
  const now = clock.now();
  const shown = presented.rotations ?? 0;
  if (shown < (key.rotations ?? 0) && !inGrace(key, shown, now)) throw new GatewayError(401, "API key not valid (it was rotated)");
  const why = keyUnusableReason(key, now);
  if (why) throw new GatewayError(403, why);

  // What this isolate's calls used and have not reported yet is counted too.
  await reportLease(c.env, "key", key.id, (p) => c.executionCtx.waitUntil(p));
  const counters = await gov.snapshot();
  const budget = key.budget ?? null;
  const resets = budget ? periodEnd(budget.period, now) : undefined;
  const round = (n: number) => Math.round(n * 1e9) / 1e9;
  const rpm = key.rate_limit?.rpm ?? null;
  const tpm = key.rate_limit?.tpm ?? null;
  return c.json({
    id: key.id,
    name: key.name,
    team_id: key.team_id ?? null,
    active: key.active,
    expires_at: key.expires_at ?? null,
    models: key.models ?? [],
    providers: key.providers ?? [],
    rate_limit: { rpm, tpm },
    // A window is counted only under its limit (a key without `rpm` takes no request slots): null otherwise.
    window: {
      seconds: WINDOW_MS / 1000,
      requests: rpm ? counters.requests : null,
      tokens: tpm ? counters.tokens : null,
      requests_left: rpm ? Math.max(0, rpm - counters.requests) : null,
      tokens_left: tpm ? Math.max(0, tpm - counters.tokens) : null,
    },
    budget: budget && {
      max_usd: budget.max_usd,
      period: budget.period ?? null,
      spent_usd: round(counters.spent_usd),
      left_usd: round(Math.max(0, budget.max_usd - counters.spent_usd)),
      resets_at: resets === undefined ? null : new Date(resets).toISOString(),
    },
    spent_lifetime_usd: round(counters.spent_lifetime_usd),
  });
}
