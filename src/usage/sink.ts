/**
 * Writes usage rows to D1. Called inside waitUntil, after the response: it never delays a byte. A failed write
 * is retried a couple of times; a row that still cannot be written goes to the UsageBuffer Durable Object, which
 * keeps it durably and writes it later. Inserts are idempotent (request_id is the key), so a replay never doubles.
 */
import type { Env } from "../env";
import { pendingRows } from "./buffer";
import { insertStatement } from "./insert";
import { describeError } from "./log";
import type { CallRecord } from "./record";

/** Waits before each retry of a failed D1 write: quick, because the buffer takes over after the last one. */
export const RETRY_DELAYS_MS = [20, 80] as const;

/** D1, retried; then the durable buffer. Rejects only when the row could be kept nowhere. */
export async function writeUsage(env: Pick<Env, "DB" | "USAGE_BUFFER">, r: CallRecord): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await insertStatement(env.DB, r).run();
      return;
    } catch (e) {
      if (i === RETRY_DELAYS_MS.length) {
        console.error(`usage row ${r.request_id} not written to D1 after ${i + 1} tries (${describeError(e)}); buffering it`);
        break;
      }
      await new Promise((ok) => setTimeout(ok, RETRY_DELAYS_MS[i]));
    }
  }
  await pendingRows(env).add([r]);
}
