/** The `afterCall` hooks: each gets the finished row; one that fails is logged and stops neither the others nor the row. */
import type { CallScope } from "../pipeline/context";
import type { CallRecord } from "../usage/row";
import type { Hook } from "./hook";

/** `hooks`: a non-empty `hooksFor` list; run last first, as the answer was. */
export function afterCall(hooks: readonly Hook[], call: CallScope, row: CallRecord): void {
  for (let i = hooks.length - 1; i >= 0; i--) {
    const hook = hooks[i]!;
    if (!hook.afterCall) continue;
    const failed = (e: unknown) =>
      console.error(`hook "${hook.name}" afterCall failed: ${call.config.redact((e as Error)?.message ?? String(e))}`);
    try {
      const p = hook.afterCall(row, call);
      if (p && typeof (p as Promise<unknown>).then === "function") call.waitUntil(Promise.resolve(p).catch(failed));
    } catch (e) {
      failed(e);
    }
  }
}
