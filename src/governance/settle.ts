/**
 * Settlement: a finished call's tokens and cost go into its key's and team's Governors — only those that meter
 * (a budget or a tokens/min limit), as admission said. Runs inside waitUntil with the call's usage row, so the
 * budget counts exactly the `cost_usd` the usage log stores.
 */
import type { Env } from "../env";
import type { CallScope } from "../pipeline/context";
import type { CallRecord } from "../usage/record";
import { governor } from "./client";

export async function settle(env: Env, ctx: Pick<CallScope, "admission">, r: CallRecord): Promise<void> {
  const s = { tokens: r.tokens.input + r.tokens.output, usd: r.cost_usd };
  // A call that never reached admission has nothing to settle.
  const m = ctx.admission.metered;
  if (!m || (!m.key && !m.team) || (s.tokens <= 0 && s.usd <= 0)) return;
  try {
    await Promise.all([
      m.key ? governor(env, "key", r.key_id).settle(s) : undefined,
      m.team && r.team_id ? governor(env, "team", r.team_id).settle(s) : undefined,
    ]);
  } catch (e) {
    console.error("governance settlement failed", r.request_id, String(e));
  }
}
