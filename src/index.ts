/**
 * The Worker entry point: the HTTP app, and the scheduled work (cron, wrangler.toml): the sweep of batches and
 * operations, the usage log's compaction, audit pruning, expiring keys and alert retries, parked trace batches.
 */
import { alertsCron } from "./alerts/cron";
import { buildApp } from "./app";
import type { Env } from "./env";
import { pruneAudit } from "./audit/trail";
import { sweepResources } from "./resources/sweep";
import { compactUsage } from "./usage/compact";
import { describeError } from "./lib/describe-error";
import { pruneBodies } from "./observe/body-store";
import { tracesCron } from "./observe/traces/outbox";

export { AdminTokens } from "./auth/admin-tokens";
export { Governor } from "./governance/governor";
export { EphemeralToken } from "./live/token-store";
export { UsageBuffer } from "./usage/buffer";

const app = buildApp();

export default {
  fetch: app.fetch,
  scheduled(controller, env, ctx) {
    ctx.waitUntil(sweepResources(env, (p) => ctx.waitUntil(p)));
    ctx.waitUntil(compactUsage(env).catch((e) => console.error(`usage compaction: ${describeError(e)}`)));
    // Audit rows past AUDIT_RETENTION_DAYS (src/audit/trail.ts).
    ctx.waitUntil(pruneAudit(env));
    // Stored call bodies past LOG_BODIES_RETENTION_DAYS, in bounded rounds (src/observe/body-store.ts).
    ctx.waitUntil(pruneBodies(env));
    // Expiring keys and alert deliveries due for a retry (src/alerts/outbox.ts).
    ctx.waitUntil(alertsCron(env, controller.scheduledTime));
    // Trace batches parked while the collector was down (src/observe/traces/outbox.ts); nothing when traces are off.
    ctx.waitUntil(tracesCron(env));
  },
} satisfies ExportedHandler<Env>;
