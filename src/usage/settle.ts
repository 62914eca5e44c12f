/**
 * Settlement: finished calls' tokens and cost go into their key's and team's Governors — only those that meter
 * (a budget or a tokens/min limit), as the rows' `settle` refs say, each under the lease that admitted the call.
 * Called by whoever stores the usage rows (the buffer's shards, the sink's last resort), after they are stored, so
 * budgets count exactly the `cost_usd` the usage log holds. One round trip per Governor per batch; a batch id seen
 * before changes nothing, so a batch can be retried until it lands. The Governors are reached through their
 * binding (src/lib/governors.ts); the items are the Governor's `SettleItem`s (src/governance/protocol.ts).
 */
import type { Env } from "../env";
import { governor, type Subject } from "../lib/governors";
import type { CallRecord } from "./row";

interface SettleItem {
  lease: string;
  tokens: number;
  usd: number;
}

/** Settles a batch of rows; rejects when a Governor could not take it (the caller keeps the rows and retries). */
export async function settleRecords(env: Pick<Env, "GOVERNOR">, batchId: string, records: readonly CallRecord[]): Promise<void> {
  const bySubject = new Map<string, { subject: Subject; id: string; items: SettleItem[] }>();
  const add = (subject: Subject, id: string, lease: string, r: CallRecord) => {
    const k = `${subject}:${id}`;
    let g = bySubject.get(k);
    if (!g) bySubject.set(k, (g = { subject, id, items: [] }));
    g.items.push({ lease, tokens: r.tokens.input + r.tokens.output, usd: r.cost_usd });
  };
  for (const r of records) {
    // A cache hit's tokens are the original call's: nothing was used, nothing counts toward tpm (or the budget).
    if (r.cache === "hit") continue;
    if (!r.settle || (r.tokens.input + r.tokens.output <= 0 && r.cost_usd <= 0)) continue;
    if (r.settle.key !== undefined) add("key", r.key_id, r.settle.key, r);
    if (r.settle.team !== undefined && r.team_id) add("team", r.team_id, r.settle.team, r);
  }
  await Promise.all(
    [...bySubject.values()].map(async (g) => {
      const a = await governor(env, g.subject, g.id).settle(batchId, g.items);
      if (!a.ok) throw new Error(`${g.subject} ${g.id}: ${a.message}`);
    }),
  );
}
