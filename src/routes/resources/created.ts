/**
 * What the upstream creates is tracked, or undone (docs/resources.md): once Gemini
 * has created a batch, cache, file or operation, its row in D1 is written (a few tries), or failing that the
 * resource is cancelled or deleted upstream, and the caller is told which. A create runs to its end even when the
 * client leaves mid-way: its upstream request is not cut by the client's signal, and the call is kept alive until it
 * is recorded (src/routes/resources/call.ts).
 */
import { GatewayError } from "../../gemini/errors";
import { waits } from "../../lib/sleep";
import { describeError } from "../../lib/describe-error";
import type { ResourceCall } from "./call";

/** Tries at writing a new resource's row before it is undone upstream; waits of 50 ms, then 200 ms, between them. */
export const RECORD_TRIES = 3;
const RECORD_WAIT_MS = 50;

export type CreatedKind = "batch" | "cache" | "file" | "operation";

/**
 * Writes the row of `name`, which the upstream just created, retrying a failed write; if it cannot be written,
 * undoes the resource upstream and throws the 503 that says what happened. `undone` runs either way after a failed
 * record (a batch's hold is released there).
 */
export async function keepCreated(
  call: ResourceCall,
  kind: CreatedKind,
  name: string,
  write: () => Promise<void>,
  undone?: () => void,
): Promise<void> {
  let error: unknown;
  for (let i = 0; i < RECORD_TRIES; i++) {
    if (i) await waits.sleep(RECORD_WAIT_MS * 4 ** (i - 1));
    try {
      await write();
      return;
    } catch (e) {
      error = e;
    }
  }
  console.error(`${name}: created upstream, but its row could not be written (${describeError(error)}); undoing it upstream`);
  const how = await undo(call, kind, name);
  undone?.();
  const said = how.ok
    ? `it was ${how.done}`
    : `${how.doing} it failed too (${how.why}); the gateway logged its name for the operator`;
  throw new GatewayError(503, `the ${kind} was created upstream but could not be recorded; ${said}`);
}

type Undo = { ok: true; done: string } | { ok: false; doing: string; why: string };

/** Batches: `:cancel`, then delete; caches and files: delete; operations: `:cancel` (Gemini stops a video there). */
async function undo(call: ResourceCall, kind: CreatedKind, name: string): Promise<Undo> {
  const path = `${call.version}/${name}`;
  const cancel = () => call.upstream.json(`${path}:cancel`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  const remove = () => call.upstream.json(path, { method: "DELETE" });
  const doing = kind === "batch" || kind === "operation" ? "cancelling" : "deleting";
  try {
    if (kind === "batch") {
      await cancel();
      // Deleting a batch that has only begun to cancel may be refused: cancelled, it runs no more requests.
      const deleted = await remove().then(() => true, (e) => (console.error(`${name}: cancelled, not deleted: ${describeError(e)}`), false));
      return { ok: true, done: deleted ? "cancelled and deleted" : "cancelled" };
    }
    if (kind === "operation") {
      await cancel();
      return { ok: true, done: "cancelled" };
    }
    await remove();
    return { ok: true, done: "deleted" };
  } catch (e) {
    const why = e instanceof GatewayError ? `upstream ${e.code}` : "upstream unreachable";
    console.error(`${name}: untracked upstream resource: ${doing} it failed: ${describeError(e)}`);
    return { ok: false, doing, why };
  }
}
