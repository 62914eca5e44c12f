/**
 * Before a write that may set a budget where there was none: the Governor starts it from the spend already in the
 * usage log and the buffer's shards, so this isolate's calls must be there or settle. Its lease goes stale at once
 * (calls still in flight here then settle their rows, src/governance/gate.ts `finish`) and its rows waiting for a
 * hand-off are handed off first. Other isolates' leases learn of the budget within a lease's life (docs/governance.md).
 */
import type { Env } from "../../env";
import type { Subject } from "../../governance/governor";
import { invalidateLease } from "../../governance/lease";
import { handOffsSettled } from "../../usage/sink";

export async function beforeBudget(env: Env, subject: Subject, id: string): Promise<void> {
  invalidateLease(subject, id);
  await handOffsSettled(env);
}
